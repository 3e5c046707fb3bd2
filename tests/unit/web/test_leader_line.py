"""The host health page says which egov serve process holds the leader lease, or that none does."""

from __future__ import annotations

from controlplane.lease import Identity, release, take
from tests.unit.web.conftest import login_as


def test_the_health_page_names_the_lease_holder_and_warns_when_there_is_none(client, store, people) -> None:
    login_as(client, people["oncall-gd"])
    page = client.get("/monitoring").get_data(as_text=True)
    assert 'id="leader-lease"' in page and "No egov serve process holds" in page
    holder = Identity(host="cp-<b>1</b>", pid=4242, started="1", token="t")  # a hostile host name stays text
    take(store, holder, 15, None)
    page = client.get("/monitoring").get_data(as_text=True)
    assert "Scheduler and monitor: cp-&lt;b&gt;1&lt;/b&gt;, process 4242 (term 1)" in page
    release(store, holder)
    assert "No egov serve process holds" in client.get("/monitoring").get_data(as_text=True)
    chinese = client.get("/monitoring", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "没有 egov serve 进程持有调度器与监控的租约" in chinese

"""Host pages and their API twins show a scoped user only what their scope covers.

Three runs touch gd-edu-1 (province-gd): a national harden over every host
(no site: the whole network), an old runbook run whose parameters name a
ministry host, and a province ping. The province operator (owner of
gd-edu-1) sees the ping, and on the automation host page the national run's
outcome on gd-edu-1 alone; the ministry admin sees all three; the DR
center's operator (outsider) sees nothing of gd-edu-1.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.web.conftest import login_as, token_for

OTHER_SITES = ("mn-", "dr-", "bc-backup")  # host name prefixes of every site but province-gd's


@pytest.fixture
def runs(store: Any, lab_inventory: Any) -> dict[str, int]:
    """The three runs of the module docstring, with the national run's tally for every host."""
    from controlplane.automation.models import HostRunStats
    from controlplane.runs import create_run, finish_run

    every = [host.name for host in lab_inventory.hosts]
    with store.session() as session:
        national = create_run(session, kind="harden", target="all", actor="root@console", site=None,
                              params={"hosts": every, "limit": None})  # fmt: skip
        finish_run(session, national, "failed", summary={"totals": {"failed": 1}, "message": "mn-db-1 failed"})
        for name in every:
            session.add(HostRunStats(run_id=national.id, host=name, ok=3, failed=int(name == "mn-db-1"),
                                     outcome="failed" if name == "mn-db-1" else "ok"))  # fmt: skip
        named = {"source_host": "mn-portal-1", "target_host": "gd-edu-1"}
        old_runbook = create_run(session, kind="runbook", target="gd-edu-1", actor="root@console",
                                 params={"runbook": "restore-to-dr", "mode": "dry-run", "targets": ["gd-edu-1"],
                                         "params": named})  # fmt: skip
        finish_run(session, old_runbook, "succeeded", summary={"error": None})
        ping = create_run(session, kind="ping", target="gd-edu-1", actor="operator-gd", site="province-gd",
                          params={"host": "gd-edu-1", "simulated": True})  # fmt: skip
        finish_run(session, ping, "succeeded")
        return {"national": national.id, "runbook": old_runbook.id, "ping": ping.id}


def bearer(app: Any, person: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(app, person)}"}


def names_no_other_site(text: str) -> bool:
    return not any(prefix in text for prefix in OTHER_SITES)


def test_the_host_page_and_api_show_the_owner_only_runs_of_their_scope(client, app, people, runs) -> None:
    login_as(client, people["operator-gd"])
    page = client.get("/hosts/gd-edu-1").get_data(as_text=True)
    assert f'href="/runs/{runs["ping"]}"' in page
    assert f'href="/runs/{runs["national"]}"' not in page and f'href="/runs/{runs["runbook"]}"' not in page
    answer = client.get("/api/v1/hosts/gd-edu-1", headers=bearer(app, people["operator-gd"]))
    assert [run["id"] for run in answer.get_json()["runs"]] == [runs["ping"]]
    assert names_no_other_site(answer.get_data(as_text=True))


def test_the_ministry_admin_sees_every_run_and_the_outsider_not_the_host(client, app, people, runs) -> None:
    answer = client.get("/api/v1/hosts/gd-edu-1", headers=bearer(app, people["root"]))
    assert sorted(run["id"] for run in answer.get_json()["runs"]) == sorted(runs.values())
    assert client.get("/api/v1/hosts/gd-edu-1", headers=bearer(app, people["operator-dr"])).status_code == 403
    login_as(client, people["operator-dr"])
    assert client.get("/hosts/gd-edu-1").status_code == 403


def test_the_automation_history_shows_a_national_run_as_this_hosts_own_outcome_only(client, app, people, runs) -> None:
    answer = client.get("/api/v1/automation/hosts/gd-edu-1/history", headers=bearer(app, people["operator-gd"]))
    [item] = answer.get_json()["items"]
    assert item["id"] == runs["national"] and item["redacted"] is True
    assert (item["host_outcome"], item["ok"], item["failed"]) == ("ok", 3, 0)
    assert item["hosts"] == ["gd-edu-1"] and item["totals"] == {} and item["message"] == "" and item["status"] is None
    assert names_no_other_site(answer.get_data(as_text=True))
    login_as(client, people["operator-gd"])
    page = client.get("/automation/hosts/gd-edu-1").get_data(as_text=True)
    assert f'data-run="{runs["national"]}"' in page
    assert f'href="/automation/runs/{runs["national"]}"' not in page and names_no_other_site(page)
    assert client.get(f"/automation/runs/{runs['national']}").status_code == 403
    full = client.get("/api/v1/automation/hosts/gd-edu-1/history", headers=bearer(app, people["root"]))
    [whole] = full.get_json()["items"]
    assert whole["redacted"] is False and len(whole["hosts"]) > 1 and whole["message"] == "mn-db-1 failed"


def test_a_runbook_run_naming_another_sites_host_is_hidden_everywhere_from_the_province(
    client, app, people, runs
) -> None:
    run_id = runs["runbook"]
    headers = bearer(app, people["operator-gd"])
    assert client.get(f"/api/v1/runbooks/runs/{run_id}/journal", headers=headers).status_code == 403
    assert run_id not in [
        row["run_id"] for row in client.get("/api/v1/runbooks/history", headers=headers).json["items"]
    ]
    assert run_id not in [row["id"] for row in client.get("/api/v1/runs", headers=headers).json["items"]]
    login_as(client, people["operator-gd"])
    for path in (f"/runbooks/runs/{run_id}", f"/runbooks/runs/{run_id}/stream", f"/runs/{run_id}"):
        assert client.get(path).status_code == 403, path
    assert f'href="/runbooks/runs/{run_id}"' not in client.get("/runbooks").get_data(as_text=True)
    root = bearer(app, people["root"])
    assert client.get(f"/api/v1/runbooks/runs/{run_id}/journal", headers=root).status_code == 200

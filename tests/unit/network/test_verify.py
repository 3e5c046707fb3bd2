"""The verify: the matrix it plans from network.yml, the verdicts, the gateway evidence, and the run it leaves."""

from __future__ import annotations

import json

import pytest

from controlplane.errors import BadInputError
from controlplane.network.matrix import CONTROL_PLANE, count_paths, plan_matrix, source_hosts
from controlplane.network.verify import VerifyPlan, execute_verify, judge, run_verify
from tests.unit.network.shipped_network import lab_inventory, lab_network
from tests.unit.network.verify_fakes import FakeNetwork, shipped_ruleset_json, with_rule

GATEWAYS = ("mn-gw-1", "gd-gw-1", "hn-gw-1")


def plan(zone: str | None = None, hosts: tuple[str, ...] = ()) -> VerifyPlan:
    return VerifyPlan(lab_network(), lab_inventory(), plan_matrix(lab_network(), zone, hosts), zone, hosts)


def no_tables() -> dict[str, None]:
    return dict.fromkeys(GATEWAYS)


def path(report, source: str, address: str, port: int | None):  # type: ignore[no-untyped-def]
    return next(p for p in report.paths if (p.source, p.address, p.port) == (source, address, port))


# -- verdicts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "protocol", "observed", "verdict"),
    [
        ("deny", "tcp", "timeout", "ok"),
        ("deny", "tcp", "unreachable", "ok"),
        ("deny", "tcp", "open", "violation"),
        ("deny", "tcp", "refused", "violation"),  # a RST came back: the gateway let the SYN through
        ("allow", "tcp", "open", "ok"),
        ("allow", "tcp", "refused", "breakage"),  # the service is down
        ("allow", "tcp", "timeout", "breakage"),
        ("allow", "tcp", "error", "breakage"),
        ("deny", "icmp", "open", "violation"),
        ("deny", "icmp", "timeout", "ok"),
        ("allow", "icmp", "timeout", "breakage"),
        ("allow", "icmp", "open", "ok"),
    ],
)
def test_a_path_is_judged_by_what_came_back(expected: str, protocol: str, observed: str, verdict: str) -> None:
    assert judge(expected, protocol, observed) == verdict


# -- the matrix --------------------------------------------------------------------------------------


def test_sources_are_the_control_plane_and_the_first_host_of_every_zone_with_members() -> None:
    assert source_hosts(lab_network()) == [
        (CONTROL_PLANE, "management"), ("mn-portal-1", "dmz"), ("mn-oa-1", "internal"), ("bc-backup-1", "backup"),
        ("dr-app-1", "dr"), ("ext-probe-1", "outside"), ("gd-edu-1", "province-gd"), ("gd-school-1", "school-gd"),
        ("hn-edu-1", "province-hn"), ("hn-school-1", "school-hn"),
    ]  # fmt: skip


def test_a_school_probes_every_other_zones_hosts_on_their_flow_ports_the_sampled_ports_and_icmp() -> None:
    school = next(s for s in plan_matrix(lab_network()) if s.name == "gd-school-1")
    assert school.address == "10.198.50.51"
    assert {p.destination_zone for p in school.paths} == set(lab_network().zones) - {"school-gd", "backbone"}
    db = [(p.protocol, p.port, p.expected) for p in school.paths if p.destination == "mn-db-1"]
    sampled = [("tcp", port, "deny") for port in (22, 80, 443, 3306, 5432, 8080, 9100)]
    assert db == [*sampled, ("icmp", None, "deny")]
    allowed = sorted((p.destination, p.port, p.flow) for p in school.paths if p.expected == "allow")
    assert allowed == [
        ("bc-backup-1", 22, "backup-sftp"), ("dr-backup-1", 22, "backup-sftp"),
        ("gd-edu-1", 443, "school-gd-province"),
    ]  # fmt: skip
    assert all(p.address.startswith("10.198.") and not p.address.startswith("10.198.0.") for p in school.paths)


def test_the_control_plane_tests_only_the_management_flows_on_management_addresses() -> None:
    row = plan_matrix(lab_network())[0]
    assert row.name == CONTROL_PLANE and row.address is None
    assert {(p.protocol, p.port) for p in row.paths} == {("tcp", 22), ("icmp", None)}
    assert all(p.expected == "allow" and p.flow == "management-ssh" for p in row.paths)
    assert {p.destination for p in row.paths} == {h for z in lab_network().zones.values() for h in z.members}
    assert path_of(row, "ext-probe-1").address == "10.198.0.91"


def path_of(source, host: str):  # type: ignore[no-untyped-def]
    return next(p for p in source.paths if p.destination == host)


def test_a_zone_limits_the_matrix_to_paths_from_or_to_it() -> None:
    sources = plan_matrix(lab_network(), "school-hn")
    assert sources and count_paths(sources) < count_paths(plan_matrix(lab_network()))
    assert all("school-hn" in (p.source_zone, p.destination_zone) for s in sources for p in s.paths)


def test_an_unknown_zone_or_host_is_bad_input_naming_the_known_zones() -> None:
    with pytest.raises(BadInputError, match=r"unknown zone 'nope'.*province-gd"):
        plan_matrix(lab_network(), "nope")
    with pytest.raises(BadInputError, match="ghost-1"):
        plan_matrix(lab_network(), None, ("ghost-1",))


def test_a_host_verify_makes_the_host_a_source_and_keeps_only_its_paths() -> None:
    sources = plan_matrix(lab_network(), None, ("mn-portal-2",))
    assert "mn-portal-2" in [s.name for s in sources]
    assert all("mn-portal-2" in (p.source, p.destination) for s in sources for p in s.paths)


# -- executing it ------------------------------------------------------------------------------------


def test_a_network_exactly_as_the_flow_file_says_verifies_clean() -> None:
    fake = FakeNetwork()
    report = execute_verify(plan(), fake, local_prober=fake.local)  # type: ignore[arg-type]
    assert report.ok and report.exit_code == 0, (report.violations, report.breakages, report.findings)
    assert len(report.paths) == count_paths(plan().sources)
    assert report.gateways["mn-gw-1"]["default_deny"] and report.gateways["gd-gw-1"]["logs_drops"]
    web = path(report, "ext-probe-1", "10.198.10.11", 443)
    assert web.verdict == "ok" and web.rule == "mn-gw-1 flow:public-web +0 packets"
    assert path(report, "gd-school-1", "10.198.11.14", 5432).rule == "gd-gw-1 dropped (policy) +0 packets"


def test_a_rule_opened_by_hand_is_that_exact_violation_with_the_rule_as_evidence() -> None:
    extra = {"handle": 99, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
        {"counter": {"packets": 3, "bytes": 180}}, {"accept": None}]}  # fmt: skip
    opened = with_rule(shipped_ruleset_json("gd-gw-1"), extra)
    fake = FakeNetwork(rulesets={"gd-gw-1": opened}, open_extra={("gd-school-1", "10.198.40.41", 8080)})
    report = execute_verify(plan(), fake, local_prober=fake.local)  # type: ignore[arg-type]
    assert [p.where for p in report.violations] == ["gd-school-1 -> gd-edu-1 10.198.40.41:8080/tcp"]
    assert report.violations[0].rule == "gd-gw-1 rule 99 +0 packets (no flow comment)"
    assert report.exit_code == 1 and not report.breakages
    kinds = [(f.kind, f.where) for f in report.findings]
    assert ("unjustified-rule", "gd-gw-1") in kinds


def test_a_stopped_service_is_a_breakage_of_its_flow() -> None:
    fake = FakeNetwork(down={("10.198.10.11", 443)}, rulesets=no_tables())
    report = execute_verify(plan(), fake, local_prober=fake.local)  # type: ignore[arg-type]
    assert [(p.where, p.flow, p.observed) for p in report.breakages] == [
        ("ext-probe-1 -> mn-portal-1 10.198.10.11:443/tcp", "public-web", "refused")
    ]
    assert {f.kind for f in report.findings} == {"boundary-missing"}


def test_an_unreachable_source_leaves_its_row_untested_and_fails_the_verify() -> None:
    fake = FakeNetwork(unreachable={"hn-school-1"}, rulesets=no_tables())
    seen: list[str] = []
    report = execute_verify(plan(), fake, local_prober=fake.local, on_source=lambda d: seen.append(d.line))  # type: ignore[arg-type]
    assert not any(p.source == "hn-school-1" for p in report.paths)
    assert [(f.kind, f.where) for f in report.incomplete] == [("source-unreachable", "hn-school-1")]
    assert report.exit_code == 1 and not report.violations
    assert any(line.startswith("hn-school-1: NOT TESTED") for line in seen) and len(seen) == len(plan().sources)


def test_an_unreachable_gateway_is_a_finding_and_its_evidence_says_so() -> None:
    fake = FakeNetwork(unreachable={"hn-gw-1"}, rulesets={"mn-gw-1": None, "gd-gw-1": None})
    report = execute_verify(plan(), fake, local_prober=fake.local)  # type: ignore[arg-type]
    assert ("gateway-unreachable", "hn-gw-1") in [(f.kind, f.where) for f in report.incomplete]
    assert report.gateways["hn-gw-1"] == {"reachable": False, "table": None}
    assert "hn-gw-1 ruleset not read" in (path(report, "hn-school-1", "10.198.60.61", 443).rule or "")


def test_each_source_is_probed_in_one_round_trip_and_each_gateway_read_before_and_after() -> None:
    fake = FakeNetwork(rulesets=no_tables())
    execute_verify(plan(), fake, local_prober=fake.local)  # type: ignore[arg-type]
    probes = [name for name, argv in fake.calls if argv[:2] == ("/usr/bin/python3", "-I")]
    assert sorted(probes) == sorted(s.name for s in plan().sources if s.name != CONTROL_PLANE)
    assert fake.reads == dict.fromkeys(GATEWAYS, 2)


def test_run_verify_is_a_run_with_lines_a_stored_report_and_an_audit_record(config, store) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from controlplane.network.results import latest_report
    from controlplane.runs import read_output
    from controlplane.store.models import AuditRecord, Run

    fake = FakeNetwork(down={("10.198.10.11", 443)}, rulesets=no_tables())
    report = run_verify(config, store, actor="tester@cli", plan=plan(), pool=fake, local_prober=fake.local)  # type: ignore[arg-type]
    assert report.id and report.run_id and report.actor == "tester@cli"
    with store.session() as session:
        run = session.get(Run, report.run_id)
        assert (run.kind, run.status, run.exit_code, run.target) == ("network-verify", "failed", 1, "all")
        assert run.summary["breakages"] == 1
        text = [line.text for line in read_output(session, report.run_id)]
        assert latest_report(session).id == report.id
    assert any(line.startswith("gd-school-1: ") for line in text)
    assert any(line.startswith("BREAKAGE ext-probe-1 -> mn-portal-1 10.198.10.11:443/tcp") for line in text)
    with store.session() as session:
        records = list(session.scalars(select(AuditRecord).where(AuditRecord.action == "network.verify")))
    assert [(r.outcome, r.target, json.loads(r.details)["breakages"]) for r in records] == [
        ("failed", "all", ["ext-probe-1 -> mn-portal-1 10.198.10.11:443/tcp"])
    ]


def test_a_host_verify_is_stored_but_never_taken_for_the_latest_whole_network_verify(config, store) -> None:  # type: ignore[no-untyped-def]
    from controlplane.network.results import latest_report

    fake = FakeNetwork(rulesets=no_tables())
    whole = run_verify(config, store, actor="a", plan=plan(), pool=fake, local_prober=fake.local)  # type: ignore[arg-type]
    part = run_verify(config, store, actor="a", plan=plan(hosts=("mn-db-1",)), pool=fake, local_prober=fake.local)  # type: ignore[arg-type]
    assert part.zone == "host:mn-db-1"
    with store.session() as session:
        assert latest_report(session).id == whole.id
        assert latest_report(session, whole_network=False).id == part.id


def test_a_probe_the_source_could_not_send_is_a_breakage_that_says_why() -> None:
    from controlplane.network.probe import Observation

    fake = FakeNetwork(rulesets=no_tables())

    def no_icmp(checks):  # type: ignore[no-untyped-def]
        return [Observation("error", 0, "no-icmp") if c.protocol == "icmp" else fake.observe(CONTROL_PLANE, c)
                for c in checks]  # fmt: skip

    report = execute_verify(plan(), fake, local_prober=no_icmp)  # type: ignore[arg-type]
    broken = {(p.source, p.protocol, p.rule) for p in report.breakages}
    assert broken == {(CONTROL_PLANE, "icmp", "probe error: no-icmp")}


def test_a_host_verify_of_a_gateway_is_bad_input_rather_than_an_empty_matrix() -> None:
    with pytest.raises(BadInputError, match="no path of the flow file starts or ends at gd-gw-1"):
        plan_matrix(lab_network(), None, ("gd-gw-1",))


def test_while_a_host_is_isolated_its_paths_are_expected_closed_but_the_control_planes_ssh() -> None:
    from controlplane.network.matrix import isolate

    planned = plan_matrix(lab_network(), None, ("gd-school-1",))
    isolated = isolate(planned, ["gd-school-1"])
    before = {(s.name, p.destination, p.protocol, p.port): p.expected for s in planned for p in s.paths}
    after = {(s.name, p.destination, p.protocol, p.port): p for s in isolated for p in s.paths}
    assert before.keys() == after.keys() and "allow" in set(before.values())
    still_allowed = sorted(key for key, path in after.items() if path.expected == "allow")
    assert still_allowed == [(CONTROL_PLANE, "gd-school-1", "tcp", 22)]
    assert after[(CONTROL_PLANE, "gd-school-1", "tcp", 22)].flow == "management-ssh"
    assert all(path.flow is None for key, path in after.items() if key not in still_allowed)
    assert isolate(planned, []) is planned

"""The roles the network touches, rendered as ansible would: gateways forward, hosts let flows in, drift shows."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.compliance.checks import CheckContext, check_nft_policy
from controlplane.network.playbook_vars import playbook_variables
from controlplane.network.rules import render_gateway_ruleset
from tests.unit.network.role_render import ROLES, render, render_template, role_variables, task
from tests.unit.network.shipped_network import ROOT, lab_network

NFT = shutil.which("nft") or "/usr/sbin/nft"


def network_vars() -> dict[str, Any]:
    return playbook_variables(lab_network())


def nft_check(path: Path) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0 or not Path(NFT).exists():
        pytest.skip("nft -c needs root and nftables")
    return subprocess.run([NFT, "-c", "-f", str(path)], capture_output=True, text=True, check=False)


def firewall_file(host: str, host_role: str, extra: dict[str, Any]) -> str:
    variables = role_variables("harden_firewall", host, host_role, extra)
    variables["harden_firewall_rules"] = render_template("harden_firewall", "rules.nft.j2", variables)
    return render_template("harden_firewall", "nftables.conf.j2", variables)


# --- harden_firewall ---------------------------------------------------


def test_a_gateway_forwards_and_includes_its_boundary_which_drops(tmp_path: Path) -> None:
    (tmp_path / "egov-boundary.nft").write_text(render_gateway_ruleset(lab_network(), "mn-gw-1"))
    extra = {**network_vars(), "harden_firewall_boundary_glob": str(tmp_path / "egov-*.nft")}
    text = firewall_file("mn-gw-1", "gateway", extra)
    assert "hook forward priority filter; policy accept;" in text
    assert f'include "{tmp_path}/egov-*.nft"' in text
    (tmp_path / "nftables.conf").write_text(text)
    result = nft_check(tmp_path / "nftables.conf")
    assert result.returncode == 0, result.stderr


def test_every_other_host_still_drops_forwarded_traffic_and_includes_nothing(tmp_path: Path) -> None:
    text = firewall_file("mn-db-1", "database", network_vars())
    assert "hook forward priority filter; policy drop;" in text
    assert "include" not in text
    (tmp_path / "nftables.conf").write_text(text)
    assert nft_check(tmp_path / "nftables.conf").returncode == 0


def test_a_backup_host_lets_in_the_sftp_flow_from_every_zone_but_outside(tmp_path: Path) -> None:
    text = firewall_file("bc-backup-1", "backup", network_vars())
    (line,) = [line.strip() for line in text.splitlines() if "flow:backup-sftp" in line]
    assert line == (
        "ip saddr { 10.198.10.0/24, 10.198.11.0/24, 10.198.20.0/24, 10.198.30.0/24, 10.198.40.0/24, "
        '10.198.50.0/24, 10.198.60.0/24, 10.198.70.0/24 } tcp dport { 22 } accept comment "flow:backup-sftp"'
    )
    (tmp_path / "nftables.conf").write_text(text)
    assert nft_check(tmp_path / "nftables.conf").returncode == 0


def test_without_the_flow_file_the_host_firewall_is_as_before() -> None:
    text = firewall_file("bc-backup-1", "backup", {})
    assert "flow:" not in text and "policy drop;" in text.split("chain forward")[1]


def test_gateways_and_probes_have_no_service_ports() -> None:
    defaults = yaml.safe_load((ROLES / "harden_firewall" / "defaults" / "main.yml").read_text())
    assert defaults["harden_firewall_role_ports"]["gateway"] == []
    assert defaults["harden_firewall_role_ports"]["probe"] == []


def test_one_drop_policy_is_enough_on_a_gateway_and_two_elsewhere() -> None:
    expression = task("harden_firewall", "nftables: does the live table match")["ansible.builtin.set_fact"][
        "harden_firewall_reload"
    ]
    rules = "    chain input {\n    }\n"
    digest = hashlib.sha1(rules.encode()).hexdigest()  # noqa: S324 - the role's own marker, not security
    live = f'table inet egov_filter {{\n\tcomment "egov {digest}"\n\t\tpolicy drop;\n\t\tpolicy accept;\n}}'
    facts = {"harden_firewall_config": {"changed": False}, "harden_firewall_live": {"rc": 0, "stdout": live}}
    for host_role, reload in (("gateway", False), ("database", True)):
        variables = role_variables("harden_firewall", "h", host_role, {**facts, "harden_firewall_rules": rules})
        assert render(expression, variables) is reload


# --- harden_kernel -----------------------------------------------------


@pytest.mark.parametrize(("host_role", "forwarding"), [("gateway", "1"), ("portal", "0")])
def test_only_a_gateway_keeps_ipv4_forwarding(host_role: str, forwarding: str) -> None:
    variables = role_variables("harden_kernel", "h", host_role, {})
    text = render_template("harden_kernel", "sysctl.conf.j2", variables)
    assert f"net.ipv4.ip_forward = {forwarding}\n" in text
    assert "net.ipv6.conf.all.forwarding = 0\n" in text


# --- database ----------------------------------------------------------


def database(extra: dict[str, Any]) -> tuple[str, str]:
    variables = role_variables("database", "mn-db-1", "database", {"ansible_host": "10.198.0.14", **extra})
    hba = render(task("database", "Client authentication")["ansible.builtin.copy"]["content"], variables)
    argv = task("database", "PostgreSQL running")["vars"]["egov_service_argv"]
    (listen,) = [render(word, variables) for word in argv if "listen_addresses" in word]
    return str(hba), str(listen)


def test_the_database_listens_on_its_zone_address_for_the_portals_only() -> None:
    hba, listen = database(network_vars())
    assert listen == "listen_addresses=127.0.0.1,10.198.0.14,10.198.11.14"
    assert [line.split() for line in hba.splitlines() if line.startswith("host")] == [
        ["host", "all", "all", "10.198.0.0/24", "scram-sha-256"],
        ["host", "all", "all", "10.198.10.11/32", "scram-sha-256"],
        ["host", "all", "all", "10.198.10.12/32", "scram-sha-256"],
    ]


def test_without_the_flow_file_the_database_is_as_before() -> None:
    hba, listen = database({})
    assert listen == "listen_addresses=127.0.0.1,10.198.0.14"
    assert [line.split()[3] for line in hba.splitlines() if line.startswith("host")] == ["10.198.0.0/24"]


# --- network_gateway ---------------------------------------------------


def gateway_reload(live: str, loaded: str, changed: bool = False) -> bool:
    expression = task("network_gateway", "network: does the live table match")["ansible.builtin.set_fact"][
        "network_gateway_reload"
    ]
    facts = {
        **network_vars(),
        "network_gateway_config": {"changed": changed},
        "network_gateway_live": {"rc": 0 if live else 1, "stdout": live},
        "network_gateway_loaded": {"content": base64.b64encode(loaded.encode()).decode()},
    }
    result = render(expression, role_variables("network_gateway", "gd-gw-1", "gateway", facts))
    assert isinstance(result, bool)
    return result


def listed(ruleset: str, packets: int = 0) -> str:
    """A stand-in for `nft list table`: the table as loaded, with counters."""
    body = ruleset[ruleset.index("table inet egov_boundary {\n") :]
    return body.replace(" counter ", f" counter packets {packets} bytes {packets * 60} ")


def normalised_hash(listing: str) -> str:
    return hashlib.sha256(re.sub(r"counter packets [0-9]+ bytes [0-9]+", "counter", listing).encode()).hexdigest()


def test_the_boundary_is_not_reloaded_when_only_counters_moved() -> None:
    ruleset = render_gateway_ruleset(lab_network(), "gd-gw-1")
    assert gateway_reload(listed(ruleset, packets=9), normalised_hash(listed(ruleset))) is False


def test_a_rule_added_by_hand_is_drift() -> None:
    ruleset = render_gateway_ruleset(lab_network(), "gd-gw-1")
    loaded = normalised_hash(listed(ruleset))
    drop = "        counter packets 0 bytes 0 log prefix"
    opened = listed(ruleset).replace(drop, f"        tcp dport 3306 counter packets 0 bytes 0 accept\n{drop}")
    assert opened != listed(ruleset)
    assert gateway_reload(opened, loaded) is True


def test_a_missing_table_or_another_digest_or_a_new_file_is_drift() -> None:
    ruleset = render_gateway_ruleset(lab_network(), "gd-gw-1")
    loaded = normalised_hash(listed(ruleset))
    assert gateway_reload("", loaded) is True
    assert gateway_reload(listed(ruleset).replace("egov-boundary ", "egov-boundary 0"), loaded) is True
    assert gateway_reload(listed(ruleset), loaded, changed=True) is True


def test_the_playbooks_pass_ansibles_syntax_check() -> None:
    env = {**os.environ, "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"}
    binary = Path(sys.executable).parent / "ansible-playbook"
    for playbook in ("network.yml", "provision.yml"):
        result = subprocess.run(
            [str(binary), "--syntax-check", "-i", str(ROOT / "inventory" / "lab.yml"), playbook],
            cwd=ROOT / "playbooks",
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        assert result.returncode == 0, result.stderr
    assert "import_playbook: network.yml" in (ROOT / "playbooks" / "provision.yml").read_text()


# --- compliance: firewall.forward-policy-drop on a gateway -------------


def live_ruleset(tmp_path: Path, files: list[Path]) -> dict[str, Any]:
    """Load files into a throw-away network namespace and return `nft -j list ruleset` from there."""
    if os.geteuid() != 0 or not Path(NFT).exists() or not shutil.which("unshare"):
        pytest.skip("needs root, nftables and unshare")
    loads = " && ".join(f"{NFT} -f {path}" for path in files)
    script = f"{loads} && {NFT} -j list ruleset" if files else f"{NFT} -j list ruleset"
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def forward_policy_drop(ruleset: dict[str, Any]) -> str:
    context = CheckContext(evidence={"nft": {"ok": True, "ruleset": ruleset}}, roles=("gateway",))
    return check_nft_policy({"type": "nft_policy", "hook": "forward", "policy": "drop"}, context).status


def test_a_hardened_gateway_passes_forward_policy_drop_only_with_its_boundary_loaded(tmp_path: Path) -> None:
    (tmp_path / "egov-boundary.nft").write_text(render_gateway_ruleset(lab_network(), "gd-gw-1"))
    extra = {**network_vars(), "harden_firewall_boundary_glob": str(tmp_path / "egov-*.nft")}
    (tmp_path / "nftables.conf").write_text(firewall_file("gd-gw-1", "gateway", extra))
    assert forward_policy_drop(live_ruleset(tmp_path, [tmp_path / "nftables.conf"])) == "pass"
    (tmp_path / "egov-boundary.nft").unlink()
    assert forward_policy_drop(live_ruleset(tmp_path, [tmp_path / "nftables.conf"])) == "fail"


# --- network.yml for real, in a throw-away network namespace ------------

NAMESPACE_SCRIPT = """\
set -e
ip link set lo up
for leg in "eth1 10.198.1.2" "eth2 10.198.40.1" "eth3 10.198.50.1"; do
    set -- $leg
    ip link add "$1" type veth peer name "p$1"; ip link set "p$1" up; ip link set "$1" up; ip addr add "$2/24" dev "$1"
done
cd {playbooks}
{playbook} -i {inventory} network.yml -e @{variables} > {folder}/first.log
nft insert rule inet egov_boundary forward tcp dport 3306 accept
{playbook} -i {inventory} network.yml -e @{variables} --check > {folder}/check.log
ip -4 route show > {folder}/routes.txt
sysctl -n net.ipv4.ip_forward > {folder}/forward.txt
"""


@pytest.mark.root
def test_the_network_playbook_routes_and_loads_a_gateway_then_sees_a_hand_made_rule(tmp_path: Path) -> None:
    # Runs ansible-playbook on this machine (connection local) inside `unshare -n`: routes, forwarding and
    # nftables change only in that namespace, and the boundary file goes to tmp_path, never to /etc.
    if os.geteuid() != 0 or not Path(NFT).exists() or not shutil.which("unshare"):
        pytest.skip("needs root, nftables and unshare")
    variables = {**network_vars(), "network_gateway_file": str(tmp_path / "nftables.d" / "egov-boundary.nft")}
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    (tmp_path / "inventory.yml").write_text(
        "all:\n  hosts:\n    gd-gw-1: {ansible_connection: local, ansible_python_interpreter: "
        f"{sys.executable}, role: gateway}}\n"
    )
    script = NAMESPACE_SCRIPT.format(
        playbooks=ROOT / "playbooks",
        playbook=Path(sys.executable).parent / "ansible-playbook",
        inventory=tmp_path / "inventory.yml",
        variables=tmp_path / "vars.json",
        folder=tmp_path,
    )
    env = {**os.environ, "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_NOCOLOR": "1"}
    done = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True, text=True, env=env, timeout=300)
    first_log = tmp_path / "first.log"
    assert done.returncode == 0, done.stderr + (first_log.read_text() if first_log.exists() else "")
    assert "failed=0" in (tmp_path / "first.log").read_text()
    assert (tmp_path / "nftables.d" / "egov-boundary.nft").read_text() == variables["egov_network_rulesets"]["gd-gw-1"]
    routes = (tmp_path / "routes.txt").read_text()
    assert "10.198.10.0/24 via 10.198.1.1 dev eth1" in routes and "10.198.70.0/24 via 10.198.1.3 dev eth1" in routes
    assert (tmp_path / "forward.txt").read_text().strip() == "1"
    check = (tmp_path / "check.log").read_text()
    assert "the live boundary table differs" in check and "changed=1" in check

"""Harden's sshd keeps the break-glass path: the management key opens root beside people's certificates.

People log in with short-lived certificates (TrustedUserCAKeys and
AuthorizedPrincipalsFile, in the drop-in certify writes); the control plane's
own key in root's ``authorized_keys`` must keep working when the CA, the
console or a TOTP device is unavailable. The rendered sshd_config is read
back by the real ``sshd -T`` with that drop-in, so what is checked is what
sshd would do, not what the template's text says.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

from tests.conftest import REPO

ROLE = REPO / "playbooks" / "roles" / "harden_ssh"
DROP_IN = "TrustedUserCAKeys /etc/ssh/egov_user_ca.pub\nAuthorizedPrincipalsFile /etc/ssh/egov_principals/%u\n"


def rendered(tmp_path: Path) -> Path:
    """harden_ssh's sshd_config with its defaults, its drop-ins read from a folder of ours."""
    variables = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    host_key = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    variables.update(harden_ssh_listen=["127.0.0.1"], harden_ssh_host_keys=[str(host_key)], harden_ssh_port=22)
    template = jinja2.Environment(autoescape=False, keep_trailing_newline=True).from_string(  # noqa: S701 - sshd text
        (ROLE / "templates" / "sshd_config.j2").read_text()
    )
    drop_ins = tmp_path / "sshd_config.d"
    drop_ins.mkdir()
    (drop_ins / "20-egov-ca.conf").write_text(DROP_IN)
    text = template.render(**variables).replace("/etc/ssh/sshd_config.d/", f"{drop_ins}/")
    path = tmp_path / "sshd_config"
    path.write_text(text)
    return path


def test_the_template_keeps_root_authorized_keys_and_leaves_the_ca_keywords_to_the_drop_in(tmp_path: Path) -> None:
    text = rendered(tmp_path).read_text()
    assert "AuthorizedKeysFile .ssh/authorized_keys" in text
    for keyword in ("TrustedUserCAKeys", "AuthorizedPrincipalsFile", "AuthorizedKeysCommand", "RevokedKeys"):
        assert keyword not in text  # first value wins in sshd: one here would shadow the drop-in's
    assert text.rstrip().splitlines()[-1].startswith("Include ")


@pytest.mark.skipif(shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists(), reason="no sshd")
def test_sshd_reads_the_key_and_the_certificate_paths_for_root(tmp_path: Path) -> None:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    config = rendered(tmp_path)
    result = subprocess.run(
        [sshd, "-T", "-f", str(config), "-C", "user=root,host=laptop,addr=10.198.0.1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0 and "privilege separation" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr
    effective: dict[str, str] = {}
    for line in result.stdout.splitlines():
        keyword, _, value = line.partition(" ")
        effective[keyword] = f"{effective[keyword]} {value}" if keyword in effective else value  # allowgroups: 1/line
    assert effective["authorizedkeysfile"] == ".ssh/authorized_keys"
    assert effective["trustedusercakeys"] == "/etc/ssh/egov_user_ca.pub"
    assert effective["authorizedprincipalsfile"] == "/etc/ssh/egov_principals/%u"
    assert effective["pubkeyauthentication"] == "yes"
    assert effective["permitrootlogin"] in ("without-password", "prohibit-password")
    assert effective["passwordauthentication"] == "no"
    assert "root" in effective["allowgroups"].split()

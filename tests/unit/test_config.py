"""egov.yml: found, validated with every problem at once, exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.config import load_config, parse_config
from controlplane.config_schema import SCHEMA, sample_yaml
from controlplane.errors import ConfigError
from controlplane.yamlfile import schema_problems


def test_an_empty_file_gives_the_documented_defaults(tmp_path: Path) -> None:
    (tmp_path / "egov.yml").write_text("", encoding="utf-8")
    config = load_config(tmp_path / "egov.yml")
    assert config.listen_host == "127.0.0.1"
    assert config.listen_port == 8080
    assert config.state_dir == tmp_path / "var"
    assert config.database_url == f"sqlite:///{tmp_path}/var/egov.db"
    assert config.inventory == tmp_path / "inventory" / "lab.yml"


def test_every_problem_is_reported_at_once_with_its_key_path(tmp_path: Path) -> None:
    data = {
        "bogus": 1,
        "listen": {"port": "eighty", "tls_cert": "cert.pem"},
        "receivers": [
            {"name": "a;b", "type": "sms", "token": "plaintext"},
            {"name": "x", "type": "webhook"},
            {"name": "x", "type": "webhook", "url": "http://127.0.0.1:1/"},
        ],
        "state": {"dir": "a\nb"},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, tmp_path / "egov.yml")
    paths = {path for path, _message in caught.value.problems}
    assert {"", "listen.port", "receivers[0].name", "receivers[0].token", "receivers[0].type", "state.dir"} <= paths
    assert "receivers[1]" in paths  # webhook without url
    assert "receivers[2].name" in paths  # duplicate name
    assert "listen" in paths  # tls_cert without tls_key
    assert caught.value.exit_code == 2
    assert str(tmp_path / "egov.yml") in caught.value.message


def test_a_secret_value_written_in_place_of_a_reference_is_refused(tmp_path: Path) -> None:
    data = {"receivers": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:1/", "token": "hunter2"}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, tmp_path / "egov.yml")
    assert caught.value.problems[0][0] == "receivers[0].token"


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "egov.yml"
    path.write_text("listen:\n  host: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "line" in caught.value.problems[0][0]


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="egov init"):
        load_config(tmp_path / "egov.yml")


def test_the_generated_sample_is_itself_a_valid_configuration(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(sample_yaml())
    assert schema_problems(data, SCHEMA) == []


def test_every_schema_key_is_documented() -> None:
    def walk(schema: dict, path: str) -> list[str]:
        missing = []
        for key, sub in schema.get("properties", {}).items():
            if "description" not in sub:
                missing.append(f"{path}{key}")
            missing += walk(sub, f"{path}{key}.")
        return missing

    assert walk(SCHEMA, "") == []


def test_the_cli_exits_2_on_a_bad_config_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "egov.yml"
    path.write_text("listen: {port: 0}\nstate: {dir: var}\nnope: true\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "controlplane", "--config", str(path), "init"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "listen.port" in result.stderr and "nope" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists()


def test_a_trailing_newline_cannot_slip_past_a_pattern(tmp_path: Path) -> None:
    data = {"receivers": [{"name": "oncall\n", "type": "webhook", "url": "http://127.0.0.1:1/"}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, tmp_path / "egov.yml")
    assert caught.value.problems[0][0] == "receivers[0].name"


def test_the_pki_lifetimes_are_durations_like_4w_8h_90d_2m(tmp_path: Path) -> None:
    import datetime as dt

    defaults = parse_config({}, tmp_path / "egov.yml").pki
    assert (defaults.host_validity, defaults.user_validity, defaults.tls_validity) == (
        dt.timedelta(weeks=4),
        dt.timedelta(hours=8),
        dt.timedelta(days=90),
    )
    assert defaults.renew_at == pytest.approx(2 / 3, abs=0.001)
    short = parse_config({"pki": {"host_validity": "2m", "renew_at": 0.5}}, tmp_path / "egov.yml").pki
    assert short.host_validity == dt.timedelta(minutes=2) and short.renew_at == 0.5
    with pytest.raises(ConfigError) as raised:
        parse_config({"pki": {"host_validity": "4 weeks", "renew_at": 1.5, "crl": True}}, tmp_path / "egov.yml")
    assert {path for path, _message in raised.value.problems} >= {"pki.host_validity", "pki.renew_at"}

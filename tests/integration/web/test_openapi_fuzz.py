"""OpenAPI fuzz: schemathesis generates requests from the served `/api/v1/openapi.json`.

The document is loaded from the console's own WSGI app (the same document
`egov serve` serves), then every operation is called with generated valid
and invalid data, as an admin (TOTP enrolled through the API itself, so the
token has full rights), as a province-scoped operator and as an auditor.
Every response must be a non-5xx that the document describes: a declared
status code, a declared content type and a body matching its schema.

Bounded on purpose: a fixed number of examples per operation and a fixed
seed (``derandomize``), so the file runs in well under two minutes on a
two-core machine and fails the same way every time. Nothing leaves the
process: requests go straight into the WSGI app.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.experimental import OPEN_API_3_1
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import REPO, write_config

# The document is OpenAPI 3.1: schemathesis 3.x validates responses against it only with this on.
OPEN_API_3_1.enable()

PASSWORD = "fuzzing password 1"
# Examples per operation and role; EGOV_FUZZ_EXAMPLES=200 makes a deeper (slower) run by hand.
EXAMPLES = int(os.environ.get("EGOV_FUZZ_EXAMPLES", "20"))
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)
# Operations that would end the fuzzing user's own access half way (revoking the
# token in use, changing the password under it): fuzzed as a throwaway user.
SELF_DESTRUCTIVE = ("/api/v1/tokens/{token_id}", "/api/v1/me/password")


@dataclass
class FuzzSite:
    """The app under test and a bearer token per fuzzing role."""

    app: Any
    tokens: dict[str, str]


def _enrol_totp(client: Any, token: str) -> None:
    """Enrol TOTP for the token's user through the API (an admin token is only full afterwards)."""
    headers = {"Authorization": f"Bearer {token}"}
    started = client.post("/api/v1/me/totp", headers=headers)
    assert started.status_code == 200, started.get_data(as_text=True)
    code = pyotp.TOTP(started.get_json()["secret"]).at(time.time())
    confirmed = client.post("/api/v1/me/totp/confirm", headers=headers, json={"code": code})
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)


@pytest.fixture(scope="module")
def fuzz_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzSite]:
    """A fresh site (store, vault, lab inventory), the console app on it, and users with tokens."""
    from controlplane import users
    from controlplane.config import load_config
    from controlplane.inventory import load_inventory
    from controlplane.store import open_store
    from controlplane.vault import create_key_file
    from controlplane.web import create_app, shutdown

    folder = tmp_path_factory.mktemp("fuzz-site")
    config = load_config(write_config(folder))
    create_key_file(config.key_file)
    store = open_store(config)
    app = create_app(
        config,
        {
            "EGOV_STORE": store,
            "EGOV_INVENTORY": load_inventory(REPO / "inventory" / "lab.yml"),
            "EGOV_RUN_INTERVAL": 0.01,
        },
    )
    people = {
        "admin": ("fuzz-admin", "admin", []),
        "operator": ("fuzz-ops", "operator", ["province-gd"]),
        "auditor": ("fuzz-audit", "auditor", []),
        "throwaway": ("fuzz-temp", "operator", ["province-gd"]),
    }
    tokens: dict[str, str] = {}
    with store.session() as session:
        for key, (name, role, sites) in people.items():
            user = users.create_user(session, name=name, role=role, password=PASSWORD, sites=sites)
            tokens[key] = users.create_token(session, user, "fuzz")[1]
    _enrol_totp(app.test_client(), tokens["admin"])
    # Something to find: a finished run in scope of every fuzzing user.
    client = app.test_client()
    made = client.post(
        "/api/v1/runs",
        headers={"Authorization": f"Bearer {tokens['operator']}"},
        json={"kind": "ping", "host": "gd-edu-1"},
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    try:
        yield FuzzSite(app, tokens)
    finally:
        shutdown(app)
        store.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_site: FuzzSite) -> Any:
    """The OpenAPI document as the app serves it, loaded by schemathesis."""
    return schemathesis.from_wsgi("/api/v1/openapi.json", fuzz_site.app)


schema = schemathesis.from_pytest_fixture("api_schema", data_generation_methods=schemathesis.DataGenerationMethod.all())

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("EGOV_FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _call(case: Any, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


@schema.exclude(path=list(SELF_DESTRUCTIVE)).parametrize()
@FUZZ_SETTINGS
def test_every_api_call_as_an_admin_answers_as_documented_and_never_with_a_server_error(
    case: Any, fuzz_site: FuzzSite
) -> None:
    _call(case, fuzz_site.tokens["admin"])


@schema.exclude(path=list(SELF_DESTRUCTIVE)).parametrize()
@FUZZ_SETTINGS
def test_every_api_call_as_a_province_operator_answers_as_documented_and_never_with_a_server_error(
    case: Any, fuzz_site: FuzzSite
) -> None:
    _call(case, fuzz_site.tokens["operator"])


@schema.exclude(path=list(SELF_DESTRUCTIVE)).parametrize()
@FUZZ_SETTINGS
def test_every_api_call_as_an_auditor_answers_as_documented_and_never_with_a_server_error(
    case: Any, fuzz_site: FuzzSite
) -> None:
    _call(case, fuzz_site.tokens["auditor"])


@schema.include(path=list(SELF_DESTRUCTIVE)).parametrize()
@FUZZ_SETTINGS
def test_calls_that_revoke_the_callers_own_access_answer_as_documented(case: Any, fuzz_site: FuzzSite) -> None:
    _call(case, fuzz_site.tokens["throwaway"])


def test_the_served_document_is_the_one_schemathesis_fuzzed(fuzz_site: FuzzSite) -> None:
    served = fuzz_site.app.test_client().get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.mimetype == "application/json"
    assert served.get_json()["openapi"].startswith("3.")
    assert len(served.get_json()["paths"]) >= 15

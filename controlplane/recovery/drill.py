"""The pieces of the ``recover-controlplane`` runbook's drill (runbooks/recover-controlplane.py).

A drill proves the whole path with nothing from the control-plane machine
but what a kit holds: a throw-away **drill kit** (same contents as a real
one; its own SSH key, authorised on the centers for the drill only; its
shares kept in the run's memory, never written) is made, copied to the DR
host, and ``egov recover --drill`` runs there with two of its shares. The
restored copy (passive whatever the lease says) is checked from outside:
a console login as a throw-away user, ``egov audit verify`` there, and its
``egov backup list`` showing the same snapshots as the original's. The
rollbacks stop the copy, remove its folder and revoke the drill key.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets as random
import urllib.parse
from typing import TYPE_CHECKING, Any

from controlplane.errors import EgovError

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

CUSTODIANS = ["drill-custodian-1", "drill-custodian-2", "drill-custodian-3"]


def make_drill_kit(config: Config, store: Store) -> dict[str, Any]:
    """A drill kit in memory: its text, two of its three shares, its key's tag (for the revocation)."""
    from controlplane.backup.context import open_context
    from controlplane.vault import open_vault

    from . import center_keys, make

    ctx = open_context(config, store, open_vault(config, store), actor="runbook", trigger="runbook")
    try:
        made = make.build(ctx, CUSTODIANS, 2, drill=True)
    finally:
        ctx.close()
    return {"kit_id": made.header.kit_id, "text": made.text, "tag": center_keys.DRILL_TAG + made.header.kit_id,
            "shares": [made.shares[0].text(), made.shares[2].text()]}  # fmt: skip


def revoke_drill_kit(config: Config, store: Store, tag: str) -> dict[str, Any]:
    """Remove the drill kit's key from every center."""
    from controlplane.backup.context import open_context
    from controlplane.vault import open_vault

    from . import center_keys

    ctx = open_context(config, store, open_vault(config, store), actor="runbook", trigger="runbook")
    try:
        return center_keys.update(ctx, add=[], remove_prefix=tag)
    finally:
        ctx.close()


def console_connection(url: str, ca_pem: str | None, timeout: float) -> http.client.HTTPConnection:
    """A connection to a console at ``url`` (``http://`` or ``https://`` host:port).

    Over HTTPS the certificate must verify against ``ca_pem`` (the restored
    copy's CA, which is the lost control plane's own) or, without it, the
    system's roots. Raises EgovError for a URL that is neither.
    """
    import ssl

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
        raise EgovError(f"not a console address: {url!r}")
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)


def console_login(url: str, name: str, password: str, *, ca_pem: str | None = None, timeout: float = 10.0) -> str:
    """Log in to the console at ``url`` with a password as a browser would; return the page shown after.

    ``ca_pem``: the CA to verify an HTTPS console against. Raises EgovError.
    """

    def request(method: str, path: str, body: str | None = None, cookie: str = "") -> tuple[int, dict[str, str], str]:
        connection = console_connection(url, ca_pem, timeout)
        headers = {"Cookie": cookie} if cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read(1 << 20).decode()
        except OSError as error:
            raise EgovError(f"{method} {url}{path} failed: {error}") from None
        finally:
            connection.close()

    status, headers, page = request("GET", "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    cookie = headers.get("set-cookie", "").split(";")[0]
    if status != 200 or token is None or not cookie:
        raise EgovError(f"the restored console's login page answered {status} without a form")
    form = urllib.parse.urlencode({"csrf_token": token.group(1), "name": name, "password": password})
    status, headers, _page = request("POST", "/login", form, cookie)
    cookie = headers.get("set-cookie", cookie).split(";")[0]
    if status != 302:
        raise EgovError(f"logging in to the restored console as {name} answered {status}, not a redirect")
    status, _headers, page = request("GET", "/", cookie=cookie)
    if status != 200 or name not in page:
        raise EgovError(f"after logging in, the restored console's overview answered {status} without {name}")
    return page


def drill_password() -> str:
    """A throw-away password for the drill's console user (never shown, the copy is torn down)."""
    return random.token_urlsafe(18)


def same_snapshots(original: list[dict[str, Any]], restored: list[dict[str, Any]], snapshot_time: str) -> list[str]:
    """Rows whose last snapshot differs though the original made no backup after the restored snapshot."""
    theirs = {(row["dataset"], row["host"]): row for row in restored}
    differ = []
    for row in original:
        other = theirs.get((row["dataset"], row["host"]))
        if other is None:
            differ.append(f"{row['dataset']}@{row['host']} is missing from the restored list")
            continue
        if other.get("last_snapshot_id") != row.get("last_snapshot_id"):
            newer = (row.get("last_success") or "") > snapshot_time
            if not newer:
                ours, original_id = other.get("last_snapshot_id"), row.get("last_snapshot_id")
                differ.append(f"{row['dataset']}@{row['host']}: {ours} != {original_id}")
    return differ


def parse_outcome(stdout: str) -> dict[str, Any]:
    """The JSON outcome ``egov recover --json`` printed. Raises EgovError when there is none."""
    start = stdout.find("{")
    try:
        return dict(json.loads(stdout[start:]))
    except ValueError:
        raise EgovError("egov recover printed no outcome") from None

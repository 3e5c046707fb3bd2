"""The kit's SSH key on the backup centers: authorised on the control plane's own SFTP account only.

A kit carries a key of its own (never the control-plane machine's backup
key, which burns with the site). It is authorised in the key file of the
control plane's chrooted account (``backup-controlplane``, made by ``egov
backup setup``), with ``restrict``, so it reaches nothing but the control
plane's own folder on the center: its repositories and the audit anchor log.
Each line ends with a comment naming its kit (``egov-recovery-kit-<ID>``, or
``egov-recovery-drill-<RUN>`` for a drill's throw-away kit); a new kit
replaces the previous kit's line, so only the newest kit opens the center.

:data:`PROGRAM` runs on the center (standard-library Python, sent as
``python3 - SPEC_JSON`` over the control plane's management SSH like
:mod:`controlplane.backup.center_setup`); sshd reads the key file at each
login, so nothing is reloaded.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from controlplane.errors import EgovError

if TYPE_CHECKING:
    from controlplane.backup.context import BackupContext

KIT_TAG = "egov-recovery-kit-"
DRILL_TAG = "egov-recovery-drill-"
_PUBLIC = re.compile(r"^ssh-ed25519 [A-Za-z0-9+/=]+ egov-recovery-(kit|drill)-[A-Za-z0-9]{1,16}$")

# python3 - SPEC_JSON: {"user", "add": [line...], "remove_prefix": "egov-recovery-kit-" | exact comment}
PROGRAM = r"""
import json, os, re, sys
spec = json.loads(sys.argv[1])
user = spec["user"]
if not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", user):
    print(json.dumps({"error": "bad account name"})); sys.exit(1)
path = os.path.join("/etc/ssh/egov-backup-keys", user)
if not os.path.exists(path):
    print(json.dumps({"error": "no key file for " + user + ": run `egov backup setup` first"})); sys.exit(1)
with open(path, encoding="ascii") as handle:
    lines = [line.rstrip("\n") for line in handle if line.strip()]
remove = spec.get("remove_prefix") or "\0"
kept = [line for line in lines if not line.split()[-1].startswith(remove)]
added = ["restrict " + line for line in spec.get("add", []) if "restrict " + line not in kept]
with open(path + ".tmp", "w", encoding="ascii") as handle:
    handle.write("\n".join(kept + added) + "\n")
os.chmod(path + ".tmp", 0o644)
os.replace(path + ".tmp", path)
print(json.dumps({"removed": len(lines) - len(kept), "added": len(added)}))
"""


def check_public_line(line: str) -> str:
    """Refuse anything but one of our own ed25519 kit keys (the center program trusts its input)."""
    if not _PUBLIC.match(line):
        raise EgovError("internal error: not a kit public key line")
    return line


def update(ctx: BackupContext, *, add: list[str], remove_prefix: str) -> dict[str, Any]:
    """Authorise ``add`` and remove lines tagged ``remove_prefix*`` on every center of the policy.

    Returns the report per center. Raises EgovError naming the center that
    could not be changed (unreachable, or its account not set up yet); the
    centers before it keep the change, and running it again converges.
    """
    from controlplane.backup.policy import CONTROLPLANE
    from controlplane.backup.setup import centers_of

    report = {}
    for center in centers_of(ctx):
        spec = {"user": center.sftp_user(CONTROLPLANE), "add": [check_public_line(x) for x in add],
                "remove_prefix": remove_prefix}  # fmt: skip
        result = ctx.executor(center.host).run(["python3", "-", json.dumps(spec)], input_text=PROGRAM, timeout=60)
        try:
            made = json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            made = {"error": " ".join(result.tail[-3:]) or f"exit code {result.exit_code}"}
        if result.exit_code != 0 or "error" in made:
            raise EgovError(f"{center.host}: the kit's key could not be authorised: {made.get('error')}")
        report[center.host] = made
    return report

"""``egov recover``: the control plane back on a fresh machine from the kit, its shares and a backup center.

In four timed parts (the RTO's parts, printed at the end):

1. **fetch**: open the kit (K shares), find the newest snapshot of every
   control-plane dataset on the centers that answer (:mod:`.fetch`), refuse
   one older than its RPO unless ``accept_stale`` (then audited), restore them;
2. **restore**: put the key files where egov.yml expects them, write the
   restored site's egov.yml, load the database dump into a new SQLite file
   (an older snapshot is taken when the newest one's secrets use a master
   key no keys snapshot holds), open the store (migrations applied), mark
   the runs the lost machine had running as interrupted;
3. **verify**: every vault secret decrypts, the audit chain verifies and
   matches the centers' anchors (:mod:`.verify`);
4. **start**: record the standing (passive, or drill), audit the recovery,
   start ``egov serve`` detached and wait until the console answers.

It refuses to recover into a folder that already holds a site (egov.yml or a
state folder with files): a recovery never overwrites a control plane.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from controlplane.errors import BadInputError, EgovError

from . import fetch, kitfile, shares, standing, status, verify

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

MAX_DATABASE_TRIES = 5
CONSOLE_WAIT = 120.0
PID_FILE = "serve.pid"
LOG_FILE = "serve.log"


@dataclass
class Request:
    """What the operator asked for (the shares already read from stdin or a prompt)."""

    kit_text: str
    shares: list[shares.Share]
    into: Path
    actor: str
    center: str | None = None
    accept_stale: bool = False
    drill: bool = False
    host: str | None = None
    port: int | None = None
    start: bool = True


@dataclass
class Outcome:
    """What a recovery did, with its figures (no secret)."""

    kit_id: str
    into: Path
    config_path: Path
    center: str = ""
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    rpo_seconds: float = 0.0
    stale_accepted: bool = False
    parts: dict[str, float] = field(default_factory=dict)
    rto_seconds: float = 0.0
    console: str = ""
    pid: int | None = None
    mode: str = "passive"
    checked: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["into"], data["config_path"] = str(self.into), str(self.config_path)
        return data


def open_kit(text: str, given: list[shares.Share]) -> tuple[kitfile.Header, dict[str, Any]]:
    """Check the shares against the kit's header, rebuild its key and decrypt it. Raises ShareError/KitFileError."""
    header, _nonce, _sealed = kitfile.read_header(text)
    shares.check_together(given, header.kit_id)
    if given[0].threshold != header.threshold or given[0].count != len(header.custodians):
        raise shares.ShareError(f"these shares are of a {given[0].threshold}-of-{given[0].count} split, not this kit's")
    return kitfile.open_kit(text, shares.combine(given))


def check_target(into: Path, kit: dict[str, Any]) -> None:
    """Refuse a folder that already holds a site. Raises BadInputError."""
    if (into / "egov.yml").exists():
        raise BadInputError(f"{into} already holds an egov.yml: recover into a folder without a site")
    state = into / kit["state"]["dir"]
    if state.exists() and any(state.iterdir()):
        raise BadInputError(f"{state} is not empty: a recovery never overwrites a control plane's state")


def _rpo_problem(found: fetch.Found, now: dt.datetime) -> str | None:
    age = found.age_seconds(now)
    if age <= found.dataset["rpo_seconds"]:
        return None
    from controlplane.backup.report import human_age

    return (
        f"the newest snapshot of {found.dataset['name']} ({found.center['host'] if found.center else '?'}, "
        f"{found.snapshot.time:%Y-%m-%d %H:%M}Z) is {human_age(age)} old, older than its RPO of "
        f"{found.dataset['rpo']}: give --accept-stale to restore it anyway (audited)"
    )


def site_yaml(kit: dict[str, Any], into: Path, host: str | None, port: int | None) -> str:
    """The restored site's egov.yml: the original's, state paths as the kit lays them out, folders found here."""
    data = yaml.safe_load(kit["egov_yml"]) or {}
    state = kit["state"]
    data.setdefault("state", {})
    data["state"]["dir"] = state["dir"]
    data["state"]["database"] = "sqlite:///" + state["database"]
    data.setdefault("vault", {})["key_file"] = state["key_file"]
    original = Path(kit["original_root"])
    for name, value in dict(data.get("folders") or {}).items():
        if not Path(value).is_absolute() and not (into / value).exists() and (original / value).exists():
            data["folders"][name] = str(original / value)  # the site's repository where it was (a lab's DR host)
    if host or port is not None:
        data.setdefault("listen", {})
        if host:
            data["listen"]["host"] = host
        if port is not None:
            data["listen"]["port"] = port
    head = f"# Restored by `egov recover` from recovery kit ({kit['site']}), original site folder {original}.\n"
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def place_files(kit: dict[str, Any], dataset: dict[str, Any], staged: Path, into: Path) -> list[str]:
    """Copy a paths dataset's restored files to their place under ``into``; return the paths placed."""
    placed = []
    original = kit["original_root"].lstrip("/")
    for path in dataset.get("paths", []):
        source = next((c for c in (staged / path, staged / original / path) if c.exists() or c.is_symlink()), None)
        if source is None:
            continue
        destination = into / path
        destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, destination, symlinks=True, dirs_exist_ok=False)
        else:
            shutil.copy2(source, destination, follow_symlinks=False)
        placed.append(path)
    return placed


def _database_key_id(dump: Path) -> str | None:
    """The vault key id recorded in a database dump (loaded into memory; no file written)."""
    from controlplane.vault import CURRENT_KEY

    connection = sqlite3.connect(":memory:")
    try:
        connection.executescript(dump.read_text(encoding="utf-8"))
        row = connection.execute("SELECT value FROM settings WHERE key = ?", (CURRENT_KEY,)).fetchone()
    except sqlite3.Error as error:
        raise EgovError(f"the database dump {dump.name} does not load: {error}") from None
    finally:
        connection.close()
    return row[0] if row else None


def load_database(dump: Path, database: Path) -> None:
    """Create the SQLite file from the dump (refusing an existing file)."""
    if database.exists():
        raise BadInputError(f"{database} exists: a recovery never overwrites a database")
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    connection = sqlite3.connect(database)
    try:
        connection.executescript(dump.read_text(encoding="utf-8"))
        connection.commit()
    finally:
        connection.close()
    os.chmod(database, 0o600)


def interrupt_lost_runs(store: Store, host: str) -> int:
    """Mark the runs the lost machine had running as interrupted (their process went with it); return how many."""
    from sqlalchemy import select

    from controlplane.runs import finish_run
    from controlplane.store.models import Run, RunStatus

    marked = 0
    with store.session() as session:
        for run in session.scalars(select(Run).where(Run.status == RunStatus.RUNNING)):
            note = f"the control plane was recovered from a backup on {host}; this run was running on the lost machine"
            finish_run(session, run, RunStatus.INTERRUPTED, summary={"interrupted": note})
            marked += 1
    return marked


def _announced_url(log: Path, offset: int) -> str:
    """The address ``egov serve`` printed (``console: URL``) in its log after ``offset``, or ''."""
    try:
        with open(log, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if line.startswith("console: "):
            return line.removeprefix("console: ").strip()
    return ""


def _answers(url: str, ca_file: Path) -> bool:
    """Whether the console at ``url`` serves its login page (over HTTPS: verified against ``ca_file``)."""
    from .drill import console_connection

    ca_pem = ca_file.read_text(encoding="ascii") if ca_file.exists() else None
    connection = console_connection(url, ca_pem, timeout=2)
    try:
        connection.request("GET", "/login")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def start_console(config_path: Path, state_dir: Path, host: str, port: int) -> tuple[int, str]:
    """Start ``egov serve`` detached (its own session, log in the state folder); wait until it answers.

    The copy serves HTTPS when its state has the CA (the lost control
    plane's own), as the original did: the address is the one the console
    printed, and its certificate is verified against the restored CA.
    Returns (pid, console URL). Raises EgovError when it exits or does not
    answer in :data:`CONSOLE_WAIT` s.
    """
    argv = [sys.executable, "-m", "controlplane", "--config", str(config_path), "serve", "--host", host,
            "--port", str(port), "--workers", "1"]  # fmt: skip
    paths = [entry for entry in sys.path if entry and Path(entry).is_dir()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}
    log_path = state_dir / LOG_FILE
    offset = log_path.stat().st_size if log_path.exists() else 0
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,  # noqa: S603
                                 start_new_session=True, close_fds=True)  # fmt: skip
    finally:
        log.close()
    (state_dir / PID_FILE).write_text(f"{child.pid}\n", encoding="ascii")
    deadline = time.monotonic() + CONSOLE_WAIT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise EgovError(f"egov serve exited with {child.returncode}: see {log_path}")
        url = _announced_url(log_path, offset)
        if url and _answers(url, state_dir / "pki" / "root.pem"):
            return child.pid, url
        time.sleep(0.2)
    raise EgovError(f"the restored console did not answer on {host}:{port} within {CONSOLE_WAIT:g} s")


def recover(request: Request) -> Outcome:
    """Run the four parts (see the module docstring); return the outcome.

    Raises ShareError/KitFileError/BadInputError (exit 2) for wrong shares, a
    kit that does not open, a folder holding a site or a snapshot past its RPO;
    EgovError (exit 1) when a center, a restore or a check fails.
    """
    import socket

    started = time.monotonic()
    header, kit = open_kit(request.kit_text, request.shares)
    into = request.into.resolve()
    check_target(into, kit)
    state_dir = into / kit["state"]["dir"]
    outcome = Outcome(header.kit_id, into, into / "egov.yml", mode="drill" if request.drill else "passive")
    now = dt.datetime.now(dt.UTC)
    from controlplane.tools import restic_path

    restic = restic_path()
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = state_dir / "recovery-staging"
    with fetch.kit_keys(kit, state_dir / "recovery-keys") as keys:
        # 1. fetch
        found = {d["name"]: fetch.newest(kit, d, keys, restic, only=request.center) for d in kit["datasets"]}
        problems = [p for p in (_rpo_problem(f, now) for f in found.values()) if p]
        if problems and not request.accept_stale:
            raise BadInputError(problems[0])
        outcome.stale_accepted = bool(problems)
        outcome.notes += problems
        for name, item in found.items():
            fetch.restore(item, keys, restic, staging / name)
            for host in item.unreachable:
                outcome.notes.append(f"{host} did not answer for {name}: its newest snapshot was read elsewhere")
        outcome.parts["fetch"] = time.monotonic() - started
        # 2. restore
        mark = time.monotonic()
        database = into / kit["state"]["database"]
        for dataset in kit["datasets"]:
            if "paths" in dataset:
                place_files(kit, dataset, staging / dataset["name"], into)
        key_file = into / kit["state"]["key_file"]
        if not key_file.exists():
            raise EgovError(f"the restored keys hold no master key {kit['state']['key_file']}")
        os.chmod(key_file, 0o600)
        from controlplane.vault_keys import key_id, read_key_file

        master_id = key_id(read_key_file(key_file))
        if master_id != kit["master_key_id"]:
            outcome.notes.append(f"the restored master key ({master_id}) is not the kit's ({kit['master_key_id']})")
        db_dataset = next(d for d in kit["datasets"] if d.get("dump", {}).get("database"))
        chosen = _choose_database(found[db_dataset["name"]], keys, restic, staging, master_id, outcome, now, request)
        outcome.config_path.write_text(site_yaml(kit, into, request.host, request.port), encoding="utf-8")
        load_database(chosen, database)
        from controlplane.config import load_config
        from controlplane.store import open_store

        config = load_config(outcome.config_path)
        store = open_store(config)
        try:
            interrupt_lost_runs(store, socket.gethostname())
            outcome.parts["restore"] = time.monotonic() - mark
            # 3. verify
            mark = time.monotonic()
            from controlplane.vault import open_vault

            vault = open_vault(config, store)
            checked = verify.audit_chain(config, store, kit, keys)
            checked.secrets = verify.vault_secrets(vault)
            outcome.checked = checked.as_dict()
            outcome.parts["verify"] = time.monotonic() - mark
            _record(store, request, header, outcome, found)
        finally:
            store.close()
    shutil.rmtree(staging, ignore_errors=True)
    # 4. start
    mark = time.monotonic()
    if request.start:
        host = request.host or config.listen_host
        port = config.listen_port if request.port is None else request.port
        outcome.pid, outcome.console = start_console(outcome.config_path, state_dir, host, port)
    outcome.parts["start"] = time.monotonic() - mark
    outcome.rto_seconds = time.monotonic() - started
    return outcome


def _choose_database(
    found: fetch.Found, keys: fetch.Keys, restic: str, staging: Path, master_id: str, outcome: Outcome,
    now: dt.datetime, request: Request,
) -> Path:  # fmt: skip
    """The newest dump whose secrets use the restored master key (older ones are tried after a key rotation)."""
    assert found.snapshot is not None  # noqa: S101
    filename = found.dataset["dump"]["filename"]
    candidates = [found.snapshot] + [s for s in reversed(found.history) if s.id != found.snapshot.id]
    for tries, snapshot in enumerate(candidates[:MAX_DATABASE_TRIES]):
        folder = staging / found.dataset["name"] if tries == 0 else staging / f"{found.dataset['name']}-{tries}"
        if tries:
            fetch.restore(found, keys, restic, folder, snapshot)
        dump = folder / filename
        if not dump.exists():
            raise EgovError(f"snapshot {snapshot.short_id} of {found.dataset['name']} holds no {filename}")
        if _database_key_id(dump) in (None, master_id):
            age = (now - snapshot.time).total_seconds()
            if tries and age > found.dataset["rpo_seconds"] and not request.accept_stale:
                raise BadInputError(
                    f"the newest database snapshots use a master key no keys snapshot holds; the newest usable one "
                    f"({snapshot.time:%Y-%m-%d %H:%M}Z) is older than the RPO: give --accept-stale (audited)"
                )
            if tries:
                outcome.notes.append(
                    f"{tries} newer database snapshot(s) use a master key the keys backup lacks (a rotation after "
                    "the last keys backup): restored an older one"
                )
            outcome.rpo_seconds = age
            outcome.center = found.center["host"] if found.center else ""
            outcome.snapshots[found.dataset["name"]] = {
                "id": snapshot.id,
                "time": snapshot.time.isoformat(),
                "center": outcome.center,
                "age_seconds": round(age, 1),
            }
            return dump
    raise EgovError(
        f"no snapshot of {found.dataset['name']} among the newest {MAX_DATABASE_TRIES} uses the restored master key "
        f"({master_id}): back the keys up again (egov backup run controlplane-keys) on a live site"
    )


def _record(store: Store, request: Request, header: kitfile.Header, outcome: Outcome,
            found: dict[str, fetch.Found]) -> None:  # fmt: skip
    """Write the standing and the recovery's audit record into the restored store."""
    from controlplane import audit

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, item in found.items():
        if name not in outcome.snapshots and item.snapshot is not None:
            outcome.snapshots[name] = {"id": item.snapshot.id, "time": item.snapshot.time.isoformat(),
                                       "center": item.center["host"] if item.center else "",
                                       "age_seconds": round(item.age_seconds(dt.datetime.now(dt.UTC)), 1)}  # fmt: skip
    db_time = next(iter(s["time"] for s in outcome.snapshots.values()), "")
    details = {"kit_id": header.kit_id, "snapshots": outcome.snapshots, "snapshot_time": db_time,
               "custodians": [header.custodian(share.index) for share in request.shares],
               "accepted_stale": outcome.stale_accepted, "lost_audit_records": outcome.checked.get("lost_records", 0),
               "audit_last_seq": outcome.checked.get("audit_last_seq", 0)}  # fmt: skip
    mode = "drill" if request.drill else "passive"
    reason = "a recovery drill's copy" if request.drill else "restored from backup beside a possibly live original"
    standing.write(store, standing.Standing(mode, reason, now, details))
    if not request.drill:
        status.mark_used(store, now)
    audit.append(store, actor=request.actor, action="recovery.recover", target=header.kit_id,
                 outcome="ok-stale-accepted" if outcome.stale_accepted else "ok", details=details)  # fmt: skip
    if outcome.stale_accepted:
        audit.append(store, actor=request.actor, action="recovery.accept_stale", target=header.kit_id,
                     details={"problems": outcome.notes[:3]})  # fmt: skip


def describe(outcome: Outcome) -> list[str]:
    """What ``egov recover`` prints at the end: where, which snapshots, what was checked, the RTO and its parts."""
    from controlplane.backup.report import human_age

    lines = [f"restored into {outcome.into} from {outcome.center} (kit {outcome.kit_id})"]
    for name, snap in outcome.snapshots.items():
        age = human_age(snap["age_seconds"])
        lines.append(f"  {name}: snapshot {snap['id'][:8]} of {snap['time'][:19]}Z, {age} old")
    checked = outcome.checked
    lines.append(
        f"verified: {checked.get('secrets', 0)} secrets decrypt; audit chain ok ({checked.get('audit_records', 0)} "
        f"records); anchors read on {', '.join(checked.get('anchors_read') or []) or 'no center'}"
    )
    if checked.get("lost_records"):
        newest = checked.get("newest_anchor") or {}
        lines.append(
            f"  {checked['lost_records']} audit record(s) were anchored after this snapshot "
            f"(newest {newest.get('seq')} "
            f"at {newest.get('at')} on {newest.get('where')}): lost, or still on a live original"
        )
    lines += [f"note: {note}" for note in outcome.notes]
    parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in outcome.parts.items())
    lines.append(f"RPO {human_age(outcome.rpo_seconds)} (age of the restored database snapshot)")
    lines.append(f"RTO {outcome.rto_seconds:.1f} s: {parts}")
    if outcome.console:
        where = f"pid {outcome.pid}, log {LOG_FILE} in the state folder"
        lines.append(f"console: {outcome.console} ({outcome.mode}; {where})")
    return lines


def json_text(outcome: Outcome) -> str:
    """The outcome as JSON (for --json, the drill and the benchmark)."""
    return json.dumps(outcome.as_dict(), indent=1, default=str)


def stop_console(config: Config) -> bool:
    """Stop a console ``egov recover`` started (by the pid it recorded); return whether one was running."""
    import signal

    path = Path(config.state_dir) / PID_FILE
    try:
        pid = int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return False
    for _ in range(150):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    path.unlink(missing_ok=True)
    return True

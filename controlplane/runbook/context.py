"""The Context a runbook's actions, rollbacks and probes receive: parameters and helpers.

Every helper takes the run's ``dry_run`` from the context and, in a dry run,
writes what it would do into the journal and does nothing at all (not even
a read), returning a stand-in result. Helpers log what they do into the
current journal activity, so the journal reads as the story of the run.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from controlplane.errors import EgovError
from controlplane.execute import describe, validate_argv
from controlplane.runbook.adapters import Adapters, HostResult
from controlplane.runbook.journal import Activity, JournalWriter

if TYPE_CHECKING:
    from controlplane.inventory import Host, Inventory
    from controlplane.runbook.definition import Runbook

_T = TypeVar("_T")

BODY_LIMIT = 1024 * 1024


class StepFailed(EgovError):
    """An action, rollback or probe found something wrong (the message says what)."""


class Cancelled(EgovError):
    """The run was asked to cancel."""


@dataclass
class HttpResponse:
    """An HTTP answer (status 0 and an empty body in a dry run)."""

    url: str
    status: int
    body: bytes
    elapsed: float
    dry_run: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Context:
    """What an action sees: the mode, the parameters, the targets, helpers and a shared ``state``.

    ``state`` is a dict the steps share (a rollback reads what its action
    stored there). The engine sets ``activity`` and ``deadline`` around each
    activity; helpers never wait past the deadline.
    """

    def __init__(
        self,
        *,
        runbook: Runbook,
        mode: str,
        params: Mapping[str, Any],
        targets: Sequence[str],
        inventory: Inventory,
        adapters: Adapters,
        journal: JournalWriter | None,
        run_id: int | None,
        confirm: Callable[[str], bool] | None = None,
        cancel_requested: Callable[[], bool] | None = None,
    ) -> None:
        self.runbook = runbook
        self.mode = mode
        self.params = dict(params)
        self.targets = list(targets)
        self.inventory = inventory
        self.adapters = adapters
        self.journal = journal
        self.run_id = run_id
        self.state: dict[str, Any] = {}
        self.figures: dict[str, Any] = {}
        self.cancellable = True
        # The activity and deadline belong to the worker thread running it: an
        # action abandoned after its timeout must not write into the next one.
        self._local = threading.local()
        self._abandoned: set[int] = set()
        self._confirm = confirm
        self._cancel_requested = cancel_requested
        self._cancel_checked = 0.0
        self._cancelled = threading.Event()

    # -- the engine's side ------------------------------------------------------
    @property
    def activity(self) -> Activity | None:
        """The journal activity of the calling thread (None outside one)."""
        return getattr(self._local, "activity", None)

    @property
    def deadline(self) -> float | None:
        """The monotonic deadline of the calling thread's activity (None: no limit)."""
        return getattr(self._local, "deadline", None)

    def enter(self, activity: Activity | None, deadline: float | None, token: int) -> None:
        """Bind the calling (worker) thread to an activity; called by the engine."""
        self._local.activity, self._local.deadline, self._local.token = activity, deadline, token

    def abandon(self, token: int) -> None:
        """Make the helpers of a timed-out activity's thread stop at their next call."""
        self._abandoned.add(token)

    # -- mode and basics ----------------------------------------------------
    @property
    def dry_run(self) -> bool:
        """True in a dry run: helpers record and do nothing."""
        return self.mode == "dry-run"

    @property
    def drill(self) -> bool:
        """True in a drill (real actions on drill targets, undone at the end)."""
        return self.mode == "drill"

    def host(self, name: str) -> Host:
        """Return the inventory Host of that name (raises BadInputError when unknown)."""
        return self.inventory.host(name)

    def log(self, text: str) -> None:
        """Write lines into the current activity's journal output."""
        if self.journal is not None and self.activity is not None:
            self.journal.log(self.activity, text)

    def fail(self, message: str) -> NoReturn:
        """Fail the current activity with a message for the operator."""
        raise StepFailed(message)

    def expect(self, condition: object, message: str) -> None:
        """Fail with ``message`` unless ``condition`` holds (skipped in a dry run, where results are stand-ins)."""
        if not self.dry_run and not condition:
            self.fail(message)

    def remaining(self, wanted: float) -> float:
        """Return ``wanted`` seconds, capped by the time left before the activity's deadline."""
        if self.deadline is None:
            return wanted
        return max(0.1, min(wanted, self.deadline - time.monotonic()))

    def check_cancel(self) -> None:
        """Raise Cancelled when the run was asked to cancel (polled at most every 0.5 s).

        Rollbacks run with ``cancellable`` off: undoing must not be cut short.
        """
        if getattr(self._local, "token", None) in self._abandoned:
            raise Cancelled("abandoned after its timeout")
        if not self.cancellable:
            return
        if self._cancelled.is_set():
            raise Cancelled("cancel requested")
        now = time.monotonic()
        if self._cancel_requested is not None and now - self._cancel_checked >= 0.5:
            self._cancel_checked = now
            if self._cancel_requested():
                self._cancelled.set()
                raise Cancelled("cancel requested")

    def figure(self, name: str, value: Any) -> None:
        """Record a figure of the run (shown in the journal's headline and summary)."""
        self.figures[name] = value

    def evidence(self, title: str, text: str) -> None:
        """Put collected evidence (command output) into the journal under a title."""
        self.log(f"=== {title} ===")
        self.log(text.rstrip() or "(empty)")
        self.state.setdefault("evidence", {})[title] = text

    # -- hosts -----------------------------------------------------------------
    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        timeout: float = 30.0,
        check: bool = True,
        input_text: str | None = None,
        quiet: bool = False,
    ) -> HostResult:
        """Run an argv on an inventory host over SSH, logging it into the journal.

        Each word is quoted for the remote shell, so no word is interpreted;
        the timeout is capped by the activity's deadline. In a dry run nothing
        runs and a stand-in with exit code 0 comes back. Raises StepFailed on a
        non-zero exit when ``check`` is on, UnreachableError/HostKeyError when
        the host cannot be reached.
        """
        words = validate_argv(argv)
        self.check_cancel()
        if self.dry_run:
            self.log(f"would run on {host}: {describe(words)}")
            return HostResult(host, words, 0, dry_run=True)
        result = self.adapters.hosts.run(self.host(host), words, timeout=self.remaining(timeout), input_text=input_text)
        if not quiet:
            self.log(f"{host}$ {describe(words)}  → exit {result.exit_code} ({result.duration:.2f} s)")
            for stream in (result.stdout, result.stderr):
                if stream.strip():
                    self.log(stream.rstrip()[-4000:])
        if check and not result.ok:
            said = (result.stderr or result.stdout).strip()[-500:]
            self.fail(f"{host}: {describe(words)} exited {result.exit_code}: {said}")
        return result

    # -- network checks --------------------------------------------------------
    def http_get(self, address: str, *, port: int = 80, path: str = "/", timeout: float = 3.0) -> HttpResponse:
        """GET ``http://address:port/path`` directly (no proxy, no redirects followed).

        Returns the HttpResponse; raises StepFailed when the connection fails.
        """
        url = f"http://{address}:{port}{path}"
        if self.dry_run:
            self.log(f"would GET {url}")
            return HttpResponse(url, 0, b"", 0.0, dry_run=True)
        started = time.monotonic()
        connection = http.client.HTTPConnection(address, port, timeout=self.remaining(timeout))
        try:
            connection.request("GET", path, headers={"Connection": "close", "Cache-Control": "no-cache"})
            answer = connection.getresponse()
            body = answer.read(BODY_LIMIT)
            status = answer.status
        except (OSError, http.client.HTTPException) as error:
            self.fail(f"GET {url} failed: {error}")
        finally:
            connection.close()
        return HttpResponse(url, status, body, time.monotonic() - started)

    def http_check(
        self,
        address: str,
        *,
        port: int = 80,
        path: str = "/",
        status: int = 200,
        contains: str | None = None,
        timeout: float = 3.0,
    ) -> HttpResponse:
        """GET a URL and fail unless it answers ``status`` (and its body holds ``contains``).

        Returns the HttpResponse (a stand-in in a dry run).
        """
        response = self.http_get(address, port=port, path=path, timeout=timeout)
        if response.dry_run:
            return response
        self.log(f"GET {response.url} → {response.status}, {len(response.body)} bytes in {response.elapsed:.3f} s")
        if response.status != status:
            self.fail(f"GET {response.url} answered {response.status}, expected {status}")
        if contains is not None and contains not in response.text:
            self.fail(f"GET {response.url}: the body does not contain {contains!r}")
        return response

    def tcp_check(self, address: str, port: int, *, timeout: float = 2.0) -> bool:
        """Return whether a TCP connection to address:port completes (True in a dry run, recorded)."""
        if self.dry_run:
            self.log(f"would connect to {address}:{port}")
            return True
        try:
            with socket.create_connection((address, port), timeout=self.remaining(timeout)):
                return True
        except OSError:
            return False

    def wait_until(
        self, what: str, predicate: Callable[[], _T], *, timeout: float = 30.0, interval: float = 0.2
    ) -> _T | None:
        """Call ``predicate`` until it returns something truthy; return that.

        An exception from the predicate counts as "not yet". Raises
        StepFailed after ``timeout`` seconds (capped by the deadline) naming
        ``what`` and the last error; Cancelled when the run is cancelled.
        """
        if self.dry_run:
            self.log(f"would wait up to {timeout:g} s until {what}")
            return None
        limit = time.monotonic() + self.remaining(timeout)
        last_error = ""
        while True:
            self.check_cancel()
            try:
                value = predicate()
                if value:
                    return value
                last_error = ""
            except Exception as error:  # "not yet": keep waiting
                last_error = str(getattr(error, "message", error))
            if time.monotonic() >= limit:
                detail = f" ({last_error})" if last_error else ""
                self.fail(f"timed out after {timeout:g} s waiting until {what}{detail}")
            time.sleep(interval)

    # -- VIPs ------------------------------------------------------------------
    def has_address(self, host: str, address: str, *, device: str = "eth0") -> bool:
        """Whether ``host`` carries ``address`` on ``device`` (False in a dry run)."""
        shown = self.run(host, ["ip", "-4", "-o", "addr", "show", "dev", device, "to", f"{address}/32"], quiet=True)
        return bool(shown.stdout.strip())

    def claim_vip(self, host: str, vip: str, *, prefix: int = 24, device: str = "eth0") -> bool:
        """Put a VIP on a host and announce it with a gratuitous ARP; return whether it was added.

        The unsolicited ARP (``arping -U``) makes switches and neighbours
        update their caches at once; without it clients keep the old MAC for
        up to ~30 s. Idempotent: an address already present is announced
        again and False is returned (so a rollback knows not to remove it).
        """
        added = True
        if not self.dry_run and self.has_address(host, vip, device=device):
            self.log(f"{host} already carries {vip}")
            added = False
        else:
            self.run(host, ["ip", "addr", "add", f"{vip}/{prefix}", "dev", device])
        # -w 1 bounds arping's wait for replies, which never come to an unsolicited ARP (exit 1).
        arp = self.run(host, ["arping", "-q", "-U", "-c", "1", "-w", "1", "-I", device, vip], check=False)
        if arp.exit_code not in (0, 1):
            self.fail(f"{host}: the gratuitous ARP for {vip} failed (exit {arp.exit_code}): {arp.stderr.strip()}")
        return added

    def release_vip(self, host: str, vip: str, *, prefix: int = 24, device: str = "eth0") -> bool:
        """Remove a VIP from a host; return whether it was there (idempotent)."""
        if not self.dry_run and not self.has_address(host, vip, device=device):
            self.log(f"{host} does not carry {vip}")
            return False
        self.run(host, ["ip", "addr", "del", f"{vip}/{prefix}", "dev", device])
        return True

    # -- adapters --------------------------------------------------------------
    def restore(
        self, dataset: str, *, source_host: str, target_host: str, restore_dir: str, snapshot: str = "latest"
    ) -> dict[str, Any]:
        """Restore a dataset from the backup center onto a host (through the backup adapter)."""
        self.check_cancel()
        what = f"restore {dataset} of {source_host} ({snapshot}) into {target_host}:{restore_dir}"
        if self.dry_run:
            reason = self.adapters.backup.unavailable()
            self.log(f"would {what}" + (f" [backup engine unavailable: {reason}]" if reason else ""))
            return {"dry_run": True}
        self.log(what)
        result = self.adapters.backup.restore(
            dataset=dataset,
            source_host=source_host,
            target_host=target_host,
            restore_dir=restore_dir,
            snapshot=snapshot,
        )
        self.log(f"restored: {result}")
        return result

    def verify_restore(self, dataset: str, *, target_host: str, restore_dir: str) -> dict[str, Any]:
        """Verify a restored dataset (manifest and policy checks, through the backup adapter)."""
        if self.dry_run:
            self.log(f"would verify the restore of {dataset} in {target_host}:{restore_dir}")
            return {"dry_run": True}
        result = self.adapters.backup.verify(dataset=dataset, target_host=target_host, restore_dir=restore_dir)
        self.log(f"verified: {result}")
        return result

    def switch_backup_center(self, to_center: str) -> dict[str, Any]:
        """Point the backup policies at another backup center (through the backup adapter)."""
        if self.dry_run:
            reason = self.adapters.backup.unavailable()
            note = f" [backup engine unavailable: {reason}]" if reason else ""
            self.log(f"would point the backup policies at the {to_center} center{note}")
            return {"dry_run": True}
        result = self.adapters.backup.switch_center(to_center=to_center)
        self.log(f"backup policies now use the {to_center} center: {result}")
        return result

    def backup_now(self, dataset: str, *, host: str) -> dict[str, Any]:
        """Back a dataset of a host up now to the active center (through the backup adapter)."""
        if self.dry_run:
            self.log(f"would back {dataset} of {host} up now")
            return {"dry_run": True}
        result = self.adapters.backup.backup_now(dataset=dataset, host=host)
        self.log(f"backup of {dataset} on {host}: {result}")
        return result

    # -- credentials -----------------------------------------------------------
    def rotate_host_secrets(self, host: str) -> list[str]:
        """Give every vault secret of ``host`` (``host:<HOST>:...``) a new random value; return the names.

        The prefix comes from the host name, never from a parameter, so no
        other host's secret and no restic password can be touched. In a drill
        the old values are first kept in the vault under the run's reserved
        names (see :mod:`controlplane.runbook.drill_secrets`), so the drill's
        restore, or the recovery after a crash, puts them back. Only names
        reach the journal. Raises EgovError when an old value cannot be kept.
        """
        import secrets as random

        from controlplane.runbook import drill_secrets

        prefix = drill_secrets.host_prefix(host)
        if self.dry_run:
            self.log(f"would rotate the vault secrets named {prefix}*")
            return []
        store = self.adapters.secret_store()
        names = drill_secrets.host_secret_names(store, host)
        if self.drill and names:
            if self.run_id is None:
                self.fail("a drill without a run cannot keep the old credentials: nothing rotated")
            drill_secrets.save(store, self.run_id, {name: store.get(name) for name in names})
            self.log(f"drill: the old values of {len(names)} secret(s) are kept in the vault until the drill ends")
        for name in names:
            self.check_cancel()
            store.set(name, random.token_urlsafe(32))
            self.log(f"rotated {name}")
        if not names:
            self.log(f"no vault secret is named {prefix}*")
        return names

    def restore_drill_secrets(self) -> list[str]:
        """In a drill, put back the old values this run kept and forget them; return the names (nothing otherwise)."""
        from controlplane.runbook import drill_secrets

        if not self.drill or self.run_id is None:
            return []
        store = self.adapters.secret_store()
        restored = drill_secrets.restore_saved(store, self.run_id)
        for name in restored:
            self.log(f"drill: restored {name}")
        return restored

    def notify(self, message: str, *, severity: str = "info") -> None:
        """Tell people (through the notifier adapter; recorded only, in a dry run)."""
        if self.dry_run:
            self.log(f"would notify ({severity}): {message}")
            return
        where = self.adapters.notifier.notify(message, severity=severity, run_id=self.run_id)
        self.log(f"notified ({severity}) via {where}: {message}")

    def confirm(self, question: str) -> None:
        """Ask the operator to confirm; fail the step when they decline.

        A drill answers yes by itself (recorded); a dry run records the question.
        """
        if self.dry_run:
            self.log(f"would ask: {question}")
            return
        if self.drill or self._confirm is None:
            self.log(f"confirmed ({self.mode}): {question}")
            return
        if not self._confirm(question):
            self.fail(f"the operator declined: {question}")
        self.log(f"confirmed by the operator: {question}")

    def playbook(
        self, playbook: str, *, limit: str, extra_vars: Mapping[str, Any] | None = None, check: bool = False
    ) -> dict[str, Any]:
        """Run a playbook on ``limit`` through the automation engine (recorded only, in a dry run)."""
        if self.dry_run:
            reason = self.adapters.playbooks.unavailable()
            note = f" [runner unavailable: {reason}]" if reason else ""
            self.log(f"would run playbook {playbook} on {limit}{note}")
            return {"dry_run": True}
        result = self.adapters.playbooks.run(playbook, limit=limit, extra_vars=dict(extra_vars or {}), check=check)
        self.log(f"playbook {playbook} on {limit}: {result}")
        return result

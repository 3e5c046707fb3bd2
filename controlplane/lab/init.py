"""PID 1 of a lab host: builds its root, drops capabilities, supervises services.

Started by the manager as ``python -I -m controlplane.lab.init HOSTDIR/init.json``
inside the host's network namespace and fresh UTS, IPC, PID and mount
namespaces (see :func:`controlplane.lab.network.launcher`). It:

1. sets the host name and binds its control socket in the host folder;
2. mounts the overlay root (lower ``/``, upper and work dirs in the host
   folder), a fresh ``/run``, a minimal ``/dev`` (null, zero, full, random,
   urandom, tty, its own devpts), ``/proc`` of its PID namespace with
   ``/proc/sys`` read-only except ``/proc/sys/net``, ``/sys`` read-only, and
   covers the control plane's state folder and keys;
3. ``pivot_root``s into it and detaches the machine's tree (no way back, unlike
   chroot), disables IPv6 in its network namespace, unsets its audit login
   uid (so PAM in sshd may set one without CAP_AUDIT_CONTROL) and drops the
   capabilities in :mod:`controlplane.lab.caps` from its bounding set and its
   own sets;
4. starts sshd and every registered service marked ``autostart``, reaps
   every orphan, and answers start/stop/status requests on the control
   socket until SIGTERM, when it stops its services and exits (the kernel
   then kills whatever is left in the PID namespace and frees the mounts).

The root is built by :mod:`controlplane.lab.rootfs`; services other than
sshd are registered inside the host (:mod:`controlplane.lab.services`).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane import execute
from controlplane.lab import control
from controlplane.lab.names import DEFAULT_SERVICE, validate_service_name
from controlplane.lab.rootfs import SetupError, bind_control_socket, build_root, enter_root, harden, preload, say
from controlplane.lab.services import LOG_DIR, PID_DIR, SERVICES_DIR, load_definition, registered

if TYPE_CHECKING:
    from types import FrameType

CLEAN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}
STOP_GRACE = 5.0


class Supervisor:
    """Starts, stops and reaps the host's services; answers the control socket."""

    def __init__(
        self,
        listener: socket.socket | None,
        services_dir: Path = SERVICES_DIR,
        pid_dir: Path = PID_DIR,
        log_dir: Path = LOG_DIR,
    ) -> None:
        self.listener = listener
        self.services_dir, self.pid_dir, self.log_dir = services_dir, pid_dir, log_dir
        self.pids: dict[str, int] = {}  # service name -> pid (host's PID namespace)
        self.stopping = False

    def running(self, name: str) -> int | None:
        """Return the pid of a running service, or None."""
        return self.pids.get(name)

    def start(self, name: str) -> bool:
        """Start a service unless it runs; return whether it was started."""
        if self.running(name):
            return False
        definition = load_definition(name, self.services_dir)
        if name == DEFAULT_SERVICE:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
            output = sys.stderr.fileno()
            log_fd = None
        else:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_fd = os.open(self.log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            output = log_fd
        try:
            process = execute.start(definition.argv, env=definition.env, cwd=definition.cwd,
                                    stdout=output, stderr=output)  # fmt: skip
        finally:
            if log_fd is not None:
                os.close(log_fd)
        # The init reaps every child itself (waitpid(-1)); Popen must not.
        process.returncode = 0
        self.pids[name] = process.pid
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        (self.pid_dir / f"{name}.pid").write_text(f"{process.pid}\n", encoding="ascii")
        say(f"started {name} (pid {process.pid})")
        return True

    def stop(self, name: str) -> bool:
        """Stop a running service (TERM to its group, KILL after a grace); return whether it ran."""
        pid = self.running(name)
        if not pid:
            return False
        self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and self._alive(pid):
            time.sleep(0.01)
        if self._alive(pid):
            self._signal(pid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.01)
        self._forget(pid)
        say(f"stopped {name}")
        return True

    @staticmethod
    def _signal(pid: int, signum: int) -> None:
        try:
            os.killpg(pid, signum)  # services run in their own session: pgid == pid
        except ProcessLookupError:
            return

    def _alive(self, pid: int) -> bool:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return done == 0

    def _forget(self, pid: int) -> None:
        for name, known in list(self.pids.items()):
            if known == pid:
                del self.pids[name]
                (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)
                if not self.stopping:
                    say(f"{name} (pid {pid}) exited")

    def reap(self) -> None:
        """Collect every finished child (services and reparented orphans)."""
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._forget(pid)

    def status(self) -> dict[str, Any]:
        """Every known service with whether it runs and its pid."""
        names = [DEFAULT_SERVICE, *registered(self.services_dir), *self.pids]
        return {name: {"running": name in self.pids, "pid": self.pids.get(name)} for name in dict.fromkeys(names)}

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        """Answer one control request."""
        op = message.get("op")
        if op == "status":
            return {"ok": True, "services": self.status()}
        if op in ("start", "stop"):
            name = validate_service_name(message.get("service"))
            changed = self.start(name) if op == "start" else self.stop(name)
            return {"ok": True, "changed": changed, "services": self.status()}
        return {"ok": False, "error": f"unknown op {op!r}"}

    def serve_one(self) -> None:
        """Accept one connection and answer its request."""
        assert self.listener is not None  # noqa: S101 - set by main()
        conn, _addr = self.listener.accept()
        with conn:
            conn.settimeout(5)
            try:
                answer = self.handle(control.decode(control.read_line(conn)))
            except Exception as error:  # one bad request must never stop PID 1
                answer = {"ok": False, "error": str(getattr(error, "message", error))}
            with contextlib.suppress(OSError):  # the client went away
                conn.sendall(control.encode(answer))

    def boot(self) -> None:
        """Start sshd, then every registered service marked autostart."""
        self.start(DEFAULT_SERVICE)
        for name in registered(self.services_dir):
            try:
                if load_definition(name, self.services_dir).autostart:
                    self.start(name)
            except (ValueError, OSError) as error:
                say(f"not starting {name}: {error}")

    def shutdown(self) -> None:
        """Stop every service (in parallel: TERM all, then wait)."""
        self.stopping = True
        for pid in self.pids.values():
            self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        while self.pids and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.01)

    def loop(self) -> None:
        """Serve requests and reap children until SIGTERM."""
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_write)

        def on_stop(_signum: int, _frame: FrameType | None) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector
        assert self.listener is not None  # noqa: S101 - set by main()
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ, "conn")
        selector.register(wake_read, selectors.EVENT_READ, "wake")
        self.listener.listen(16)
        self.reap()
        while not self.stopping:
            for key, _events in selector.select(timeout=5):
                if key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_read, 512)
                elif not self.stopping:
                    self.serve_one()
            self.reap()
        self.shutdown()


def main(argv: list[str] | None = None) -> int:
    """Run the init; given ``[init.json path]``; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    os.environ.clear()
    os.environ.update(CLEAN_ENV)
    os.umask(0o022)
    if os.getpid() != 1 or len(args) != 1:
        say("must run as PID 1 of a lab host, with the path of its init.json")
        return 2
    try:
        preload()
        spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        socket.sethostname(spec["name"])
        listener = bind_control_socket(Path(spec["folder"]))
        build_root(spec)
        enter_root(Path(spec["root"]))
        harden()
    except (SetupError, OSError, ValueError, KeyError) as error:
        say(f"setup failed: {error}")
        return 1
    supervisor = Supervisor(listener)
    supervisor.boot()
    say(f"{spec['name']} ready")
    supervisor.loop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

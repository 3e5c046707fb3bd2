"""The deadline-bound steps of one SSH command: handshake, exec request, liveness, reading output.

Each function bounds a step paramiko would otherwise wait on without a
limit, and names the host and the step in its error. Used only by
:class:`controlplane.ssh.SSHPool`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane.errors import EgovError, HostKeyError, UnreachableError
from controlplane.execute import mask_text

from .trust import HostTrust

if TYPE_CHECKING:
    import paramiko

    from controlplane.ssh import LineCallback, Target

POLL_SECONDS = 0.02


class Deadline:
    """The end of one command's time, and each step's share of what is left."""

    def __init__(self, seconds: float, step: float) -> None:
        self.end = time.monotonic() + seconds
        self.step_cap = step

    def left(self) -> float:
        return self.end - time.monotonic()

    def step(self) -> float:
        """Seconds the next step may take: the step limit, or less when the command's time runs out."""
        return max(0.05, min(self.step_cap, self.left()))


class Lines:
    """Splits a channel's bytes into masked lines per stream, handing each to a callback."""

    def __init__(self, secrets: Iterable[str], on_line: LineCallback | None) -> None:
        self.secrets = [s for s in secrets if s]
        self.on_line = on_line
        self.pending = {"out": b"", "err": b""}
        self.lines: dict[str, list[str]] = {"out": [], "err": []}
        self.ended_with_newline = {"out": False, "err": False}

    def feed(self, stream: str, data: bytes, final: bool = False) -> None:
        """Add bytes of one stream; complete lines (all of them when ``final``) go out masked."""
        *complete, rest = (self.pending[stream] + data).split(b"\n")
        if data:
            self.ended_with_newline[stream] = data.endswith(b"\n")
        if final and rest:
            complete.append(rest)
            rest = b""
        self.pending[stream] = rest
        for raw in complete:
            line = mask_text(raw.decode("utf-8", errors="replace").rstrip("\r"), self.secrets)
            self.lines[stream].append(line)
            if self.on_line is not None:
                self.on_line(line, stream)

    def text(self, stream: str) -> str:
        """One stream's masked lines as text (ending in a newline when the output did)."""
        lines = self.lines[stream]
        return "\n".join(lines) + ("\n" if lines and self.ended_with_newline[stream] else "")


def seconds_text(seconds: float) -> str:
    """A step's time for a message, to the hundredth: a 1 s step measured as 0.9994 s left reads "1", not "0.999"."""
    return f"{round(seconds, 2):g}"


def handshake(
    target: Target,
    key_file: Path,
    known_hosts: Path,
    deadline: Deadline,
    keepalive_interval: float,
    dead_after: float,
    trust: HostTrust | None = None,
) -> paramiko.SSHClient:
    """Connect and authenticate, each step bounded by ``deadline``; host keys judged by ``trust``.

    ``trust`` (default: keys pinned in ``known_hosts`` only) accepts a pinned
    plain key or a valid certificate of the control plane's CA
    (:mod:`.trust`); certificates are asked for first.

    TCP connect, banner, key exchange and authentication each get one step
    (``deadline.step()``), and a watchdog closes the socket when the whole
    deadline is over. The socket gets ``TCP_USER_TIMEOUT`` = ``dead_after``
    and the transport paramiko's keepalive, so a peer that stops
    acknowledging kills the connection. Raises HostKeyError (unknown or
    changed key), EgovError (the key is refused) and UnreachableError naming
    the step that did not finish.
    """
    import paramiko

    trust = trust or HostTrust(known_hosts)
    trust.ready(target)
    try:
        sock = socket.create_connection((target.address, target.port), timeout=deadline.step())
    except TimeoutError:
        waited = seconds_text(deadline.step())
        raise UnreachableError(f"{target.where}: TCP connect timed out after {waited} s") from None
    except OSError as error:
        raise UnreachableError(f"{target.where}: unreachable: {error.strerror or error}") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT") and dead_after > 0:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(dead_after * 1000))
    client = paramiko.SSHClient()
    # Nothing is loaded as known: every presented key (plain or certificate) goes to the trust's judgement.
    client.set_missing_host_key_policy(trust.policy(target))
    step = deadline.step()
    watchdog = threading.Timer(max(0.05, deadline.left()), sock.close)
    watchdog.daemon = True
    watchdog.start()
    try:
        client.connect(
            target.address,
            port=target.port,
            username=target.user,
            key_filename=str(key_file),
            sock=sock,
            timeout=step,
            banner_timeout=step,
            auth_timeout=step,
            channel_timeout=step,
            look_for_keys=False,
            allow_agent=False,
            transport_factory=trust.transport_class(target),
        )
    except HostKeyError:
        client.close()
        sock.close()
        raise
    except paramiko.BadHostKeyException:
        client.close()
        raise HostKeyError(
            f"host key of {target.where} has CHANGED since it was pinned in {known_hosts}: "
            "refusing to connect (possible man-in-the-middle; re-pin only after checking)"
        ) from None
    except (paramiko.SSHException, OSError, EOFError) as error:
        failure = _handshake_failure(client, target, error, step, key_file, known_hosts)
        client.close()
        sock.close()
        raise failure from None
    finally:
        watchdog.cancel()
    transport = client.get_transport()
    if transport is not None and keepalive_interval > 0:
        transport.set_keepalive(max(1, round(keepalive_interval)))
    return client


def _handshake_failure(
    client: paramiko.SSHClient, target: Target, error: Exception, step: float, key_file: Path, known_hosts: Path
) -> EgovError:
    """The error for a failed handshake, naming the step that did not finish."""
    import paramiko

    text = str(error)
    if "not found in known_hosts" in text:
        return HostKeyError(f"host key of {target.where} is not pinned in {known_hosts}: refusing to connect")
    if isinstance(error, paramiko.AuthenticationException):
        if "timeout" in text.lower():
            return UnreachableError(f"{target.where}: authentication did not finish within {seconds_text(step)} s")
        return EgovError(f"{target.where}: authentication with {key_file} failed")
    transport = client.get_transport()
    no_banner = not (transport is not None and transport.remote_version)
    silent = "banner" in text or "No existing session" in text or isinstance(error, OSError | EOFError)
    if no_banner and silent:
        return UnreachableError(
            f"{target.where}: no SSH banner within {seconds_text(step)} s "
            "(sshd accepts TCP connections but does not answer: wedged or overloaded?)"
        )
    if "No existing session" in text or "Negotiation" in text:
        return UnreachableError(f"{target.where}: the SSH key exchange did not finish within {seconds_text(step)} s")
    return UnreachableError(f"{target.where}: SSH failed: {text or type(error).__name__}")


def exec_within(target: Target, channel: paramiko.Channel, command: str, seconds: float) -> None:
    """Send the exec request and wait at most ``seconds`` for sshd's answer.

    paramiko's ``exec_command`` waits for the answer without a limit; closing
    the channel from a timer wakes it (it then raises). Raises
    UnreachableError naming the host when it times out or fails.
    """
    import paramiko

    expired = threading.Event()

    def expire() -> None:
        expired.set()
        channel.close()

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        channel.exec_command(command)
    except (paramiko.SSHException, OSError, EOFError) as error:
        channel.close()
        if expired.is_set():
            raise UnreachableError(
                f"{target.where}: the exec request was not answered within {seconds_text(seconds)} s"
            ) from None
        raise UnreachableError(f"{target.where}: the exec request failed: {error}") from None
    finally:
        timer.cancel()


def answers(channel: paramiko.Channel, seconds: float) -> bool:
    """Whether sshd answers a round trip (a channel open, answered by sshd itself) within ``seconds``."""
    import paramiko

    transport = channel.get_transport()
    try:
        probe = transport.open_session(timeout=max(0.05, seconds))
    except paramiko.ChannelException:
        return True  # refused (MaxSessions, say): that is an answer
    except Exception:
        return False
    probe.close()
    return True


def pump(
    target: Target,
    channel: paramiko.Channel,
    lines: Lines,
    deadline: Deadline,
    *,
    limit: float,
    idle: float,
    keepalive_interval: float,
    dead_after: float,
    should_cancel: Callable[[], bool] | None,
) -> tuple[str, str, bool]:
    """Read a channel until its command exits or must stop.

    Returns (``""`` | ``"timeout"`` | ``"cancel"``, the reason naming the
    host, whether the connection itself is dead). A command silent for
    ``keepalive_interval`` seconds costs one :func:`answers` round trip per
    interval; no answer within ``dead_after`` means the host is wedged or
    cut off.
    """
    last_data = last_answer = time.monotonic()
    while True:
        got = False
        while channel.recv_ready():
            lines.feed("out", channel.recv(65536))
            got = True
        while channel.recv_stderr_ready():
            lines.feed("err", channel.recv_stderr(65536))
            got = True
        now = time.monotonic()
        if got:
            last_data = last_answer = now
        if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
            return "", "", False
        if deadline.left() <= 0:
            return "timeout", f"{target.where}: the command did not finish within {limit:g} s", False
        if idle and now - last_data > idle:
            return "timeout", f"{target.where}: no output for {idle:g} s (idle timeout): stopped", False
        if should_cancel is not None and should_cancel():
            return "cancel", "", False
        transport = channel.get_transport()
        if transport is None or not transport.is_active():
            return "timeout", f"{target.where}: the SSH connection was lost mid-command", True
        if keepalive_interval > 0 and now - last_answer >= keepalive_interval:
            if not answers(channel, dead_after):
                reason = f"{target.where}: sshd answered no keepalive for {dead_after:g} s"
                return "timeout", reason + ": the host is wedged or cut off", True
            last_answer = time.monotonic()
        time.sleep(POLL_SECONDS)

"""Server-sent events for a run's output.

The stream sends every output line after a sequence number (the browser's
``Last-Event-ID`` on reconnect), polls the store for more, and ends with an
``end`` event once the run is final and every line is sent. Each event's id
is the line's seq, so a reconnect resumes exactly where it stopped.

A stream holds one server thread, so streams are bounded: each lasts at
most ``max_seconds`` (the browser reconnects by itself and resumes) and the
number of simultaneous streams is capped (see :class:`StreamLimiter`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from controlplane.runs import read_output
from controlplane.store.models import Run, RunStatus

if TYPE_CHECKING:
    from flask import Response

    from controlplane.store import Store


def format_event(data: Any, *, event: str | None = None, event_id: int | None = None) -> str:
    """Return one SSE event (data as one line of JSON, so no newline can split it)."""
    parts = []
    if event_id is not None:
        parts.append(f"id: {event_id}")
    if event:
        parts.append(f"event: {event}")
    parts.append("data: " + json.dumps(data, ensure_ascii=False))
    return "\n".join(parts) + "\n\n"


def run_events(
    store: Store,
    run_id: int,
    after: int = 0,
    *,
    poll: float = 0.5,
    max_seconds: float = 300.0,
    keepalive: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """Yield SSE text for a run's lines after ``after`` until the run is final.

    ``after`` is the last seq the client has; ``sleep`` and ``clock`` are for
    tests. Costs a store read every ``poll`` seconds while the stream is
    open, and it holds a server thread until the run is final or
    ``max_seconds`` are up. Yields ``line`` events (id = seq, data = {seq,
    stream, text}), comments as keep-alives, and a final ``end`` event with
    the run's status (none when the time ran out: the browser reconnects).
    """
    started = last_sent = clock()
    yield "retry: 2000\n\n"
    while True:
        with store.session() as session:
            # Status first, lines second: SQLite reads outside a snapshot, so
            # reading lines first could miss the last ones committed just
            # before the run became final and end the stream without them.
            run = session.get(Run, run_id)
            status = run.status if run is not None else None
            lines = read_output(session, run_id, after=after, limit=500)
        for line in lines:
            after = line.seq
            yield format_event(
                {"seq": line.seq, "stream": line.stream, "text": line.text}, event="line", event_id=line.seq
            )
            last_sent = clock()
        if lines:
            continue  # more may be waiting: read again before sleeping
        if status is None or status in RunStatus.FINAL:
            yield format_event({"status": status}, event="end", event_id=after)
            return
        if clock() - started >= max_seconds:
            return  # the browser reconnects with Last-Event-ID and resumes
        if clock() - last_sent >= keepalive:
            yield ": keep-alive\n\n"
            last_sent = clock()
        sleep(poll)


class StreamLimiter:
    """Caps simultaneous event streams so they cannot take every server thread."""

    def __init__(self, limit: int) -> None:
        self._semaphore = threading.BoundedSemaphore(limit)

    def acquire(self) -> bool:
        """Take a slot if one is free; return whether it was taken."""
        return self._semaphore.acquire(blocking=False)

    def release(self) -> None:
        """Give a slot back."""
        self._semaphore.release()

    def wrap(self, events: Iterator[str]) -> GuardedStream:
        """Return an iterable over ``events`` that gives the slot back when closed or exhausted."""
        return GuardedStream(events, self.release)


class GuardedStream:
    """An iterator that calls ``release`` exactly once: when exhausted, or when the server closes it.

    A generator's ``finally`` does not run if it was never started, so the
    release lives in ``close()``, which every WSGI server calls.
    """

    def __init__(self, events: Iterator[str], release: Callable[[], None]) -> None:
        self._events = events
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> GuardedStream:
        return self

    def __next__(self) -> str:
        try:
            return next(self._events)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        """Stop the stream and release its slot (idempotent)."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()
        if self._release is not None:
            release, self._release = self._release, None
            release()


def stream_response(run_id: int) -> Response:
    """The Flask response streaming a run's output lines as server-sent events.

    The caller must have checked access to the run already. Resumes after
    Last-Event-ID (or ``?after=``), takes a slot of the app's stream limiter
    (503 when all are taken) and ends when the run is final or the stream's
    time is up. Shared by the run page and the runbook journal page.
    """
    from flask import Response, current_app, request

    from controlplane.web.errors import ApiError
    from controlplane.web.state import state
    from controlplane.web.validation import query_int

    header = request.headers.get("Last-Event-ID", "")
    after = int(header) if header.isdigit() and len(header) < 10 else query_int("after", 0, 0, 10**9)
    limiter = current_app.extensions["egov.streams"]
    if not limiter.acquire():
        raise ApiError(503, "stream_limit", "too many live streams; reload later")
    events = run_events(
        state().store,
        run_id,
        after,
        poll=float(current_app.config["EGOV_STREAM_POLL"]),
        max_seconds=float(current_app.config["EGOV_STREAM_MAX_SECONDS"]),
    )
    response = Response(limiter.wrap(events), mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"
    return response

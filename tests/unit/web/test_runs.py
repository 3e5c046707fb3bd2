"""Runs in the console: the harmless run end to end, cancel, live output over SSE, pages."""

from __future__ import annotations

import json
import threading
import time

from controlplane.store.models import Run, RunStatus
from tests.unit.web.conftest import audit_actions, login_as, token_for, wait_for_run


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def parse_events(text: str) -> list[dict[str, str]]:
    """Split SSE text into events ({'id', 'event', 'data'}), ignoring comments."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ": " not in line:
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
        if "data" in fields:
            events.append(fields)
    return events


def test_harmless_argv_is_fixed_and_never_a_shell() -> None:
    import sys

    from controlplane.simulated_ping import PING_SCRIPT, ping_argv

    argv = ping_argv("gd-school-1", 0.3)
    assert argv == [sys.executable, "-I", "-c", PING_SCRIPT, "0.300", "gd-school-1"]
    assert "socket" not in PING_SCRIPT and "subprocess" not in PING_SCRIPT


def test_operator_starts_a_harmless_run_that_streams_ten_lines_and_succeeds(client, app, people, store) -> None:
    headers = bearer(token_for(app, people["operator-gd"]))
    created = client.post("/api/v1/runs", json={"kind": "ping", "host": "gd-school-1"}, headers=headers)
    assert created.status_code == 201, created.json
    run_id = created.json["id"]
    assert created.json["site"] == "school-gd-1" and created.json["trigger"] == "api"
    run = wait_for_run(store, run_id)
    assert run.status == RunStatus.SUCCEEDED and run.exit_code == 0 and run.output_lines == 10
    assert run.summary["simulated"] is True
    output = client.get(f"/api/v1/runs/{run_id}/output?after=8", headers=headers).json
    assert [line["seq"] for line in output["lines"]] == [9, 10] and output["final"] is True
    assert output["lines"][-1]["text"] == "simulated reply 10/10 from gd-school-1: no packet sent"
    assert ("run.create", f"run:{run_id}", "ok") in audit_actions(store)


def test_the_page_action_starts_a_run_and_redirects_to_it(client, people, store) -> None:
    csrf = login_as(client, people["admin-gd"])
    response = client.post("/runs/new", data={"kind": "ping", "host": "gd-edu-1", "csrf_token": csrf})
    assert response.status_code == 302 and response.headers["Location"].startswith("/runs/")
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    wait_for_run(store, run_id)
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert "simulated reply 10/10 from gd-edu-1" in page
    assert 'data-stream="' not in page  # final: no live stream
    host_page = client.get("/hosts/gd-edu-1").get_data(as_text=True)
    assert f"/runs/{run_id}" in host_page


def test_cancel_stops_the_process_and_ends_cancelled(app, people, store, client) -> None:
    app.extensions["egov.runner"].interval = 0.5  # slow enough to cancel mid-way
    headers = bearer(token_for(app, people["operator-gd"]))
    run_id = client.post("/api/v1/runs", json={"kind": "ping", "host": "gd-school-1"}, headers=headers).json["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with store.session() as session:
            if session.get(Run, run_id).output_lines >= 1:
                break
        time.sleep(0.02)
    cancelled = client.post(f"/api/v1/runs/{run_id}/cancel", headers=headers)
    assert cancelled.status_code == 202
    run = wait_for_run(store, run_id)
    assert run.status == RunStatus.CANCELLED and run.output_lines < 10
    again = client.post(f"/api/v1/runs/{run_id}/cancel", headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "run_final"
    assert ("run.cancel", f"run:{run_id}", "ok") in audit_actions(store)


def test_shutdown_interrupts_active_runs(app, people, store, client) -> None:
    from controlplane.web import shutdown

    app.extensions["egov.runner"].interval = 0.5
    headers = bearer(token_for(app, people["root"]))
    run_id = client.post("/api/v1/runs", json={"kind": "ping", "host": "mn-portal-1"}, headers=headers).json["id"]
    time.sleep(0.3)
    shutdown(app)
    assert wait_for_run(store, run_id).status == RunStatus.INTERRUPTED


def test_too_many_active_runs_is_429(app, people, client, monkeypatch) -> None:
    from controlplane.web import actions

    monkeypatch.setattr(actions, "MAX_ACTIVE", 0)
    headers = bearer(token_for(app, people["root"]))
    response = client.post("/api/v1/runs", json={"kind": "ping", "host": "mn-portal-1"}, headers=headers)
    assert response.status_code == 429 and response.json["error"]["code"] == "too_many_runs"


def test_run_events_stream_lines_as_they_are_appended_then_end(store) -> None:
    from controlplane.runs import append_output, create_run, finish_run
    from controlplane.web.sse import run_events

    with store.session() as session:
        run = create_run(session, kind="ping", target="gd-school-1", actor="t", site="school-gd-1")
        append_output(session, run, ["first"])
        run_id = run.id

    def writer() -> None:
        for index in range(2, 5):
            time.sleep(0.05)
            with store.session() as session:
                append_output(session, session.get(Run, run_id), [f"line {index}"])
        with store.session() as session:
            finish_run(session, session.get(Run, run_id), RunStatus.SUCCEEDED, exit_code=0)

    thread = threading.Thread(target=writer)
    thread.start()
    text = "".join(run_events(store, run_id, after=0, poll=0.01, max_seconds=10))
    thread.join()
    events = parse_events(text)
    lines = [e for e in events if e.get("event") == "line"]
    assert [json.loads(e["data"])["text"] for e in lines] == ["first", "line 2", "line 3", "line 4"]
    assert [e["id"] for e in lines] == ["1", "2", "3", "4"]
    assert events[-1]["event"] == "end" and json.loads(events[-1]["data"]) == {"status": "succeeded"}


def test_run_events_never_end_before_the_lines_committed_just_before_the_run_became_final(store, monkeypatch) -> None:
    """The last line and the final status can land between the stream's two reads; the stream must still send it."""
    from controlplane.runs import append_output, create_run, finish_run
    from controlplane.web import sse

    with store.session() as session:
        run = create_run(session, kind="ping", target="gd-school-1", actor="t", site="school-gd-1")
        run_id = run.id
    real_read_output = sse.read_output
    raced = []

    def read_then_the_run_finishes(session, run_id_, **kwargs):
        lines = real_read_output(session, run_id_, **kwargs)
        if not lines and not raced:  # the writer commits its last line and the end right after this read
            raced.append(True)
            with store.session() as other:
                append_output(other, other.get(Run, run_id), ["last line"])
                finish_run(other, other.get(Run, run_id), RunStatus.SUCCEEDED, exit_code=0)
        return lines

    monkeypatch.setattr(sse, "read_output", read_then_the_run_finishes)
    events = parse_events("".join(sse.run_events(store, run_id, after=0, poll=0.01, max_seconds=10)))
    assert raced
    assert [json.loads(e["data"])["text"] for e in events if e.get("event") == "line"] == ["last line"]
    assert events[-1]["event"] == "end"


def test_run_events_resume_after_a_seq_and_respect_the_time_limit(store) -> None:
    from controlplane.runs import append_output, create_run
    from controlplane.web.sse import run_events

    with store.session() as session:
        run = create_run(session, kind="ping", target="gd-school-1", actor="t", site="school-gd-1")
        append_output(session, run, ["a", "b", "c"])
        run_id = run.id
    clock = iter(float(n) for n in range(1000))
    text = "".join(
        run_events(store, run_id, after=2, poll=0, max_seconds=5, sleep=lambda _s: None, clock=lambda: next(clock))
    )
    events = parse_events(text)
    assert [e["id"] for e in events] == ["3"]  # resumed after seq 2; no 'end': the run is still running


def test_run_events_keep_alive_comments(store) -> None:
    from controlplane.runs import create_run
    from controlplane.web.sse import run_events

    with store.session() as session:
        run_id = create_run(session, kind="ping", target="x", actor="t").id
    ticks = iter(float(n) * 10 for n in range(100))
    text = "".join(
        run_events(
            store, run_id, poll=0, max_seconds=45, keepalive=15, sleep=lambda _s: None, clock=lambda: next(ticks)
        )
    )
    assert ": keep-alive" in text


def test_stream_endpoint_uses_last_event_id(client, people, store) -> None:
    from controlplane.runs import append_output, create_run, finish_run

    with store.session() as session:
        run = create_run(session, kind="ping", target="gd-school-1", actor="t", site="school-gd-1")
        append_output(session, run, ["one", "two", "<b>three</b>"])
        finish_run(session, run, RunStatus.FAILED, exit_code=1)
        run_id = run.id
    login_as(client, people["auditor-gd"])
    response = client.get(f"/runs/{run_id}/stream", headers={"Last-Event-ID": "1"})
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = parse_events(response.get_data(as_text=True))
    assert [json.loads(e["data"]).get("text") for e in events if e.get("event") == "line"] == ["two", "<b>three</b>"]
    assert json.loads(events[-1]["data"]) == {"status": "failed"}
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert "&lt;b&gt;three&lt;/b&gt;" in page and "<b>three</b>" not in page


def test_stream_slots_are_limited_and_released(app, client, people, store) -> None:
    from controlplane.runs import create_run, finish_run

    with store.session() as session:
        run = create_run(session, kind="ping", target="gd-school-1", actor="t", site="school-gd-1")
        finish_run(session, run, RunStatus.SUCCEEDED)
        run_id = run.id
    login_as(client, people["oncall-gd"])
    limiter = app.extensions["egov.streams"]
    held = []
    while limiter.acquire():
        held.append(1)
    busy = client.get(f"/runs/{run_id}/stream")
    assert busy.status_code == 503
    for _ in held:
        limiter.release()
    for _ in range(len(held) + 2):  # more streams than slots: each one gives its slot back
        response = client.get(f"/runs/{run_id}/stream")
        assert response.status_code == 200
        response.get_data()
        response.close()
    # A client that leaves before reading anything gives its slot back too (the server closes the body).
    for _ in range(len(held) + 2):
        response = client.get(f"/runs/{run_id}/stream")
        assert response.status_code == 200
        response.close()


def test_runs_page_filters_and_pages(client, people, store) -> None:
    from controlplane.runs import create_run, finish_run

    with store.session() as session:
        for index in range(30):
            run = create_run(
                session, kind="scan" if index % 2 else "ping", target="gd-school-1", actor="t", site="school-gd-1"
            )
            if index % 3 == 0:
                finish_run(session, run, RunStatus.FAILED)
    login_as(client, people["oncall-gd"])
    page = client.get("/runs?status=failed&kind=scan").get_data(as_text=True)
    assert "Page 1 of 1 (5 runs)" in page
    first = client.get("/runs").get_data(as_text=True)
    assert "Page 1 of 2 (30 runs)" in first and "/runs?page=2" in first
    assert client.get("/runs?status=<script>").status_code == 400


def test_dashboard_shows_scoped_sites_hosts_and_counts(client, people, store) -> None:
    from controlplane.runs import create_run, finish_run

    with store.session() as session:
        finish_run(
            session,
            create_run(session, kind="ping", target="gd-school-1", actor="t", site="school-gd-1"),
            RunStatus.FAILED,
        )
        create_run(session, kind="ping", target="mn-portal-1", actor="t", site="ministry")
    login_as(client, people["oncall-gd"])
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "gd-school-1" in page and "gd-edu-1" in page
    assert "mn-portal-1" not in page and "dr-app-1" not in page
    assert "<strong>1</strong> failed" in page and "<strong>0</strong> running" in page
    api = client.get("/api/v1/dashboard").json
    assert [s["name"] for s in api["sites"]] == ["province-gd", "school-gd-1"]
    school = api["sites"][1]["hosts"][0]
    assert school["name"] == "gd-school-1" and school["last_run"]["status"] == "failed"

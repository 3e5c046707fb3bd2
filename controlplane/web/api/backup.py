"""The backup JSON API (its own blueprint under ``/api/v1/backup``).

* ``GET /api/v1/backup/status`` — the readiness rows (dataset, host, last success,
  age against RPO, last check, last drill, verdict) within the caller's scope
* ``GET /api/v1/backup/<dataset>/<host>/snapshots`` — snapshots recorded by our runs
* ``GET /api/v1/backup/<dataset>/<host>/drills`` — restore drills with RPO/RTO figures
* ``POST /api/v1/backup/<dataset>/<host>/run`` — start a backup (or ``{"action": "drill"}``), 202
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, jsonify, request

from controlplane.web.api.docs import WRITE_ERRORS, any_object, items_of, operation, path_param
from controlplane.web.policy import current_scope, requires
from controlplane.web.services.backup import ACTIONS, find_unit, policy_view, start_operation
from controlplane.web.state import state

if TYPE_CHECKING:
    import datetime as dt

    from flask.typing import ResponseReturnValue

bp = Blueprint("backup_api", __name__, url_prefix="/api/v1/backup")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@bp.get("/status")
@requires("backup.view", scoped=True)
def status() -> ResponseReturnValue:
    """The DR readiness rows of every unit in scope."""
    from controlplane.backup.report import readiness

    scope = current_scope()
    return jsonify({"items": [row for row in readiness(policy_view()) if scope.allows(row["site"])]})


@bp.get("/<dataset>/<host>/snapshots")
@requires("backup.view", scoped=True)
def snapshots(dataset: str, host: str) -> ResponseReturnValue:
    """Snapshots of one unit made by our runs, newest first, with their figures."""
    from controlplane.backup.records import recent_snapshots

    find_unit(policy_view(), dataset, host)
    with state().store.session() as db:
        rows = recent_snapshots(db, dataset, host, 100)
        items = [
            {
                "snapshot_id": r.snapshot_id,
                "time": _iso(r.snapshot_time),
                "run_id": r.run_id,
                "files_new": r.files_new,
                "files_changed": r.files_changed,
                "bytes_added": r.bytes_added,
                "duration_seconds": r.duration_seconds,
                "partial": r.partial,
                "manifest_files": len(r.manifest["files"]) if r.manifest else None,
            }
            for r in rows
        ]
    return jsonify({"items": items})


@bp.get("/<dataset>/<host>/drills")
@requires("backup.view", scoped=True)
def drills(dataset: str, host: str) -> ResponseReturnValue:
    """Restore drills of one unit, newest first."""
    from controlplane.backup.records import recent_drills

    find_unit(policy_view(), dataset, host)
    with state().store.session() as db:
        rows = recent_drills(db, dataset, host, 100)
        items = [
            {
                "run_id": r.run_id,
                "drill_host": r.drill_host,
                "snapshot_id": r.snapshot_id,
                "started_at": _iso(r.started_at),
                "passed": r.passed,
                "data_age_seconds": r.data_age_seconds,
                "rto_seconds": r.rto_seconds,
                "files_checked": r.files_checked,
                "message": r.message,
            }
            for r in rows
        ]
    return jsonify({"items": items})


@bp.post("/<dataset>/<host>/run")
@requires("backup.run", scoped=True)
def run(dataset: str, host: str) -> ResponseReturnValue:
    """Start a backup or drill of one unit now; 202 with what was started."""
    unit = find_unit(policy_view(), dataset, host)
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict) or set(body) - {"action"}:
        abort(400)  # one field only: unknown fields are refused like everywhere in the API
    action = body.get("action", "backup")
    if action not in ACTIONS or (action == "drill" and unit.dataset.drill is None):
        abort(400)
    run_id = start_operation(action, dataset, host)
    return jsonify({"started": action, "dataset": dataset, "host": host, "run_id": run_id}), 202


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
# run() checks the request by hand; it also takes the "copy" of ACTIONS, which this never listed.
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "BackupRunRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"action": {"enum": ["backup", "drill"]}},
    },
}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of the backup API (assembled by controlplane.web.openapi)."""
    row = any_object()
    items = items_of(row)
    unit = [path_param("dataset"), path_param("host")]
    return {
        "/api/v1/backup/status": {
            "get": operation("DR readiness per dataset and host in the caller's scope", items, tag="backup")
        },
        "/api/v1/backup/{dataset}/{host}/snapshots": {
            "get": operation("Snapshots of one dataset on one host, newest first", items, params=unit, tag="backup")
        },
        "/api/v1/backup/{dataset}/{host}/drills": {
            "get": operation(
                "Restore drills of one dataset on one host, newest first", items, params=unit, tag="backup"
            )
        },
        "/api/v1/backup/{dataset}/{host}/run": {
            "post": operation(
                "Start a backup or a restore drill of one dataset on one host now",
                {
                    "type": "object",
                    "required": ["started", "dataset", "host", "run_id"],
                    "properties": {
                        "started": {"enum": list(ACTIONS)},
                        "dataset": {"type": "string"},
                        "host": {"type": "string"},
                        "run_id": {"type": "integer", "description": "the queued run (GET /api/v1/runs/{id})"},
                    },
                },
                status=202,
                body="BackupRunRequest",
                params=unit,
                errors=WRITE_ERRORS,
                tag="backup",
            )
        },
    }

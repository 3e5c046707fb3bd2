"""The runs listing for the console and the API: one reading of the query, one scoped query."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from controlplane.store.models import RunStatus
from controlplane.web import queries
from controlplane.web.policy import current_scope
from controlplane.web.validation import query_choice, query_int, query_text

KIND = r"^[a-z0-9_-]{1,32}$"
PER_PAGE = 25


@dataclass(frozen=True)
class RunsQuery:
    """The filters of a runs listing (``?status=&kind=&page=&per_page=``), validated."""

    status: str | None
    kind: str | None
    page: int
    per_page: int


def runs_query(per_page_allowed: bool) -> RunsQuery:
    """Read the runs filters from the request; a bad value is an ApiError 400 (via the validation helpers).

    The console pages 25 at a time; the API lets the caller choose up to 100.
    """
    return RunsQuery(
        status=query_choice("status", RunStatus.ALL),
        kind=query_text("kind", KIND),
        page=query_int("page", 1, 1, 100000),
        per_page=query_int("per_page", PER_PAGE, 1, 100) if per_page_allowed else PER_PAGE,
    )


def list_runs(db: Session, query: RunsQuery) -> queries.Page:
    """One page of the runs the current user's scope covers, newest first."""
    return queries.list_runs(
        db, current_scope(), status=query.status, kind=query.kind, page=query.page, per_page=query.per_page
    )

"""The availability report as files: HTML (with its SVG charts), PDF, CSV and JSON, in Chinese or English.

The HTML is one self-contained page (styles inline in the file, charts as
SVG, no script, no external resource), so the PDF is that page printed by
Debian's chromium in headless mode, reading a local file — its Chinese text
set in a CJK font from Debian's packages (fonts-noto-cjk, installed by
``scripts/setup.sh``). The CSV has one row per service; the JSON is the
report's data as built.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError, EgovError
from controlplane.slo import charts, labels

if TYPE_CHECKING:
    from jinja2 import Environment

FORMATS = ("html", "pdf", "csv", "json")
PDF_TIMEOUT = 120.0
CSV_COLUMNS = (
    "service", "title", "site", "objective", "availability", "worst_case_availability", "budget_used",
    "budget_left_seconds", "bad_seconds", "unknown_seconds", "maintenance_seconds", "incidents", "mttr_seconds",
    "mtta_seconds", "mtbf_seconds",
)  # fmt: skip


def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("controlplane.slo", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def chart_markup(section: dict[str, Any], lang: str) -> dict[str, str]:
    """The SVG charts of one service section (daily bars and burn-down)."""
    return {
        "daily": charts.daily_bars(section["days"], section["objective"], lang),
        "burn": charts.burn_down(section["burn_down"], len(section["days"]), lang),
    }


def html(report: dict[str, Any], lang: str = "zh") -> str:
    """The report as one HTML page in ``lang`` (zh or en)."""
    from markupsafe import Markup

    if lang not in labels.LANGS:
        raise BadInputError(f"unknown language {lang!r} (use zh or en)")
    markup = {s["name"]: {k: Markup(v) for k, v in chart_markup(s, lang).items()} for s in report["services"]}  # noqa: S704 - our own SVG, numbers and escaped words only
    return (
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            lang=lang,
            charts=markup,
            t=lambda key, **values: labels.text(lang, key, **values),
            duration=lambda seconds: labels.duration(seconds, lang),
            percent=labels.percent,
            local=lambda iso: local_time(iso, report["timezone"]),
        )
    )


def local_time(iso: str | None, zone: str) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS`` in the report's time zone."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    if not iso:
        return ""
    return dt.datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def csv_text(report: dict[str, Any], lang: str = "zh") -> str:
    """One row per service with the month's figures (seconds and ratios)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for section in report["services"]:
        repair = section["repair"]
        title = section["title_zh"] if lang == "zh" else section["title_en"]
        values = [section["name"], title, section["site"]]
        values += [section[key] for key in CSV_COLUMNS[3:11]]
        values += [repair["incidents"], repair["mttr_seconds"], repair["mtta_seconds"], repair["mtbf_seconds"]]
        writer.writerow(["" if v is None else _cell(v) for v in values])
    return out.getvalue()


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def json_text(report: dict[str, Any]) -> str:
    """The report's data as indented JSON (UTF-8)."""
    return json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"


def pdf_argv(chromium: str, page: Path, output: Path, profile: Path) -> list[str]:
    """The chromium command that prints a local HTML page to PDF (no sandbox: it runs as root in the lab)."""
    return [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--no-pdf-header-footer",
        f"--print-to-pdf={output}",
        page.as_uri(),
    ]


def pdf_bytes(page_html: str, chromium: str | None = None) -> bytes:
    """Print the HTML page to PDF with headless chromium; return the PDF.

    Raises EgovError when chromium is missing (``scripts/setup.sh`` installs
    it) or prints nothing. The page and chromium's profile live in a private
    temporary folder, removed afterwards.
    """
    from controlplane import execute

    program = chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if not program:
        raise EgovError("chromium is not installed: the PDF needs it (scripts/setup.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="egov-report-") as folder:
        page = Path(folder) / "report.html"
        page.write_text(page_html, encoding="utf-8")
        output = Path(folder) / "report.pdf"
        result = execute.run(pdf_argv(program, page, output, Path(folder) / "profile"), timeout=PDF_TIMEOUT)
        if not result.ok or not output.exists() or output.stat().st_size == 0:
            raise EgovError(result.error_message("chromium --print-to-pdf"))
        return output.read_bytes()


def render(report: dict[str, Any], fmt: str, lang: str = "zh") -> bytes:
    """The report in ``fmt`` (html, pdf, csv, json) as bytes. Raises BadInputError for another format."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    if lang not in labels.LANGS:
        raise BadInputError(f"unknown language {lang!r} (use zh or en)")
    if fmt == "json":
        return json_text(report).encode()
    if fmt == "csv":
        return ("\ufeff" + csv_text(report, lang)).encode()  # the BOM makes spreadsheets read it as UTF-8
    page = html(report, lang)
    return pdf_bytes(page) if fmt == "pdf" else page.encode()

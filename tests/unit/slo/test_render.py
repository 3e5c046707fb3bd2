"""The report's files: a PDF whose text (pdftotext) holds the Chinese headings, HTML with SVG, CSV, JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.unit.slo.conftest import MONTH, at, drive, timeline


@pytest.fixture
def report(monitor, store, levels) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from controlplane.slo.report import build_report

    drive(monitor, timeline(900, lambda s: not 300 <= s < 360))
    return build_report(store, levels, MONTH, now=at(900))


def test_the_pdf_command_prints_a_local_file_headless_without_network(tmp_path: Path) -> None:
    from controlplane.slo.render import pdf_argv

    page, output, profile = tmp_path / "r.html", tmp_path / "r.pdf", tmp_path / "p"
    assert pdf_argv("/usr/bin/chromium", page, output, profile) == [
        "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={output}",
        f"file://{page}",
    ]  # fmt: skip


@pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("pdftotext") is None,
                    reason="chromium and pdftotext (poppler-utils) come with scripts/setup.sh")  # fmt: skip
def test_the_pdf_renders_the_chinese_headings(report: dict[str, Any], tmp_path: Path) -> None:
    from controlplane.slo.render import render

    pdf = render(report, "pdf", "zh")
    assert pdf.startswith(b"%PDF")
    (tmp_path / "r.pdf").write_bytes(pdf)
    words = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True)
    for heading in (
        "业务系统可用性报告",
        "部级汇总：各地区排名",
        "每日可用率",
        "本月错误预算剩余",
        "故障列表",
        "教育门户",
    ):
        assert heading in words.stdout, heading


def test_the_html_report_has_svg_charts_no_script_and_both_languages(report: dict[str, Any]) -> None:
    from controlplane.slo.render import render

    chinese = render(report, "html", "zh").decode()
    english = render(report, "html", "en").decode()
    assert "业务系统可用性报告" in chinese and "Service availability report" in english
    assert chinese.count("<svg") == 2 * len(report["services"])
    assert "<script" not in chinese and "http://" not in chinese.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # The outage of 60 s shows: its day is red (below 99.9 %), the incident is listed.
    assert 'fill="#c62828"' in chinese
    assert "PortalHTTPDown" in english


def test_csv_and_json_carry_the_same_figures(report: dict[str, Any]) -> None:
    from controlplane.slo.render import render

    rows = render(report, "csv", "en").decode("utf-8-sig").splitlines()
    assert rows[0].startswith("service,title,site,objective,availability")
    portal = next(r for r in rows if r.startswith("portal,"))
    assert ",60.0," in portal  # bad seconds
    data = json.loads(render(report, "json"))
    assert next(s for s in data["services"] if s["name"] == "portal")["bad_seconds"] == 60.0


def test_a_spreadsheet_formula_in_a_cell_is_neutralised_and_bad_formats_refused(report: dict[str, Any]) -> None:
    from controlplane.errors import BadInputError
    from controlplane.slo.render import _cell, render

    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _cell("-0.5") == "-0.5"
    for fmt, lang in (("xlsx", "zh"), ("html", "fr"), ("../x", "zh")):
        with pytest.raises(BadInputError):
            render(report, fmt, lang)


def test_egov_report_availability_writes_the_files_and_refuses_bad_input(site, store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import egov

    folder = Path(site.source).parent
    done = egov(folder, "report", "availability", "--month", MONTH, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert {s["name"] for s in json.loads(done.stdout)["services"]} == {"portal", "backup-center"}
    done = egov(folder, "report", "availability", "--month", MONTH, "--format", "csv", "--lang", "en", "--site",
                "backup-center", "-o", str(tmp_path / "r.csv"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()[1].startswith("backup-center,")
    for bad in (["--month", "2026-13"], ["--site", "$(id)"], ["--format", "pdf"], ["--month", "2099-01"]):
        done = egov(folder, "report", "availability", *bad)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (bad, done.stderr)

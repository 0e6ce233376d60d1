"""The report in a real browser: headless Debian chromium renders it (desktop, phone, print) with no
console message and no network request (skipped when chromium is not installed; .ci/run installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from monitor.store import Store
from reports.publish import ReportFiles, write_weekly_report
from tests.report_data import sample_run
from tests.test_report import make_settings

CHROMIUM = shutil.which("chromium") or (str(Path("/usr/bin/chromium")) if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)"
)
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n"


def chromium(tmp_path: Path, page: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run headless chromium on `page`; returns the process and the URLs the page requested.

    Every host resolves to nothing, so nothing leaves the machine; the net log shows what the page
    tried to fetch (requests made for the file:// page, not the browser's own background ones).
    """
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    net_log = profile.with_suffix(".netlog.json")
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--log-net-log={net_log}", *args, page.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done, _page_requests(net_log)


def _page_requests(net_log: Path) -> list[str]:
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start_job and "file://" in str(event.get("params", {}).get("network_isolation_key", ""))
    ]


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture
def report(tmp_path: Path) -> ReportFiles:
    settings = make_settings(tmp_path, base_url="https://reports.example.com/ftready")
    return write_weekly_report(settings, Store(settings.store_url), sample_run(NOW), now=NOW)


def test_the_checks_detect_console_messages_and_network_requests(tmp_path: Path) -> None:
    """Guards the checks below against a chromium whose logs no longer show what they look for."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><link rel="stylesheet" href="https://fonts.example.invalid/f.css">'
        '<img src="http://cdn.example.invalid/a.png"><script>console.error("boom")</script>'
    )
    done, requests = chromium(tmp_path, page, f"--screenshot={tmp_path / 'bad.png'}", "--window-size=400,300")
    assert any('"boom"' in line for line in console_lines(done.stderr)), done.stderr[-2000:]
    assert set(requests) >= {"https://fonts.example.invalid/f.css", "http://cdn.example.invalid/a.png"}


@pytest.mark.parametrize("width", [1280, 390])
def test_report_renders_in_chromium_without_console_messages_or_requests(
    tmp_path: Path, report: ReportFiles, width: int
) -> None:
    shot = tmp_path / f"report-{width}.png"
    done, requests = chromium(tmp_path, report.html, f"--screenshot={shot}", f"--window-size={width},2400")
    assert shot.read_bytes().startswith(PNG) and shot.stat().st_size > 20_000
    assert console_lines(done.stderr) == []
    assert requests == []


def test_report_dom_in_chromium_has_every_workload(tmp_path: Path, report: ReportFiles) -> None:
    done, requests = chromium(tmp_path, report.html, "--dump-dom")
    for workload in report.view.workloads:
        assert f'id="{workload.anchor}"' in done.stdout
    charts = sum(
        bool(w.examples_chart.points) + any(m.calls for m in w.calls_chart.months) for w in report.view.workloads
    )
    assert done.stdout.count('class="chart"') == charts > 0
    assert requests == []


def test_report_prints_to_pdf(tmp_path: Path, report: ReportFiles) -> None:
    pdf = tmp_path / "report.pdf"
    done, requests = chromium(tmp_path, report.html, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 20_000
    assert console_lines(done.stderr) == [] and requests == []


def test_index_renders_in_chromium(tmp_path: Path, report: ReportFiles) -> None:
    shot = tmp_path / "index.png"
    done, requests = chromium(tmp_path, report.index, f"--screenshot={shot}", "--window-size=1024,600")
    assert shot.read_bytes().startswith(PNG)
    assert console_lines(done.stderr) == [] and requests == []

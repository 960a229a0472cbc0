"""`hetflow report` as a person meets it: the page opened in a real, headless Chromium.

Fails on any console error or failed request, checks that the main parts are there and
visible, and saves a screenshot to ``artifacts/`` (or ``$HETFLOW_ARTIFACTS``) for CI.
Needs Debian's ``chromium`` (.ci/run installs it) and the ``playwright`` package, which
drives that browser: no browser is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.fake_trace import write_trace

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("HETFLOW_ARTIFACTS", ROOT / "artifacts"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)"),
    pytest.mark.slow,
]


def _hetflow(*args: str, cwd: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "hetflow", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from hetflow.plan.model import Plan

    tmp = tmp_path_factory.mktemp("report")
    plan = tmp / "contract_review.plan.json"
    _hetflow("compile", str(ROOT / "examples" / "contract_review.het"), "-o", str(plan), cwd=tmp)
    trace = write_trace(Plan.load(plan), tmp / "run.jsonl")
    out = tmp / "report.html"
    _hetflow("report", str(plan), "--trace", str(trace), "--simulate", "-o", str(out), cwd=tmp)
    return out


def test_the_report_opens_cleanly_in_chromium(report):
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    requests: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=FLAGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")

            for selector in (
                "#title",
                "#kpis",
                "svg.graph",
                "svg.gantt",
                "#cost",
                "#versus",
                "#placement-table",
                "#baseline",
                ".legend",
            ):
                assert page.locator(selector).first.is_visible(), selector
            assert page.locator("#title").inner_text() == "contract_review"
            # the graph: every node, coloured by chip; the time line: bars
            assert page.locator("svg.graph g.n").count() == 5
            assert page.locator("svg.gantt rect.bar.a").count() >= 2
            # the tables, filled by the page's script
            assert page.locator("#placement-table tbody tr").count() == 5
            assert "llama-3.1-8b" in page.locator("#placement-table").inner_text()
            assert page.locator("#versus-table tbody tr").count() == 3  # the run, 2 steps
            assert page.locator("#versus-table tbody tr.total").inner_text().startswith("whole run")
            assert "undefined" not in page.locator("main").inner_text()
            assert "NaN" not in page.locator("main").inner_text()
            # a tooltip on hovering a node
            page.locator('svg.graph g.n[data-node="verdict"]').hover()
            assert page.locator("#tip").is_visible()
            assert "verdict" in page.locator("#tip").inner_text()
            # the filter
            page.locator("#filter").fill("summary")
            assert page.locator("#placement-table tbody tr:visible").count() == 1
            page.locator("#filter").fill("")
            page.mouse.move(0, 0)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    # nothing but the page itself was asked for: no network, every asset inline
    assert requests == [report.as_uri()]

"""`hetflow report`: what the page holds, that it stands alone, its size on a big plan, and
the one-line errors of a bad trace.  (tests/test_report_browser.py opens it in Chromium.)"""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest

from hetflow.commands.main import main
from hetflow.compiler import compile
from hetflow.errors import HetError
from hetflow.report.build import build_report
from tests.support.fake_trace import write_trace

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plan():
    return compile(ROOT / "examples" / "contract_review.het")


def _standalone(html: str) -> None:
    """No asset from elsewhere: no src/href to a URL, no @import, no url() but data:."""
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "@import" not in html
    assert not re.search(r"url\((?!#|data:)", html)


def test_plan_alone(plan):
    html = build_report(plan)
    _standalone(html)
    for part in ('id="graph"', 'id="timeline"', 'id="cost"', 'id="placement"', 'id="baseline"'):
        assert part in html
    assert 'id="versus"' not in html  # no trace, no predicted vs actual
    assert "the optimizer&#39;s schedule" in html or "the optimizer's schedule" in html
    data = json.loads(re.search(r'id="data">(.*?)</script>', html, re.S).group(1))
    assert [n[0] for n in data["nodes"]] == [n.id for n in plan.nodes]
    verdict = next(n for n in data["nodes"] if n[0] == "verdict")
    assert data["chips"][verdict[3]] == plan.node("verdict").assignment.chip
    assert len(verdict[9]) == min(3, len(plan.node("verdict").alternatives))
    # the graph: every node, the inputs, coloured by chip class
    assert html.count('<g class="n ') == len(plan.nodes)
    assert '<g class="in" data-node="contract">' in html


def test_the_deadline_is_drawn_on_the_time_line(plan):
    tight = plan.model_copy(update={"deadline_s": plan.estimate.latency_s * 1.2})
    assert 'class="dl"' in build_report(tight)
    assert 'class="dl"' not in build_report(plan.model_copy(update={"deadline_s": None}))
    far = plan.model_copy(update={"deadline_s": plan.estimate.latency_s * 10})
    assert 'class="dl"' not in build_report(far)  # far past the run: not worth a squashed chart


def test_trace_and_simulation(plan, tmp_path):
    trace = write_trace(plan, tmp_path / "run.jsonl")
    html = build_report(plan, trace=trace, simulate=True)
    _standalone(html)
    assert 'id="versus"' in html
    assert "pale bars: the simulation; solid bars: the traced run" in html
    assert 'class="bar a ' in html and 'class="bar p ' in html
    data = json.loads(re.search(r'id="data">(.*?)</script>', html, re.S).group(1))
    rows = {r[0]: r for r in data["versus"]}
    assert set(rows) == {"verdict", "summary"}
    calls = sum(1 for line in trace.read_text().splitlines() if '"verdict"' in line)
    assert rows["verdict"][3][0] == calls


def test_command_writes_next_to_the_plan(plan, tmp_path, capsys):
    path = tmp_path / "flow.plan.json"
    plan.save(path)
    assert main(["report", str(path)]) == 0
    out = tmp_path / "flow.report.html"
    assert out.read_text().startswith("<!doctype html>")
    assert "report written to" in capsys.readouterr().err


def test_bad_traces_are_one_line_errors(plan, tmp_path, capsys):
    path = tmp_path / "p.plan.json"
    plan.save(path)
    bad = tmp_path / "bad.jsonl"
    for text, says in (
        ("not json\n", "is not a JSON line of a trace"),
        ('{"x": 1}\n', "names the node of its call"),
        ('{"node": "nope", "run": "r"}\n', "the plan does not have (nope)"),
        ("\n", "holds no call records"),
    ):
        bad.write_text(text)
        with pytest.raises(HetError, match=re.escape(says)):
            build_report(plan, trace=bad)
        assert main(["report", str(path), "--trace", str(bad), "-o", "-"]) == 1
        assert says in capsys.readouterr().err
    assert main(["report", str(path), "--trace", str(tmp_path / "none.jsonl")]) == 1
    write_trace(plan, bad)
    with pytest.raises(HetError, match="has no run 'zzz'"):
        build_report(plan, trace=bad, run="zzz")


def _big(n: int = 1000, seed: int = 1) -> str:
    rng = random.Random(seed)
    lines = ["workflow big {", "  input doc: text ~ 20k tokens", "  objective cost"]
    names: list[str] = []
    for i in range(n):
        if i % 5 == 0:
            src = rng.choice(names[-40:]) if names else "doc"
            lines.append(f'  extract s{i} = grep({src}, "x")')
        else:
            reads = rng.sample(names[-30:], min(2, len(names))) if names else ["doc"]
            refs = " ".join("{{ " + r + " }}" for r in reads)
            lines.append(
                f'  reason s{i} = prompt "Step {i}: {refs}" needs reasoning >= {rng.randint(1, 4)}'
            )
        names.append(f"s{i}")
    lines += ["  output " + ", ".join(names[-20:]), "}"]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_a_1000_node_plan_stays_under_a_megabyte(tmp_path):
    plan = compile(_big(), time_limit=20)
    assert len(plan.nodes) == 1000
    trace = write_trace(plan, tmp_path / "run.jsonl")
    started = time.perf_counter()
    html = build_report(plan, trace=trace, simulate=True)
    took = time.perf_counter() - started
    size = len(html.encode())
    assert size < 1_000_000, f"{size / 1024:.0f} KiB"
    assert took < 20, took
    assert html.count('<g class="n ') == 1000

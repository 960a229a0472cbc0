"""``hetflow run``: outputs on stdout, the summary on stderr, one-line errors, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import contract, contract_model

import hetflow
from hetflow.commands.main import main

ROOT = Path(__file__).parent.parent
EXAMPLE = str(ROOT / "examples" / "contract_review.het")


def setup(home, server, n=6):
    server.script("coder", reply=contract_model)
    catalog = local_catalog(home, server.url)
    text = home / "contract.txt"
    text.write_text(contract(n))
    return catalog, text


def test_run_a_het_file_prints_outputs_as_json_and_the_summary(server, home, capsys):
    catalog, text = setup(home, server)
    trace = home / "t.jsonl"

    code = main(
        [
            "run",
            EXAMPLE,
            "--catalog",
            str(catalog),
            "--input",
            f"contract=@{text}",
            "--trace",
            str(trace),
        ]
    )
    out = capsys.readouterr()

    assert code == 0, out.err
    assert json.loads(out.out) == {"summary": "SUMMARY: 2 risky clauses", "risky": 2}
    assert "cost $" in out.err and "estimated" in out.err
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert len(lines) == 7 and {
        "node",
        "model",
        "chip",
        "tokens_in",
        "cost_usd",
        "started",
        "ended",
        "retries",
        "fallback",
        "cached",
    } <= set(lines[0])


def test_run_a_plan_json(server, home, capsys):
    catalog, text = setup(home, server)
    plan = home / "plan.json"
    hetflow.compile(EXAMPLE, catalog=str(catalog)).save(plan)

    code = main(["run", str(plan), "--input", f"contract={contract(3)}", "--no-cache"])

    assert code == 0
    assert json.loads(capsys.readouterr().out)["risky"] == 1


def test_a_budget_stop_exits_1_with_one_line_and_keeps_what_finished(server, home, capsys):
    """The plan fits the budget, but the calls cost more than estimated (the server
    reports every byte as a token and writes max_tokens): the run stops cleanly."""
    catalog, text = setup(home, server, n=40)
    server.script(
        "coder",
        reply=contract_model,
        usage=lambda body, _: (
            len(json.dumps(body["messages"])),
            body.get("max_tokens") or body.get("max_completion_tokens") or 300,
        ),
    )
    plan = hetflow.compile(EXAMPLE, catalog=str(catalog), inputs={"contract": text.read_text()})
    budget = f"{plan.estimate.cost_usd:.6f}"

    code = main(
        [
            "run",
            EXAMPLE,
            "--catalog",
            str(catalog),
            "--input",
            f"contract=@{text}",
            "--budget",
            budget,
            "--no-cache",
        ]
    )
    out = capsys.readouterr()

    assert code == 1
    assert json.loads(out.out) == {}  # neither output finished (stdout is always JSON)
    last = out.err.strip().splitlines()[-1]
    assert last.startswith(f"hetflow: error: budget ${budget} reached after "), last
    assert "not run: verdict (" in last


def test_a_budget_below_the_estimate_is_said_before_any_call(server, home, capsys):
    """Issue 14, item 9: a .het is compiled under the budget, so an impossible one is
    refused as compile refuses it; a plan file above the budget is warned about first."""
    catalog, text = setup(home, server, n=40)
    code = main(
        ["run", EXAMPLE, "--catalog", str(catalog), "-i", f"contract=@{text}", "--budget", "0.002"]
    )
    err = capsys.readouterr().err
    assert code == 1 and server.requests == []
    assert err.startswith("hetflow: error: budget $0.002 cannot be met: the cheapest plan costs ")
    plan = home / "plan.json"
    hetflow.compile(EXAMPLE, catalog=str(catalog), inputs={"contract": text.read_text()}).save(plan)
    code = main(["run", str(plan), "-i", f"contract=@{text}", "--budget", "0.002", "--no-cache"])
    out = capsys.readouterr()
    assert code == 1
    first = out.err.splitlines()[0]
    assert first.startswith("hetflow run: warning: budget $0.002 is below this plan's estimate ")
    assert "'verdict'" in first and "recompile the .het with --budget 0.002" in first
    assert "budget $0.002 reached after " in out.err.splitlines()[-1]


def test_a_budget_the_plan_fits_is_not_stopped_before_spending(server, home, capsys):
    """Compiled under a budget, the run spends and finishes: it does not stop at once."""
    catalog, text = setup(home, server, n=6)
    plan = hetflow.compile(EXAMPLE, catalog=str(catalog), inputs={"contract": text.read_text()})
    budget = f"{plan.estimate.cost_usd * 1.01:.6f}"
    code = main(
        ["run", EXAMPLE, "--catalog", str(catalog), "-i", f"contract=@{text}", "--budget", budget]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["risky"] == 2


def test_user_mistakes_are_one_line_errors(server, home, capsys):
    catalog, text = setup(home, server)
    cases = [
        (["--input", "contrct=x"], "did you mean 'contract'?"),
        ([], "missing input contract"),
        (["--input", "contract=@/no/such/file"], "no such file"),
        (["--input", "contract"], "write NAME=VALUE or NAME=@PATH"),
    ]
    for extra, message in cases:
        code = main(["run", EXAMPLE, "--catalog", str(catalog), *extra])
        err = capsys.readouterr().err
        assert code == 1, extra
        assert err.startswith("hetflow: error: ") and message in err, err
        assert len(err.strip().splitlines()) == 1
    assert server.requests == []


def test_a_missing_plan_file_is_one_line(capsys):
    assert main(["run", "nope.json"]) == 1
    assert capsys.readouterr().err.strip() == "hetflow: error: nope.json: no such plan file"


def test_an_image_input_from_a_file(server, home, capsys):
    from PIL import Image as PILImage

    server.script("small", reply={"x0": 0, "y0": 0, "x1": 10, "y1": 10})
    server.script("big", reply={"kind": "stop", "target": "done", "value": None})
    catalog = local_catalog(home, server.url)
    shot = home / "s.png"
    PILImage.new("RGB", (64, 32), "blue").save(shot)

    code = main(
        [
            "run",
            str(ROOT / "examples" / "web_step.het"),
            "--catalog",
            str(catalog),
            "--input",
            f"screenshot=@{shot}",
            "--input",
            "goal=finish",
        ]
    )

    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["action"]["kind"] == "stop"


def test_not_an_image_is_one_line(home, server, capsys):
    catalog = local_catalog(home, server.url)
    bad = home / "x.txt"
    bad.write_text("hello")
    code = main(
        [
            "run",
            str(ROOT / "examples" / "web_step.het"),
            "--catalog",
            str(catalog),
            "--input",
            f"screenshot=@{bad}",
            "--input",
            "goal=g",
        ]
    )
    assert code == 1
    assert "is not an image" in capsys.readouterr().err


def test_help_and_argument_parsing_do_not_import_litellm():
    probe = (
        "import sys, contextlib, io\n"
        "from hetflow.commands.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['run', '--help'])\n"
        "    except SystemExit: pass\n"
        "print('litellm' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.stdout.strip() == "False", out.stderr


def test_values_round_trip_through_the_journal_encoding():
    from hetflow.runtime.values import Image, from_json, to_json

    value = {"crops": [Image(b"\x89PNG1"), Image(b"\xff\xd8x", "image/jpeg")], "n": 2}
    assert from_json(to_json(value)) == value
    assert io  # (imported for symmetry with other tests)


def test_a_run_answered_from_the_cache_is_not_held_against_the_estimate(server, home, capsys):
    """Seen: README's command run twice said `time 0.00s (estimated 17.48s, -100%)` and
    listed every step as off the estimate: the second run's calls all came from the
    cache.  It says so instead."""
    catalog, text = setup(home, server)
    args = ["run", EXAMPLE, "--catalog", str(catalog), "--input", f"contract=@{text}"]
    assert main(args) == 0
    first = capsys.readouterr().err
    assert main(args) == 0
    again = capsys.readouterr().err

    assert "from the cache" not in first and "(estimated " in first
    assert "every call answered from the cache or journal; a fresh run is estimated" in again
    assert "7 of them from the cache or journal (nothing paid)" in again
    assert "time 0.00s vs" not in again and "-100%" not in again, again

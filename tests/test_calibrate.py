"""Recurse estimates calibrated from traces (hetflow/estimate/calibrate.py, docs/optimizer.md).

The traces come from real runs: a recurse workflow compiled against a catalog whose
offers point at the local server, a scripted root model writing REPL code that cuts
the context into pieces and hands them to sub-calls, ``run_sync(trace_path=...)``
appending two runs to one file.  Hand-written records (for depth 2, maps and bad
input) are checked to carry exactly the keys a real run's records do.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import pytest
from support.catalogs import local_catalog
from support.openai_server import OpenAIServer

import hetflow
from hetflow.builtins.table import count_tokens
from hetflow.commands.main import main
from hetflow.errors import HetError
from hetflow.estimate.calibrate import load, measure
from hetflow.estimate.sizes import SUB_PROMPT_TOKENS
from hetflow.runtime import Settings, run_sync

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FLOW = """
workflow counts {
  input context: text ~ 8k tokens
  input question: text
  recurse tallies: text over context depth 1 {
    task "{{ question }}"
  }
  output tallies
}

workflow wider {
  input context: text ~ 8k tokens
  input question: text
  recurse tallies: text over context depth 1 {
    task "{{ question }}"
  }
  recurse other: text over context depth 1 {
    task "Also: {{ question }}"
  }
  reason verdict = prompt "Given {{ tallies }} and {{ other }}, answer {{ question }}"
  output verdict
}
"""

CHUNK_CHARS = 8_000  # ~2,000 tokens a sub-call
INSTRUCTION = "Count the records below that mention a number. " * 17  # ~205 tokens
SURVEY = "```python\nprint(len(context))\n```"
SPLIT = f"""```python
pieces = [context[i:i + {CHUNK_CHARS}] for i in range(0, len(context), {CHUNK_CHARS})]
answers = llm_query_batched([{INSTRUCTION!r} + p for p in pieces])
FINAL(" ".join(answers))
```"""
# Run one: survey, then split (2 root calls); run two surveys twice (3 root calls).
SCRIPTS = ([SURVEY, SPLIT], [SURVEY, SURVEY, SPLIT])
CONTEXT = "\n".join(f"record {i:05d}: a line of text about item {i}" for i in range(800))[
    : 4 * CHUNK_CHARS
]


@contextlib.contextmanager
def serving(home: Path):
    """A test server, a catalog of offers on it, and this home's journal and cache."""
    with pytest.MonkeyPatch.context() as mp, OpenAIServer() as server:
        mp.setenv("XDG_DATA_HOME", str(home / "data"))
        mp.setenv("XDG_CACHE_HOME", str(home / "cache"))
        yield server, local_catalog(home, server.url)


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """Two real runs of `counts` appended to one trace; the compiled plans' inputs."""
    home = tmp_path_factory.mktemp("calibrate")
    src = home / "flow.het"
    src.write_text(FLOW)
    trace = home / "trace.jsonl"
    with serving(home) as (server, catalog):
        script: list[str] = []

        def reply(body: dict) -> str:
            messages = body["messages"]
            if messages[0]["role"] != "system":  # a sub-call
                return "3"
            return script[(len(messages) - 2) // 2]

        for model in ("small", "coder", "big"):
            server.script(model, reply=reply)
        plan = hetflow.compile(str(src), catalog=str(catalog), workflow="counts")
        results = []
        for lines in SCRIPTS:
            script[:] = lines
            result = run_sync(
                plan,
                {"context": CONTEXT, "question": "How many?"},
                trace_path=trace,
                journal=False,
                cache=False,
                settings=Settings(backoff_s=0.01),
            )
            assert result.ok, result.reason
            results.append(result)
        yield {"src": src, "catalog": catalog, "trace": trace, "results": results}


def records_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def compile_with(traced, *, calibrate=None, context=None, workflow="counts"):
    # the question is sized, so no estimate rests on a guessed input (those take the
    # traced reads instead: test_a_map_over_an_unsized_input_...)
    sizes = {"question": "20"} | ({"context": str(context)} if context is not None else {})
    return hetflow.compile(
        str(traced["src"]),
        catalog=str(traced["catalog"]),
        workflow=workflow,
        calibrate=calibrate,
        input_sizes=sizes,
    )


def record(node: str, tokens_in: float, tokens_out: float, *, run="r1", item="", **more):
    """A trace record shaped like the runtime's (test_hand_written_records_... checks)."""
    return {
        "node": node,
        "step": node.rsplit(".", 1)[0],
        "item": item,
        "model": "small",
        "chip": "groq-lpu",
        "litellm": "openai/small",
        "tokens_in": tokens_in,
        "tokens_in_estimate": more.pop("estimate", tokens_in),
        "tokens_out": tokens_out,
        "reasoning_tokens": None,
        "cost_usd": 0.0001,
        "latency_s": 0.1,
        "started": 0.0,
        "ended": 0.1,
        "retries": 0,
        "retry_reason": None,
        "fallback": 0,
        "cached": False,
        "error": None,
        "run": run,
        **more,
    }


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


# ------------------------------------------------------------------ the trace


def test_every_record_names_its_run_and_two_runs_are_told_apart(traced):
    recs = records_of(traced["trace"])
    assert recs and all(isinstance(r["run"], str) and r["run"] for r in recs)
    runs = list(dict.fromkeys(r["run"] for r in recs))
    assert len(runs) == 2
    assert [r["run"] for r in traced["results"][0].trace] == [runs[0]] * len(
        traced["results"][0].trace
    )
    # Run one made 2 root calls, run two 3; each cut the context into 4 pieces.
    per_run = [[r["node"] for r in recs if r["run"] == run] for run in runs]
    assert [p.count("tallies.root") for p in per_run] == [2, 3]
    assert [p.count("tallies.sub") for p in per_run] == [4, 4]


def test_hand_written_records_have_the_keys_of_a_real_runs_records(traced):
    real = records_of(traced["trace"])
    assert {frozenset(r) for r in real} == {frozenset(record("t.root", 1, 1))}


# ------------------------------------------------------------------ calibrated figures


def test_calibrated_root_calls_are_the_observed_mean_over_runs(traced):
    recs = records_of(traced["trace"])
    roots = [r for r in recs if r["node"] == "tallies.root"]
    plan = compile_with(traced, calibrate=[traced["trace"]])
    e = plan.node("tallies.root").estimate
    assert e.calls == pytest.approx(len(roots) / 2) == 2.5
    assert e.input_tokens_per_call == pytest.approx(sum(r["tokens_in"] for r in roots) / 5)
    assert e.output_tokens_per_call == pytest.approx(sum(r["tokens_out"] for r in roots) / 5)
    # each turn re-sends the one before and its answer; what it adds is what a prefix
    # cache reads: per run, the first turn's input, then each later turn's growth
    added = 0.0
    for run in {r["run"] for r in roots}:
        turns = sorted((r for r in roots if r["run"] == run), key=lambda r: r["started"])
        added += turns[0]["tokens_in"]
        for before, turn in zip(turns, turns[1:], strict=False):
            added += turn["tokens_in"] - before["tokens_in"] - before["tokens_out"]
    assert e.prefill_tokens_per_call == pytest.approx(added / 5)
    assert e.prefill_tokens_per_call < e.input_tokens_per_call
    assert {n.id: n.estimate.calibrated_from_runs for n in plan.nodes} == {
        "tallies.root": 2,
        "tallies.repl": 2,
        "tallies.sub": 2,
    }
    assert plan.warnings == []
    # Without --calibrate the constants hold, and the plan says nothing was measured.
    plain = compile_with(traced)
    assert plain.node("tallies.root").estimate.calls == 6
    assert all(n.estimate.calibrated_from_runs is None for n in plain.nodes)


def test_sub_calls_scale_with_the_size_of_a_new_context(traced):
    recs = records_of(traced["trace"])
    subs = [r for r in recs if r["node"] == "tallies.sub"]
    tokens_in = sum(r["tokens_in"] for r in subs) / len(subs)
    piece = tokens_in - SUB_PROMPT_TOKENS
    context = count_tokens(CONTEXT)
    same = compile_with(traced, calibrate=[traced["trace"]], context=context)
    e = same.node("tallies.sub").estimate
    # The traced context again: the traced fan-out (4 pieces a run), the traced tokens.
    assert e.calls == math.ceil(context / piece) == len(subs) / 2 == 4
    assert e.input_tokens_per_call == pytest.approx(tokens_in)
    # A context 4x larger: 4x the sub-calls, each reading the same piece; the root's
    # turns do not grow with the context.
    bigger = compile_with(traced, calibrate=[traced["trace"]], context=4 * context)
    b = bigger.node("tallies.sub").estimate
    assert b.calls == math.ceil(4 * context / piece) == 16
    assert b.input_tokens_per_call == pytest.approx(tokens_in)
    assert bigger.node("tallies.root").estimate.calls == 2.5
    # The constants would have said 1 call of 8k for the traced size, 4 for the larger.
    assert compile_with(traced, context=context).node("tallies.sub").estimate.calls == 1


def test_steps_the_trace_does_not_hold_keep_the_constants(traced):
    calibrated = compile_with(traced, calibrate=[traced["trace"]], workflow="wider")
    plain = compile_with(traced, workflow="wider")
    fields = ("rounds", "parallel", "input_tokens_per_call", "output_tokens_per_call", "cpu_s")
    for node in ("other.root", "other.repl", "other.sub"):
        got, want = calibrated.node(node).estimate, plain.node(node).estimate
        assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields], node
        assert got.calibrated_from_runs is None
    # The reason step reads the recursion's answer, whose size is the type's either way.
    v, w = calibrated.node("verdict").estimate, plain.node("verdict").estimate
    assert v.input_tokens_per_call == w.input_tokens_per_call and v.calls == w.calls == 1
    assert calibrated.node("tallies.root").estimate.calibrated_from_runs == 2


def test_traces_without_run_ids_count_one_run_per_file(traced, tmp_path):
    recs = records_of(traced["trace"])
    runs = list(dict.fromkeys(r["run"] for r in recs))
    files = []
    for i, run in enumerate(runs):
        old = [{k: v for k, v in r.items() if k != "run"} for r in recs if r["run"] == run]
        files.append(write(tmp_path / f"old{i}.jsonl", old))
    cal = load(files + [files[0]])  # a file named twice is read once
    step = cal.steps["tallies"]
    assert (step.runs, step.levels[0].calls, step.levels[1].calls) == (2, 2.5, 4.0)
    # Both runs in one file without run ids: one run of 5 root calls.
    both = write(
        tmp_path / "both.jsonl", [{k: v for k, v in r.items() if k != "run"} for r in recs]
    )
    assert load(both).steps["tallies"].levels[0].calls == 5


def test_failed_attempts_are_skipped(tmp_path):
    good = [record("t.root", 3000, 400)] * 3 + [record("t.sub", 2200, 50)] * 5
    failed = [{**record("t.sub", None, None), "error": "RateLimitError: 429", "cost_usd": 0.0}] * 4
    assert load(write(tmp_path / "t.jsonl", good + failed)).steps["t"].levels == (
        load(write(tmp_path / "g.jsonl", good)).steps["t"].levels
    )


def test_an_inner_level_keeps_its_turns_per_piece_and_scales_its_pieces():
    """depth 2: 2 traced runs over ~128k tokens (16 leaf calls of 8k, 4 inner pieces)."""
    recs = []
    for run, root_calls, inner_turns in (("a", 4, 8), ("b", 6, 16)):
        recs += [record("t.root", 3000, 400, run=run)] * root_calls
        recs += [record("t.sub", 1800, 300, run=run)] * inner_turns
        recs += [record("t.sub2", 8200, 90, run=run)] * 16
    from hetflow.estimate.sizes import calibrated_levels

    cal = measure(recs).steps["t"]
    assert (cal.runs, cal.levels[0].calls, cal.levels[1].calls) == (2, 5.0, 12.0)
    works, leaf = calibrated_levels(cal, 2, 4 * 128_000)
    assert leaf == 2 and cal.piece(2) == 8000
    assert works[2].calls == 64  # 4x the context, 4x the leaf calls
    assert (works[1].rounds, works[1].parallel) == (3.0, 16)  # 12 turns / 4 pieces, 4x pieces
    assert works[1].input_tokens == 1800 and works[2].output_tokens == 90


def test_a_level_the_traces_never_called_makes_no_calls():
    recs = [record("t.root", 3000, 400)] * 2 + [record("t.sub", 700, 20)] * 10
    from hetflow.estimate.sizes import calibrated_levels

    works, leaf = calibrated_levels(measure(recs).steps["t"], 2, 40_000)
    # The root only made plain calls at level 1: level 1 is the leaf, level 2 idle.
    assert leaf == 1 and works[2].calls == 0
    assert works[1].calls == math.ceil(40_000 / 500)


def test_in_a_map_each_item_is_one_recursion():
    recs = [record("t.root", 3000, 400, item=i) for i in ("0", "0", "1", "1", "1", "1")]
    recs += [record("t.sub", 2200, 50, item=i) for i in ("0", "1")]
    cal = measure(recs).steps["t"]
    assert (cal.runs, cal.recursions, cal.levels[0].calls, cal.levels[1].calls) == (
        1,
        2,
        3.0,
        1.0,
    )


# ------------------------------------------------------------------ the command line


def test_compile_takes_calibrate_and_says_so(traced, tmp_path, capsys):
    out = tmp_path / "plan.json"
    args = ["compile", str(traced["src"]), "--catalog", str(traced["catalog"]), "-o", str(out)]
    trace = str(traced["trace"])
    assert main(args + ["--workflow", "counts", "--calibrate", trace, "--calibrate", trace]) == 0
    text = capsys.readouterr().out
    assert "estimates calibrated: tallies from 2 traced runs" in text
    plan = json.loads(out.read_text())
    root = next(n for n in plan["nodes"] if n["id"] == "tallies.root")
    assert root["estimate"]["calibrated_from_runs"] == 2 and root["estimate"]["calls"] == 2.5
    assert main(args + ["--workflow", "counts"]) == 0
    assert "calibrated" not in capsys.readouterr().out


def test_simulate_and_explain_take_calibrate_on_a_het_file(traced, capsys):
    src, cat, trace = str(traced["src"]), str(traced["catalog"]), str(traced["trace"])
    assert main(["explain", src, "--catalog", cat, "--calibrate", trace, "--step", "tallies"]) == 0
    assert "(calibrated from 2 traced runs)" in capsys.readouterr().out
    assert main(["simulate", src, "--catalog", cat, "--calibrate", trace, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["cost_usd"] > 0


# ------------------------------------------------------------------ bad input


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_a_missing_trace_is_a_one_line_error(traced, tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    err = one_line_error(capsys, ["compile", str(traced["src"]), "--calibrate", str(missing)])
    assert err == f"hetflow: error: {missing}: no such trace file"
    err = one_line_error(capsys, ["compile", str(traced["src"]), "--calibrate", str(tmp_path)])
    assert "is a directory" in err
    with pytest.raises(HetError, match="no such trace file"):
        compile_with(traced, calibrate=missing)


def test_a_line_that_is_not_json_is_named_by_its_number(traced, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(record("t.root", 1, 1)) + "\n\n{not json\n")
    err = one_line_error(capsys, ["compile", str(traced["src"]), "--calibrate", str(bad)])
    assert err.startswith(f"hetflow: error: {bad}:3: not JSON")
    bad.write_text("[1, 2]\n")
    err = one_line_error(capsys, ["compile", str(traced["src"]), "--calibrate", str(bad)])
    assert err == f"hetflow: error: {bad}:1: not a trace record (no 'node')"


def test_a_trace_of_other_steps_is_a_plan_warning(traced, tmp_path, capsys):
    other = write(tmp_path / "other.jsonl", [record("elsewhere.root", 3000, 400)] * 3)
    empty = write(tmp_path / "empty.jsonl", [])
    plan = compile_with(traced, calibrate=[other, empty, traced["trace"]])
    assert plan.warnings == [
        f"{p}: holds no call of a model step of workflow 'counts' (its model steps: "
        "tallies); their estimates use the constants"
        for p in (other, empty)
    ]
    assert plan.node("tallies.root").estimate.calibrated_from_runs == 2  # the good one counts
    alone = compile_with(traced, calibrate=other)
    assert alone.warnings and all(n.estimate.calibrated_from_runs is None for n in alone.nodes)
    assert alone.node("tallies.root").estimate.calls == 6


# ------------------------------------------------------------------ reason steps


def test_a_reason_step_learns_its_answer_input_line_and_retries(traced, tmp_path):
    """A traced reason node: the model's tokens against the rules' count for the same
    request give the input line, the answers their length, failed attempts the retries."""
    recs = [
        record("verdict", 150, 40, estimate=100, item=""),
        record("verdict", 270, 44, estimate=200, item="", run="r2"),
        record("verdict", 390, 36, estimate=300, item="", run="r3"),
        record("verdict", None, None, item="", run="r3", error="timeout"),
    ]
    trace = write(tmp_path / "reason.jsonl", recs)
    before = compile_with(traced, workflow="wider").node("verdict").estimate
    after = compile_with(traced, workflow="wider", calibrate=trace).node("verdict").estimate
    assert after.calibrated_from_runs == 3
    # 30 + 1.2 x the rules' count of the new request
    assert after.input_tokens_per_call == pytest.approx(30 + 1.2 * before.input_tokens_per_call)
    w = 3 / (3 + 1)  # three traced calls against the rule of thumb's one
    assert after.output_tokens_per_call == pytest.approx(300 + w * (40 - 300))
    # r3 took two attempts, r1 and r2 one: 4/3 calls an instance
    assert after.rounds == pytest.approx(1 + w * (4 / 3 - 1))
    assert before.calibrated_from_runs is None and before.rounds == 1


def test_a_real_runs_records_count_the_request_as_the_estimator_would(traced):
    from hetflow.estimate.sizes import CHAT_FRAME_TOKENS

    for r in records_of(traced["trace"]):
        if r["node"].endswith(".sub"):  # one user message: the instruction and a piece
            assert r["tokens_in_estimate"] > CHAT_FRAME_TOKENS + count_tokens(INSTRUCTION)


# ------------------------------------------------------------------ maps of unsized lists

MAPPED = """
workflow triage {
  input contract: text
  extract clauses = split(contract, sep="\\n\\n")
  map clause in clauses {
    reason verdict = prompt "Is this clause risky? {{ clause }}" with max_tokens=40
  }
  reason summary = prompt "Summarize: {{ verdict }}" with max_tokens=60
  output summary
}
"""


def _clauses(n: int) -> str:
    return "\n\n".join(f"{i}. The supplier shall deliver part {i} on time." for i in range(n))


def test_a_map_over_an_unsized_input_learns_its_items_and_reads_from_a_trace(tmp_path):
    """Seen: compile without -i estimated 15 calls where the real contract made 8 — the
    contract's size was assumed, and --calibrate kept the guess.  A traced run says how
    many items the map had and what each call read; a real input still wins."""
    src = tmp_path / "flow.het"
    src.write_text(MAPPED)
    trace = tmp_path / "run.jsonl"
    with serving(tmp_path) as (server, catalog_path):
        catalog = str(catalog_path)
        for model in ("small", "coder", "big"):
            server.script(model, reply="risky enough")
        plan = hetflow.compile(str(src), catalog=catalog)
        for n in (5, 7):  # two runs: 6 items a run on average
            result = run_sync(plan, {"contract": _clauses(n)}, trace_path=trace, journal=False,
                              cache=False, settings=Settings(backoff_s=0.01))  # fmt: skip
            assert result.ok, result.reason

    guessed = hetflow.compile(str(src), catalog=catalog)
    assert guessed.maps[0].cardinality == 14  # split, by its rule, of a 2,000-token text
    calibrated = hetflow.compile(str(src), catalog=catalog, calibrate=trace)
    scope = calibrated.maps[0]
    assert scope.cardinality == pytest.approx(6) and scope.calibrated_from_runs == 2
    verdict = calibrated.node("verdict").estimate
    assert verdict.calls == pytest.approx(6)
    reported = [r["tokens_in"] for r in records_of(trace) if r["node"] == "verdict"]
    assert verdict.input_tokens_per_call == pytest.approx(sum(reported) / len(reported))

    real = hetflow.compile(
        str(src), catalog=catalog, calibrate=trace, inputs={"contract": _clauses(3)}
    )
    assert real.maps[0].cardinality == 3 and real.maps[0].calibrated_from_runs is None
    assert real.node("verdict").estimate.calls == 3


def test_nested_items_are_counted_per_parent_item():
    from hetflow.estimate.calibrate import Calibration

    recs = [
        {**record("inner", 10, 5, item=f"{i}/{j}"), "_file": "t"}
        for i in range(3)
        for j in range(4 if i else 2)  # item 0 has 2 inner items, 1 and 2 have 4
    ]
    cal = Calibration(records=recs)
    assert cal.items_per_parent(["inner"], 0) == 3
    assert cal.items_per_parent(["inner"], 1) == pytest.approx(10 / 3)
    assert cal.items_per_parent(["other"], 0) is None

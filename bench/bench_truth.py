"""Truth of the estimates: compile's prediction against a real run on the local catalog.

Runs real workflows on the local model (``pip install ".[local]" && hetflow models
pull``): a typed ``map`` (examples/contract_triage.het over examples/data/contract.txt)
and a ``recurse`` step. For each, per step and in total, it prints predicted vs actual
latency, calls, input and output tokens (cost is $0 on the local catalog) over four
runs: two inputs estimated by the rules of thumb (both traced), the second input again
compiled with ``--calibrate`` on the first run's trace, and a third input — new to
both traces — calibrated on both runs. A last table says whether the totals came within
20% of the estimate.

    python bench/bench_truth.py              # both workflows, before and after calibration
    python bench/bench_truth.py --repeat 3   # each measured plan run 3 times: the median

The local model's speed moves with whatever else runs on the machine: on a shared box,
read latency with care (the figures in the catalog were measured on a quiet one).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from hetflow.compiler import compile as compile_het
from hetflow.runtime import Settings, run_sync

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = (ROOT / "examples" / "data" / "contract.txt").read_text()
OTHER_CONTRACT = """LICENCE between Alder Soft ("Licensor") and Birch Retail ("Licensee"). Fictional sample.

1. Licence. Licensor grants Licensee a non-exclusive licence to use the software at one site.

2. Fees. Licensee shall pay the annual fee in advance; fees are not refundable.

3. Audit. Licensor may audit Licensee's premises at any time without notice, at Licensee's cost.

4. Warranty. The software is provided as is, without any warranty of any kind."""

THIRD_CONTRACT = """SERVICES AGREEMENT between Cedar Labs ("Provider") and Dune Foods ("Client"). A fictional sample.

1. Services. Provider shall maintain Client's ordering website during business hours.

2. Fees. Client shall pay each monthly invoice within thirty (30) days.

3. Termination. Provider may end this Agreement at any time without notice.

4. Warranty. Provider gives no warranty of any kind for the services.

5. Governing law. This Agreement is governed by the laws of the State of Oregon."""

TARGET = 0.20  # the target: total latency and tokens within 20% after calibration

RECURSE = """workflow count {
  input context: text
  recurse answer: text over context depth 1 {
    task "How many lines does the context have? Answer with FINAL(number)."
  } with max_iterations=3, max_tokens=96, temperature=0
  output answer
}
"""

KEYS = ("latency_s", "calls", "input_tokens", "output_tokens")


def pct(actual: float, predicted: float) -> str:
    if not predicted:
        return "n/a"
    return f"{(actual - predicted) / predicted * 100:+.0f}%"


def table(title: str, plan, result) -> None:
    cmp = result.comparison
    print(f"\n{title}")
    print(f"  {'step':<14}{'what':<15}{'predicted':>12}{'actual':>12}{'off':>8}")
    per_node: dict[str, dict[str, float]] = {}
    for r in result.trace:
        if r.get("error"):
            continue
        n = per_node.setdefault(r["node"], {"calls": 0, "input_tokens": 0, "output_tokens": 0})
        n["calls"] += 1
        n["input_tokens"] += r["tokens_in"] or 0
        n["output_tokens"] += r["tokens_out"] or 0
    for node in plan.nodes:
        if node.assignment is None:
            continue
        got = dict(per_node.get(node.id, {}))
        got["latency_s"] = result.node_times.get(node.id, 0.0)
        e = node.estimate
        want = {
            "latency_s": e.latency_s,
            "calls": e.calls,
            "input_tokens": e.input_tokens,
            "output_tokens": e.output_tokens,
        }
        for k in KEYS:
            a, p = got.get(k, 0.0), want[k]
            print(f"  {node.id:<14}{k:<15}{p:>12.1f}{a:>12.1f}{pct(a, p):>8}")
    a, p = cmp["actual"], cmp["predicted"]
    for k in KEYS:
        print(f"  {'TOTAL':<14}{k:<15}{p[k]:>12.1f}{a[k]:>12.1f}{pct(a[k], p[k]):>8}")


def once(
    source: str, inputs: dict, trace: Path | None, calibrate: list[Path] | None, repeat: int = 1
):
    """Compile, then run the plan ``repeat`` times (the first run traced, if asked)."""
    plan = compile_het(source, catalog="local", inputs=inputs, calibrate=calibrate or None)
    results = []
    for n in range(repeat):
        result = run_sync(
            plan,
            inputs,
            journal=False,
            cache=False,
            trace_path=trace if n == 0 else None,
            settings=Settings(),
        )
        if not result.ok:
            print(f"  (the run did not finish: {result.reason})", file=sys.stderr)
        results.append(result)
    return plan, results


def off(results) -> tuple[float, float, float, float]:
    """Total latency and tokens (in + out), the median of the runs against the estimate,
    as fractions; and the fastest and slowest run's latency against it."""
    p = results[0].comparison["predicted"]
    tokens_p = p["input_tokens"] + p["output_tokens"]
    took = sorted(r.comparison["actual"]["latency_s"] for r in results)
    tokens = statistics.median(
        r.comparison["actual"]["input_tokens"] + r.comparison["actual"]["output_tokens"]
        for r in results
    )
    lat = p["latency_s"]
    return (
        (statistics.median(took) - lat) / lat,
        (tokens - tokens_p) / tokens_p,
        (took[0] - lat) / lat,
        (took[-1] - lat) / lat,
    )


def workflow(name: str, source: str, inputs: list[dict], repeat: int) -> list[tuple]:
    """Input 1 and input 2 as the estimator's rules see them (both traced), input 2 again
    calibrated on run 1's trace, and input 3 — new to both traces — calibrated on runs
    1 and 2; the last three each run ``repeat`` times."""
    first, second, third = inputs
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t1, t2 = Path(tmp) / "run1.jsonl", Path(tmp) / "run2.jsonl"
        plan, results = once(source, first, t1, None)
        table(f"{name}: run 1, no calibration", plan, results[0])
        plan, results = once(source, second, t2, None, repeat)
        table(f"{name}: run 2, new input, no calibration", plan, results[0])
        rows.append((f"{name}, new input, rules of thumb", *off(results)))
        plan, results = once(source, second, None, [t1], repeat)
        table(f"{name}: run 2's input again, calibrated on run 1", plan, results[0])
        rows.append((f"{name}, calibrated on 1 run", *off(results)))
        plan, results = once(source, third, None, [t1, t2], repeat)
        table(f"{name}: a third input, calibrated on runs 1 and 2", plan, results[0])
        rows.append((f"{name}, new input, calibrated on 2 runs", *off(results)))
    return rows


def verdict(rows: list[tuple], repeat: int) -> None:
    runs = f"the median of {repeat} runs" if repeat > 1 else "one run"
    print(f"\ntotal latency and tokens, {runs}, against the estimate (target: {TARGET:.0%})")
    print(f"  {'':<56}{'latency':>9}{'tokens':>9}{'runs spread':>16}")
    for what, lat, tok, low, high in rows:
        ok = "yes" if abs(lat) <= TARGET and abs(tok) <= TARGET else "no"
        spread = f"{low:+.0%}..{high:+.0%}" if repeat > 1 else ""
        print(f"  {what:<56}{lat:>+9.0%}{tok:>+9.0%}{spread:>16}   within: {ok}")


def main() -> int:
    parser = argparse.ArgumentParser(description="compile's estimates against real runs")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each measured plan (the median counts)"
    )
    repeat = max(1, parser.parse_args().repeat)
    rows = workflow(
        "contract_triage (typed map)",
        str(ROOT / "examples" / "contract_triage.het"),
        [{"contract": CONTRACT}, {"contract": OTHER_CONTRACT}, {"contract": THIRD_CONTRACT}],
        repeat,
    )
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "count.het"
        src.write_text(RECURSE)
        rows += workflow(
            "count (recurse)",
            str(src),
            [
                {"context": "alpha\nbeta\ngamma"},
                {"context": "one\ntwo\nthree\nfour\nfive"},
                {"context": "\n".join(f"line {i}" for i in range(12))},
            ],
            repeat,
        )
    verdict(rows, repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())

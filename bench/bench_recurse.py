"""Benchmark the recursion machinery itself: what the sandbox costs, with instant models.

Figures, per OOLONG-style context size (32k, 128k, 512k tokens):
- start-up: a confined REPL process holding the context, ready for its first cell
  (against the floor: an unconfined ``python -I -S`` that starts and exits);
- per-cell overhead: one round trip of an empty cell;
- sub-calls per second through the REPL: sequential `llm_query` and `llm_query_batched`;
- a whole scripted recursion (survey, label every record with batched sub-calls, FINAL)
  with its OOLONG score, so the loop's own overhead is visible;
- from the plan: ``examples/oolong.het`` compiled at each size, its estimated cost and
  latency against the homogeneous baseline.

Model calls answer at once (an oracle labels records), so every second measured is
hetflow's.  Run: ``python bench/bench_recurse.py [--sizes 32k,128k] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import warnings

from bench import oolong
from hetflow.recurse import Sandbox, SubCall, run_recursion


async def instant(call: SubCall) -> str:
    return "ok"


async def startup_seconds(context: str, repeats: int) -> tuple[float, dict]:
    times, isolation = [], {}
    for _ in range(repeats):
        start = time.perf_counter()
        async with Sandbox(context, on_call=instant) as box:
            times.append(time.perf_counter() - start)
            isolation = box.isolation
    return statistics.median(times), isolation


async def bare_startup_seconds(repeats: int) -> float:
    """The floor: an unconfined ``python -I -S`` that starts and exits."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-I", "-S", "-c", "pass")
        await proc.wait()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def cell_overhead_ms(context: str, cells: int) -> float:
    async with Sandbox(context, on_call=instant) as box:
        await box.run_cell("pass")
        start = time.perf_counter()
        for _ in range(cells):
            await box.run_cell("pass")
        return (time.perf_counter() - start) / cells * 1000


async def subcalls_per_second(context: str, n: int) -> tuple[float, float]:
    async with Sandbox(context, on_call=instant) as box:
        start = time.perf_counter()
        r = await box.run_cell(f"for _ in range({n}):\n    llm_query('x')")
        sequential = n / (time.perf_counter() - start)
        assert r.error is None, r.error
        start = time.perf_counter()
        r = await box.run_cell(f"answers = llm_query_batched(['x'] * {n})")
        batched = n / (time.perf_counter() - start)
        assert r.error is None, r.error
    return sequential, batched


LABEL_ALL = """```python
from collections import Counter
instances = [line.split(" || Instance: ", 1)[1] for line in context.splitlines()]
chunks = [instances[i:i + 200] for i in range(0, len(instances), 200)]
answers = llm_query_batched(["Label each line.\\n" + "\\n".join(c) for c in chunks])
counts = Counter(x for a in answers for x in a.splitlines())
print(dict(counts))
```"""


async def scripted_recursion(task: oolong.OolongTask) -> tuple[float, float, int]:
    """Seconds for a whole recursion, its score, and the number of sub-calls."""
    if task.kind == "count":
        final = f"FINAL(counts[{task.question.split(chr(39))[1]!r}])"
    elif task.kind == "compare":
        a, b = task.question.split("'")[1::2]
        final = f"FINAL({a!r} if counts[{a!r}] > counts[{b!r}] else {b!r})"
    elif task.kind == "most_common":
        final = "FINAL(counts.most_common(1)[0][0])"
    else:
        final = "FINAL(min(counts, key=counts.get))"
    script = [
        "```python\nprint(len(context), context[:200])\n```",
        LABEL_ALL,
        f"```python\n{final}\n```",
    ]
    subcalls = 0

    async def model(level: int, messages: list[dict]) -> str:
        nonlocal subcalls
        if level == 0:
            return script.pop(0)
        subcalls += 1
        lines = messages[-1]["content"].splitlines()[1:]
        return "\n".join(task.label_of(x) for x in lines)

    start = time.perf_counter()
    result = await run_recursion(task.question, task.context, depth=1, call_model=model)
    return time.perf_counter() - start, oolong.score(result.value, task.answer), subcalls


def parse_size(text: str) -> int:
    text = text.strip().lower()
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32k,128k,512k")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--subcalls", type=int, default=2000)
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # isolation is printed below instead

    print(f"{'context':>10} {'start-up':>10} {'cell':>9} {'seq calls/s':>12} "
          f"{'batch calls/s':>14} {'recursion':>10} {'score':>6} {'sub-calls':>9}")  # fmt: skip
    isolation: dict = {}
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        task = oolong.generate(size, seed=1)
        start, isolation = await startup_seconds(task.context, args.repeats)
        cell = await cell_overhead_ms(task.context, args.cells)
        seq, batch = await subcalls_per_second(task.context, args.subcalls)
        seconds, score, subcalls = await scripted_recursion(task)
        print(f"{size // 1000:>8}k {start * 1000:>8.0f}ms {cell:>7.2f}ms {seq:>12,.0f} "
              f"{batch:>14,.0f} {seconds:>9.2f}s {score:>6.2f} {subcalls:>9}")  # fmt: skip
    bare = await bare_startup_seconds(args.repeats)
    print(f"baseline: an unconfined python -I -S starts and exits in {bare * 1000:.0f}ms")
    print("isolation:", ", ".join(f"{k}={v}" for k, v in isolation.items()))
    print()
    plans_against_baseline([parse_size(s) for s in args.sizes.split(",")])


def plans_against_baseline(sizes: list[int]) -> None:
    """From the plan: examples/oolong.het at each size, estimated against all-on-one."""
    from pathlib import Path

    from hetflow.compiler import compile

    oolong_het = Path(__file__).resolve().parent.parent / "examples" / "oolong.het"
    print("examples/oolong.het on the default catalog, estimated (the plan, not a run):")
    print(f"{'context':>10} {'plan $':>9} {'plan s':>8} {'baseline $':>11} {'baseline s':>11}"
          f" {'cheaper':>8} {'faster':>7}  root / sub-calls on")  # fmt: skip
    for size in sizes:
        plan = compile(oolong_het, input_sizes={"context": f"{size} tokens"})
        e, b = plan.estimate, plan.baseline
        where = " / ".join(
            f"{n.assignment.model}@{n.assignment.chip}"
            for n in plan.nodes
            if n.op in ("recurse.root", "recurse.sub") and n.assignment
        )
        print(f"{size // 1000:>8}k {e.cost_usd:>9.4f} {e.latency_s:>8.1f} {b.cost_usd:>11.4f}"
              f" {b.latency_s:>11.1f} {b.cheaper_x or 0:>7.1f}x {b.faster_x or 0:>6.1f}x  {where}")  # fmt: skip
    print(f"(baseline: every model step on {plan.baseline.model} @ {plan.baseline.chip})")


if __name__ == "__main__":
    asyncio.run(main())

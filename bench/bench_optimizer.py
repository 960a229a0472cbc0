"""The optimizer on random workflow-shaped graphs of 100, 1,000 and 10,000 nodes.

A 10-offer catalog (5 models on 5 chips, random speeds, prices, concurrency and
handoffs), graphs whose nodes read one or two recent nodes (chains with fan-in and
fan-out, like real workflows), a fifth of them CPU steps, some map-sized fan-outs.
For each size: the minimum cost under a binding deadline, the minimum latency under a
binding budget, and the balanced objective under both — solve time, exact or the
gap HiGHS proves.  Target: 1,000 nodes exact in under 2 s.

    python bench/bench_optimizer.py [SIZES...]
"""

from __future__ import annotations

import random
import sys
import time

from hetflow.catalog import Offer
from hetflow.estimate.sizes import Work
from hetflow.optimize.model import Option, Problem, evaluate, node_cost, node_latency
from hetflow.optimize.solve import Goal, prune, solve

TIME_LIMIT_S = 30.0  # past it: HiGHS's best plan and its proven gap (the fallback)


def catalog(rng: random.Random) -> tuple[list[Offer], dict[str, float]]:
    chips = [f"chip{i}" for i in range(5)]
    offers = [
        Offer(
            model=f"m{i % 5}",
            chip=chips[(i * 3) % 5],
            litellm=f"x/m{i}",
            output_tps=rng.uniform(60, 2500),
            prefill_tps=rng.uniform(3000, 50000),
            ttft_ms=rng.uniform(100, 900),
            concurrency=rng.choice([4, 8, 16, 32]),
            input_per_mtok=rng.uniform(0.05, 3),
            output_per_mtok=rng.uniform(0.1, 12),
        )
        for i in range(10)
    ]
    return offers, {c: rng.uniform(0.02, 0.08) for c in chips} | {"cpu": 0.0}


def graph(n: int, rng: random.Random, offers, shape: str = "layered") -> Problem:
    """``layered``: ~12 stages, each node reading one or two nodes of the stage before
    (workflows: wide, shallow); ``deep``: each node reads one or two of the 8 before it
    (long chains, the hard case for a makespan)."""
    options, edges = [], set()
    stages = 12
    width = max(1, n // stages)
    for v in range(n):
        for _ in range(rng.choice([1, 1, 2])):
            if shape == "deep" and v:
                edges.add((rng.randrange(max(0, v - 8), v), v))
            elif shape == "layered" and v >= width:
                stage = v // width
                edges.add((rng.randrange((stage - 1) * width, stage * width), v))
        if rng.random() < 0.2:
            options.append([Option(0.0, rng.uniform(0.001, 0.05), "cpu")])
            continue
        work = Work(1, rng.choice([1, 1, 1, 8, 40]), rng.uniform(200, 20000), rng.uniform(20, 600))
        pool = rng.sample(offers, rng.randint(4, 10))  # needs rule out some offers
        options.append(
            [Option(node_cost(o, work), node_latency(o, work), o.chip, o.id) for o in pool]
        )
    return Problem(options, sorted(edges), {})


def run(n: int, seed: int = 1, shape: str = "layered") -> list[tuple]:
    rng = random.Random(seed)
    offers, handoff = catalog(rng)
    p = graph(n, rng, offers, shape)
    p.handoff_s = handoff
    cheapest = [min(range(len(o)), key=lambda j, o=o: o[j].cost) for o in p.options]
    fastest = [min(range(len(o)), key=lambda j, o=o: o[j].latency) for o in p.options]
    c_min, l_slow = evaluate(p, cheapest)
    c_max, l_min = evaluate(p, fastest)
    deadline = l_min + 0.3 * (l_slow - l_min)  # binds: the cheapest plan misses it
    budget = c_min + 0.3 * (c_max - c_min)  # binds: the fastest plan breaks it
    kept = sum(len(k) for k in prune(p))
    cases = [
        ("cost, no deadline", Goal("cost")),
        ("cost, loose deadline", Goal("cost", deadline=2 * l_slow)),
        ("latency, no budget", Goal("latency")),
        ("cost, binding deadline", Goal("cost", deadline=deadline)),
        ("latency, binding budget", Goal("latency", budget=budget)),
        (
            "balanced, both binding",
            Goal(
                "balanced", budget=budget, deadline=deadline, cost_scale=c_max, latency_scale=l_slow
            ),
        ),
    ]
    rows = []
    for label, goal in cases:
        t = time.perf_counter()
        sol = solve(p, goal, time_limit=TIME_LIMIT_S if n > 100 else None)
        wall = time.perf_counter() - t
        rows.append(
            (n, len(p.edges), kept, label, wall, sol.exact, sol.gap, sol.status, sol.method)
        )
    return rows


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [100, 1_000, 10_000]
    print(
        f"{'nodes':>6} {'edges':>6} {'options':>8} {'case':<24} {'time s':>8} {'exact':>6} "
        f"{'gap':>8}  status / method"
    )
    worst = {}
    for n in sizes:
        for n_, e, k, label, wall, exact, gap, status, method in run(n):
            gap_s = "-" if gap is None else f"{gap:.1e}"
            print(
                f"{n_:>6} {e:>6} {k:>8} {label:<24} {wall:>8.3f} {str(exact):>6} "
                f"{gap_s:>8}  {status} / {method}",
                flush=True,
            )
            if n_ == 1_000:
                worst[label] = wall if exact else float("inf")
    if worst:
        met = [label for label, w in worst.items() if w < 2.0]
        print(
            f"target 1,000 nodes exact in < 2 s: met for {len(met)} of {len(worst)} cases "
            f"({', '.join(met) or 'none'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The optimizer is exact: on thousands of small random problems, the MILP's optimum
equals the best of every possible assignment, enumerated one by one.

Graphs of 2–6 nodes (chains, fan-in, fan-out, CPU nodes, map fan-outs priced in waves),
catalogs of 2–4 offers with random prices, speeds, concurrency and handoffs, and
budgets and deadlines drawn so that they are sometimes binding and sometimes
infeasible.  Each objective is checked.  Seeded, so a failure is reproducible.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from hetflow.catalog import Offer
from hetflow.estimate.sizes import Work
from hetflow.optimize.model import Option, Problem, evaluate, node_cost, node_latency
from hetflow.optimize.solve import Goal, objective_value, solve

CASES = 2_000
TOL = 1e-6


def random_problem(rng: random.Random) -> Problem:
    n = rng.randint(2, 6)
    chips = [f"chip{i}" for i in range(rng.randint(1, 3))]
    handoff = {c: rng.choice([0.0, rng.uniform(0.01, 2.0)]) for c in chips}
    handoff["cpu"] = rng.choice([0.0, 0.05])
    offers = [
        Offer(
            model=f"m{i}",
            chip=rng.choice(chips),
            litellm=f"x/m{i}",
            output_tps=rng.uniform(20, 2000),
            prefill_tps=rng.uniform(1000, 40000),
            ttft_ms=rng.uniform(50, 800),
            concurrency=rng.choice([1, 2, 4, 16]),
            input_per_mtok=rng.uniform(0.05, 5),
            output_per_mtok=rng.uniform(0.1, 15),
        )
        for i in range(rng.randint(2, 4))
    ]
    edges = sorted(
        {
            (u, v)
            for v in range(1, n)
            for u in range(v)
            if rng.random() < (0.6 if u == v - 1 else 0.25)
        }
    )
    options = []
    for _ in range(n):
        if rng.random() < 0.2:  # a CPU node: extract, reduce, the REPL
            options.append([Option(0.0, rng.uniform(0.001, 0.5), "cpu")])
            continue
        work = Work(
            rounds=rng.choice([1, 1, 1, 3]),
            parallel=rng.choice([1, 1, 5, 14, 40]),
            input_tokens=rng.uniform(100, 20000),
            output_tokens=rng.uniform(5, 800),
        )
        pool = rng.sample(offers, rng.randint(1, len(offers)))
        options.append(
            [Option(node_cost(o, work), node_latency(o, work), o.chip, o.id) for o in pool]
        )
    return Problem(options, edges, handoff)


def brute_force(p: Problem, goal: Goal) -> float | None:
    best = None
    for choice in itertools.product(*(range(len(o)) for o in p.options)):
        cost, latency = evaluate(p, list(choice))
        if goal.budget is not None and cost > goal.budget * (1 + TOL):
            continue
        if goal.deadline is not None and latency > goal.deadline * (1 + TOL):
            continue
        value = objective_value(goal, cost, latency)
        best = value if best is None else min(best, value)
    return best


def random_goal(rng: random.Random, p: Problem) -> Goal:
    every = [evaluate(p, list(c)) for c in itertools.product(*(range(len(o)) for o in p.options))]
    costs = sorted(c for c, _ in every)
    latencies = sorted(lt for _, lt in every)
    budget = deadline = None
    if rng.random() < 0.5:  # between the cheapest and dearest plan, or just below
        budget = rng.uniform(costs[0] * 0.9, costs[-1])
    if rng.random() < 0.5:
        deadline = rng.uniform(latencies[0] * 0.9, latencies[-1])
    objective = rng.choice(["cost", "latency", "balanced"])
    return Goal(
        objective, budget, deadline, cost_scale=costs[-1] or 1.0, latency_scale=latencies[-1] or 1.0
    )


@pytest.mark.parametrize("chunk", range(4))
def test_milp_matches_brute_force(chunk):
    rng = random.Random(20_250_000 + chunk)
    binding = infeasible = 0
    for case in range(CASES // 4):
        p = random_problem(rng)
        goal = random_goal(rng, p)
        expected = brute_force(p, goal)
        got = solve(p, goal, method="milp")
        where = f"chunk {chunk} case {case}: {goal}"
        if expected is None:
            infeasible += 1
            assert got.choice is None and got.status == "infeasible", where
            continue
        assert got.choice is not None, where
        assert got.exact, where
        cost, latency = evaluate(p, got.choice)
        assert (cost, latency) == pytest.approx((got.cost, got.latency)), where
        if goal.budget is not None:
            assert cost <= goal.budget * (1 + TOL), where
        if goal.deadline is not None:
            assert latency <= goal.deadline * (1 + TOL), where
        value = objective_value(goal, cost, latency)
        assert math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-12), (where, value, expected)
        unconstrained = brute_force(
            p, Goal(goal.objective, cost_scale=goal.cost_scale, latency_scale=goal.latency_scale)
        )
        binding += expected > unconstrained * (1 + 1e-9)
        if case % 10 == 5:  # so does whatever solve() picks by itself
            auto = solve(p, goal)
            assert math.isclose(
                objective_value(goal, auto.cost, auto.latency),
                expected,
                rel_tol=1e-6,
                abs_tol=1e-12,
            ), where
        if case % 10 == 0:  # the enumeration small graphs use agrees too
            quick = solve(p, goal, method="enumerate")
            assert math.isclose(
                objective_value(goal, quick.cost, quick.latency),
                expected,
                rel_tol=1e-6,
                abs_tol=1e-12,
            ), where
    # The draw exercises the constraints: some bind, some cannot be met.
    assert binding > 20 and infeasible > 5, (binding, infeasible)


def test_presolve_keeps_an_optimum():
    """The reductions before the MILP (drop options, fix nodes to their cheapest) never
    lose the optimum: enumerating what they leave finds the brute-force best, and they
    do reduce something often enough for that to mean something."""
    from hetflow.optimize.presolve import presolve
    from hetflow.optimize.solve import _enumerate, prune

    rng = random.Random(20_260_000)
    reduced = 0
    for case in range(CASES // 2):
        p = random_problem(rng)
        goal = random_goal(rng, p)
        expected = brute_force(p, goal)
        kept = prune(p)
        narrow = presolve(p, goal, kept)
        assert all(set(a) <= set(b) for a, b in zip(narrow, kept, strict=True)), case
        reduced += sum(map(len, narrow)) < sum(map(len, kept))
        got = _enumerate(p, goal, narrow)
        if expected is None:
            assert got.choice is None, case
            continue
        assert got.choice is not None, (case, goal)
        value = objective_value(goal, got.cost, got.latency)
        assert math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-12), (case, value, expected)
    assert reduced > 100, reduced

"""Solving the placement problem exactly: which method.

:func:`solve` picks the method: ``separable`` (minimum cost with no deadline: each node's
cheapest option), ``enumerate`` (few combinations after :func:`prune`: try them all),
``milp`` (:mod:`hetflow.optimize.milp`, HiGHS), and past ``LARGE_NODES`` or a spent time
limit the ``greedy`` fallback with its proven gap (:mod:`hetflow.optimize.greedy`).

>>> from hetflow.optimize.model import Option, Problem
>>> p = Problem([[Option(1.0, 1.0, "a"), Option(0.1, 9.0, "b")]], [], {})
>>> solve(p, Goal("cost", deadline=5.0)).choice
[0]
"""

from __future__ import annotations

import itertools
import math
import time

from hetflow.optimize.model import (
    Goal,
    Problem,
    Solution,
    cheapest,
    evaluate,
    objective_value,
)
from hetflow.optimize.presolve import presolve

LARGE_NODES = 5_000  # beyond this: the greedy fallback with its proven gap
LARGE_TIME_LIMIT_S = 20.0
ENUMERATE_LIMIT = 20_000  # at most this many combinations: enumerate them all


def prune(p: Problem) -> list[list[int]]:
    """Per node, the options no other option beats in every plan.

    Option q beats option o of the same node when q is no dearer and, even after the
    worst change of handoffs on one edge in and one edge out (a path through the node
    uses one of each), no slower: ``q.latency + delta_in + delta_out <= o.latency``.
    Every path through the node then gets no longer, every other path is unchanged,
    so dropping o loses no optimum.  On one chip the deltas are zero.
    """
    n = len(p.options)
    near_in: list[set[str]] = [set() for _ in range(n)]
    near_out: list[set[str]] = [set() for _ in range(n)]
    for u, v in p.edges:
        near_out[u].update(o.chip for o in p.options[v])
        near_in[v].update(o.chip for o in p.options[u])

    def delta(chips: set[str], a: str, b: str) -> float:
        return max((p.handoff(k, b) - p.handoff(k, a) for k in chips), default=0.0)

    kept = []
    for node, opts in enumerate(p.options):
        keep = []
        for j, o in enumerate(opts):
            beaten = False
            for i, q in enumerate(opts):
                if i == j or q.cost > o.cost:
                    continue
                worst = q.latency
                if q.chip != o.chip:
                    worst += delta(near_in[node], o.chip, q.chip)
                    worst += delta(near_out[node], o.chip, q.chip)
                if worst <= o.latency and (q.cost < o.cost or worst < o.latency or i < j):
                    beaten = True
                    break
            if not beaten:
                keep.append(j)
        kept.append(keep)
    return kept


def solve(
    p: Problem, goal: Goal, *, time_limit: float | None = None, method: str = "auto"
) -> Solution:
    """The optimal choice of option per node for the goal (or ``status="infeasible"``).

    ``method``: ``auto`` (separable when it can be, enumeration when the pruned choices
    are few, else the MILP), or ``milp`` / ``enumerate`` to force one.
    """
    t0 = time.perf_counter()
    n = len(p.options)
    if n == 0:
        return Solution([], 0.0, 0.0, time_s=0.0)
    kept = prune(p)
    combos = math.prod(len(k) for k in kept)
    cheapest = _separable(p, goal) if method == "auto" and goal.objective == "cost" else None
    if cheapest is not None and (
        goal.deadline is None
        or cheapest.status == "infeasible"
        or cheapest.latency <= goal.deadline
    ):
        # The cheapest plan of all meets the deadline (or the budget rules out every
        # plan): nothing to search.
        sol = cheapest
    elif method == "enumerate" or (method == "auto" and combos <= ENUMERATE_LIMIT):
        sol = _enumerate(p, goal, kept)
    elif n > LARGE_NODES and method == "auto":
        from hetflow.optimize.milp import fallback  # numpy and HiGHS: only for large graphs

        sol = fallback(p, goal, kept, time_limit or LARGE_TIME_LIMIT_S)
    else:
        # numpy, scipy and HiGHS load only when a graph needs the MILP (~0.3 s of start-up)
        from hetflow.optimize.milp import milp_solve

        sol = milp_solve(p, goal, presolve(p, goal, kept), time_limit)
    sol.time_s = time.perf_counter() - t0
    return sol


def _enumerate(p: Problem, goal: Goal, kept) -> Solution:
    """Every combination of the kept options: exact, and for small graphs faster than
    starting a MILP solver (no scipy import).  Ties: the cheaper, then the faster."""
    best, best_key = None, None
    for choice in itertools.product(*kept):
        cost, latency = evaluate(p, list(choice))
        if goal.budget is not None and cost > goal.budget * (1 + 1e-9) + 1e-12:
            continue
        if goal.deadline is not None and latency > goal.deadline * (1 + 1e-9) + 1e-9:
            continue
        value = objective_value(goal, cost, latency)
        key = (value, latency if goal.objective == "cost" else cost)
        if best_key is None or key < best_key:
            best, best_key = list(choice), key
    if best is None:
        return Solution(None, status="infeasible", method="enumerate")
    cost, latency = evaluate(p, best)
    return Solution(best, cost, latency, method="enumerate")


def _separable(p: Problem, goal: Goal) -> Solution:
    """Minimum cost ignoring the deadline: each node's cheapest option (ties: the faster)."""
    choice = [cheapest(opts) for opts in p.options]
    cost, latency = evaluate(p, choice)
    if goal.budget is not None and cost > goal.budget * (1 + 1e-9) + 1e-12:
        return Solution(None, status="infeasible", method="separable")
    return Solution(choice, cost, latency, method="separable")

"""The fallback for graphs too large to solve exactly in time: a greedy plan and the
gap to a proven lower bound.

Start from every node's cheapest option, then repeatedly upgrade the one node on the
current critical path whose faster option buys the most seconds per extra dollar —
until the deadline is met (``cost``), while the budget allows and the plan gets faster
(``latency``), or while the objective falls (``balanced``).  Each step re-evaluates the
whole plan exactly.  The lower bound is the MILP's linear relaxation (every ``x`` in
[0, 1]), so ``gap = (plan − bound) / plan`` is a guarantee, not a guess.

>>> from hetflow.optimize.model import Option, Problem
>>> from hetflow.optimize.model import Goal
>>> p = Problem([[Option(1.0, 1.0, "a"), Option(0.1, 9.0, "a")]], [], {})
>>> greedy(p, Goal("cost", deadline=5.0))
[0]
"""

from __future__ import annotations

import time

from hetflow.optimize.model import (
    Problem,
    _topological,
    cheapest,
    critical_path,
    evaluate,
    fastest,
    objective_value,
    schedule,
)

GREEDY_MIN_S = 10.0  # the greedy's own time, however little the MILP had


def _fits(goal, cost: float, latency: float) -> bool:
    return (goal.budget is None or cost <= goal.budget * (1 + 1e-9) + 1e-12) and (
        goal.deadline is None or latency <= goal.deadline * (1 + 1e-9) + 1e-9
    )


def _value(goal, cost: float, latency: float) -> float:
    return objective_value(goal, cost, latency)


def greedy(p: Problem, goal, *, max_steps: int = 5_000, time_limit: float = 30.0):
    """A plan meeting the goal's constraints, or None when neither greedy finds one.

    Three greedies, the best kept: *slack* (every node at its fastest, then each node
    made cheaper within its free float — never later than its successors need it, so
    the plan's latency cannot grow), *repair* (from the cheapest plan, speed up at once
    every node whose total float against the deadline is negative, then give back what
    the slack allows), and *upgrade* (from the cheapest plan, speed up the critical
    path one node at a time where seconds are cheapest).
    """
    t0 = time.perf_counter()
    found = [
        c
        for c in (_slack(p, goal), _repair(p, goal), _upgrade(p, goal, max_steps, time_limit, t0))
        if c is not None
    ]
    return min(found, key=lambda c: _value(goal, *evaluate(p, c)), default=None)


def _slack(p: Problem, goal) -> list[int] | None:
    choice = [fastest(o) for o in p.options]
    cost, latency = evaluate(p, choice)
    target = goal.deadline if goal.deadline is not None and goal.objective != "latency" else latency
    if latency > target * (1 + 1e-9) + 1e-9:
        return None
    choice = downgrade_within_float(p, choice, target)
    return choice if _fits(goal, *evaluate(p, choice)) else None


def _repair(p: Problem, goal, rounds: int = 200) -> list[int] | None:
    """Cheapest plan first; then, round by round, every node late against the deadline
    (negative total float) moves to the faster option with the most seconds per dollar."""
    if goal.deadline is None:
        return None
    target = goal.deadline
    succ: list[list[int]] = [[] for _ in p.options]
    for u, v in p.edges:
        succ[u].append(v)
    order = _topological(len(p.options), p.edges)
    choice = [cheapest(o) for o in p.options]
    for _ in range(rounds):
        start, _via = schedule(p, choice)
        opt = [p.options[i][choice[i]] for i in range(len(choice))]
        latest_end = [target] * len(choice)
        for u in reversed(order):
            for v in succ[u]:
                latest_end[u] = min(
                    latest_end[u],
                    latest_end[v] - opt[v].latency - p.handoff(opt[u].chip, opt[v].chip),
                )
        late = [i for i in range(len(choice)) if latest_end[i] < start[i] + opt[i].latency - 1e-9]
        if not late:
            choice = downgrade_within_float(p, choice, target)
            return choice if _fits(goal, *evaluate(p, choice)) else None
        moved = False
        for i in late:
            best, ratio = None, -1.0
            for j, o in enumerate(p.options[i]):
                saved = opt[i].latency - o.latency
                if saved > 1e-12:
                    r = saved / max(o.cost - opt[i].cost, 1e-12)
                    if r > ratio:
                        best, ratio = j, r
            if best is not None:
                choice[i] = best
                moved = True
        if not moved:
            return None
    return None


def downgrade_within_float(
    p: Problem, choice: list[int], target: float, rounds: int = 100
) -> list[int]:
    """Make nodes cheaper (on their own chip) without delaying any successor or the end.

    A node's *free float* is how much later it may finish without moving any successor's
    earliest start (or the plan's end past ``target``).  Changes that stay within every
    node's own free float can be made all at once: none moves anything else.
    """
    succ: list[list[int]] = [[] for _ in p.options]
    for u, v in p.edges:
        succ[u].append(v)
    choice = list(choice)
    for _ in range(rounds):
        start, _via = schedule(p, choice)
        changed = False
        for i, opts in enumerate(p.options):
            cur = opts[choice[i]]
            end = start[i] + cur.latency
            room = min(
                (
                    start[v] - p.handoff(cur.chip, p.options[v][choice[v]].chip) - end
                    for v in succ[i]
                ),
                default=target - end,
            )
            if not succ[i]:
                room = target - end
            best = None
            for j, o in enumerate(opts):
                if (
                    o.chip == cur.chip
                    and o.cost < cur.cost
                    and o.latency - cur.latency <= room + 1e-12
                    and (best is None or o.cost < opts[best].cost)
                ):
                    best = j
            if best is not None:
                choice[i] = best
                changed = True
        if not changed:
            break
    return choice


def _upgrade(p: Problem, goal, max_steps: int, time_limit: float, t0: float):
    choice = [cheapest(o) for o in p.options]
    cost, latency = evaluate(p, choice)
    best = list(choice) if _fits(goal, cost, latency) else None
    best_value = _value(goal, cost, latency) if best else None
    for _ in range(max_steps):
        if time.perf_counter() - t0 > time_limit:
            break
        if best is not None and goal.objective == "cost":
            break  # the cheapest start only gets dearer: done once it fits
        move = _best_upgrade(p, choice, critical_path(p, choice))
        if move is None:
            break
        i, j = move
        choice[i] = j
        cost, latency = evaluate(p, choice)
        if goal.budget is not None and cost > goal.budget * (1 + 1e-9) + 1e-12:
            break  # every further upgrade costs more still
        if _fits(goal, cost, latency):
            value = _value(goal, cost, latency)
            if best_value is None or value < best_value:
                best, best_value = list(choice), value
            elif goal.objective == "balanced":
                break  # upgrades no longer pay for themselves
    return best


def _best_upgrade(p: Problem, choice: list[int], path: list[int]):
    """On the critical path, the faster option with the most seconds saved per dollar."""
    best, best_ratio = None, -1.0
    for i in path:
        now = p.options[i][choice[i]]
        for j, o in enumerate(p.options[i]):
            saved = now.latency - o.latency
            if saved <= 1e-12:
                continue
            extra = max(o.cost - now.cost, 1e-12)
            ratio = saved / extra
            if ratio > best_ratio:
                best, best_ratio = (i, j), ratio
    return best

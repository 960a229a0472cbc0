"""Reductions before the MILP, each keeping at least one optimal plan.

Two rules, repeated while either changes something:

* **drop** an option when even its best case — every other node at its fastest on the
  nearest chips (``head``/``tail``, the least time before and after the node) and at its
  cheapest — breaks the deadline or the budget, or is worse than a plan already known
  (the objective's value of the cheapest, fastest or fastest-then-cheapened plan);
* **fix** a node to its cheapest option (the fastest of those) when even its worst
  case — every other node at its slowest kept option, the dearest handoffs — keeps every
  path through it within the least makespan any plan can have (``latency``,
  ``balanced``: the move is then no slower and no dearer) or within the deadline
  (``cost``: no dearer, still in time).  Moving any plan's node there loses nothing.

Each rule only uses bounds that hold for every plan left, so the reduced problem keeps
an optimum of the original one (``tests/test_bruteforce.py`` checks it).
"""

from __future__ import annotations

import math

from hetflow.optimize.model import (
    Problem,
    adjacency,
    cheapest,
    evaluate,
    fastest,
    objective_value,
)

SAFE = 1e-7  # relative margin: a bound must clear its limit by this much to act


def presolve(p: Problem, goal, kept: list[list[int]], rounds: int = 10) -> list[list[int]]:
    """A narrower ``kept`` with the same optimum; ``kept`` itself if a domain would empty."""
    n = len(p.options)
    if n == 0:
        return kept
    succ, preds, order = adjacency(p)
    dom = [list(k) for k in kept]
    known = _known(p, goal)
    for _ in range(rounds):
        lat = [[p.options[i][j].latency for j in dom[i]] for i in range(n)]
        fast = [min(x) for x in lat]
        slow = [max(x) for x in lat]
        chips = [{p.options[i][j].chip for j in dom[i]} for i in range(n)]
        h_lo: dict[tuple[int, int], float] = {}
        h_hi: dict[tuple[int, int], float] = {}
        for u, v in p.edges:
            hs = [p.handoff(a, b) for a in chips[u] for b in chips[v]]
            h_lo[u, v], h_hi[u, v] = min(hs), max(hs)
        head_f, tail_f = _longest(n, order, preds, succ, fast, h_lo)
        head_s, tail_s = _longest(n, order, preds, succ, slow, h_hi)
        least_m = max(head_f[i] + fast[i] + tail_f[i] for i in range(n))
        cheap = [min(p.options[i][j].cost for j in dom[i]) for i in range(n)]
        least_c = math.fsum(cheap)
        changed = False
        new = []
        for i in range(n):
            keep = []
            for j in dom[i]:
                o = p.options[i][j]
                m = head_f[i] + o.latency + tail_f[i]
                c = least_c - cheap[i] + o.cost
                if not _worse(goal, c, m, known):
                    keep.append(j)
            if not keep:
                return kept  # no plan: the MILP says so
            changed |= len(keep) < len(dom[i])
            new.append(keep)
        dom = new
        limit = goal.deadline if goal.objective == "cost" else least_m
        if limit is not None:
            for i in range(n):
                if len(dom[i]) < 2:
                    continue
                best = cheapest(p.options[i], among=dom[i])
                worst = head_s[i] + p.options[i][best].latency + tail_s[i]
                if worst * (1 + SAFE) + 1e-12 <= limit:
                    dom[i] = [best]
                    changed = True
                    # the other bounds moved; the next round recomputes them
        if not changed:
            break
    return dom


def _longest(n, order, preds, succ, dur, hand) -> tuple[list[float], list[float]]:
    head = [0.0] * n
    for v in order:
        head[v] = max((head[u] + dur[u] + hand[u, v] for u in preds[v]), default=0.0)
    tail = [0.0] * n
    for u in reversed(order):
        tail[u] = max((hand[u, v] + dur[v] + tail[v] for v in succ[u]), default=0.0)
    return head, tail


def _known(p: Problem, goal) -> float | None:
    """The objective's value of the best simple plan meeting the limits (None: none does)."""
    plans = [
        [cheapest(o) for o in p.options],
        [fastest(o) for o in p.options],
    ]
    best = None
    for choice in plans:
        cost, latency = evaluate(p, choice)
        if goal.budget is not None and cost > goal.budget:
            continue
        if goal.deadline is not None and latency > goal.deadline:
            continue
        value = objective_value(goal, cost, latency)
        best = value if best is None else min(best, value)
    return best


def _worse(goal, cost: float, latency: float, known: float | None) -> bool:
    """True when a plan whose cost and makespan are at least these cannot be optimal."""
    if goal.budget is not None and cost > goal.budget * (1 + SAFE) + 1e-12:
        return True
    if goal.deadline is not None and latency > goal.deadline * (1 + SAFE) + 1e-9:
        return True
    if known is None:
        return False
    return objective_value(goal, cost, latency) > known * (1 + SAFE) + 1e-12

"""The cost and latency model the optimizer minimizes, and its exact evaluation.

A :class:`Problem` is the plan reduced to numbers: per node the options it may take
(an offer's cost and time for that node, and the chip it runs on), the edges, and each
chip's handoff time.  :func:`evaluate` prices one choice exactly — the sum of the
options' costs and the longest path through the graph, where an edge whose two ends
sit on different chips adds both chips' handoff — and is what the MILP is checked
against (``tests/test_bruteforce.py``).

>>> p = Problem(options=[[Option(1.0, 2.0, "a"), Option(0.5, 4.0, "b")],
...                      [Option(0.2, 1.0, "a")]],
...             edges=[(0, 1)], handoff_s={"a": 0.1, "b": 0.2})
>>> evaluate(p, [0, 0]), evaluate(p, [1, 0])
((1.2, 3.0), (0.7, 5.3))
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from hetflow.estimate.sizes import Work


@dataclass(frozen=True)
class Option:
    """One way to run a node: its dollars, its seconds, the chip it runs on."""

    cost: float
    latency: float
    chip: str
    offer: str | None = None  # "MODEL@CHIP"; None on the CPU


@dataclass
class Problem:
    """Nodes 0..n-1, each with its options; edges between node indexes."""

    options: list[list[Option]]
    edges: list[tuple[int, int]]
    handoff_s: dict[str, float] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)

    def handoff(self, a: str, b: str) -> float:
        """Seconds to move data across an edge from chip a to chip b (0 on one chip)."""
        if a == b:
            return 0.0
        return self.handoff_s.get(a, 0.0) + self.handoff_s.get(b, 0.0)


@dataclass(frozen=True)
class Goal:
    objective: str = "cost"
    budget: float | None = None
    deadline: float | None = None
    cost_scale: float = 1.0  # balanced: the baseline's cost
    latency_scale: float = 1.0  # balanced: the baseline's latency


@dataclass
class Solution:
    choice: list[int] | None
    cost: float = math.inf
    latency: float = math.inf
    status: str = "optimal"  # optimal | feasible | infeasible
    method: str = "milp"
    exact: bool = True
    gap: float | None = 0.0
    time_s: float = 0.0


def objective_value(goal: Goal, cost: float, latency: float) -> float:
    if goal.objective == "cost":
        return cost
    if goal.objective == "latency":
        return latency
    return cost / goal.cost_scale + latency / goal.latency_scale


def window(cat, offer) -> int:
    """The offer's context window: the provider's when it serves less than the model's."""
    model = cat.model_of(offer).context
    return min(model, offer.context) if offer.context else model


def reasoning_per_call(offer, work: Work) -> float:
    """Hidden reasoning tokens of one call of the node on the offer: as traced on its
    model when calibrated, else the catalog's figure at the step's effort."""
    for model, tokens in work.reasoning:
        if model == offer.model:
            return tokens
    thinking = getattr(offer, "reasoning_tokens", None)  # a catalog Offer
    return thinking(work.effort, work.input_tokens) if thinking else 0.0


def node_cost(offer, work: Work) -> float:
    """Dollars: every call priced on the offer (per-hour offers by their share),
    hidden reasoning billed as output."""
    if work.calls <= 0:
        return 0.0
    out = work.output_tokens + reasoning_per_call(offer, work)
    return work.calls * offer.call_cost_usd(work.input_tokens, out)


def node_latency(offer, work: Work) -> float:
    """Seconds: each round's calls in waves of the offer's concurrency, a wave of k calls
    as slow as k requests sharing the server make each (:mod:`hetflow.perf`); reasoning
    is written before the answer at the offer's output speed.  An offer that keeps a
    conversation's prefix reads only each call's new tokens (``prefill_tokens``); the
    cost still counts them all.  A CPU node: its CPU time."""
    if offer is None or work.calls <= 0:
        return work.cpu_s
    out = work.output_tokens + reasoning_per_call(offer, work)
    read = work.input_tokens
    if work.prefill_tokens is not None and getattr(offer, "reuses_prefix", False):
        read = work.prefill_tokens
    slots = max(1, offer.concurrency)
    full = math.floor(work.parallel / slots + 1e-9)
    rest = work.parallel - full * slots
    one_round = full * offer.call_latency_s(read, out, slots)
    if rest > 1e-9:
        one_round += offer.call_latency_s(read, out, max(1.0, rest))
    return work.rounds * one_round


def cheapest(options: list[Option], among: Iterable[int] | None = None) -> int:
    """The index of the cheapest option (of those ``among``; ties: the faster)."""
    return min(
        range(len(options)) if among is None else among,
        key=lambda j: (options[j].cost, options[j].latency),
    )


def fastest(options: list[Option]) -> int:
    """The index of the fastest option (ties: the cheaper)."""
    return min(range(len(options)), key=lambda j: (options[j].latency, options[j].cost))


def schedule(p: Problem, choice: list[int]) -> tuple[list[float], list[int | None]]:
    """Earliest start of every node and the predecessor that sets it (None: a source)."""
    n = len(p.options)
    preds: list[list[int]] = [[] for _ in range(n)]
    for u, v in p.edges:
        preds[v].append(u)
    start = [0.0] * n
    via: list[int | None] = [None] * n
    for v in _topological(n, p.edges):
        chip_v = p.options[v][choice[v]].chip
        for u in preds[v]:
            o = p.options[u][choice[u]]
            t = start[u] + o.latency + p.handoff(o.chip, chip_v)
            if t > start[v] or via[v] is None and t >= start[v]:
                start[v], via[v] = t, u
    return start, via


def evaluate(p: Problem, choice: list[int]) -> tuple[float, float]:
    """The exact (cost, latency) of one choice of option per node."""
    start, _ = schedule(p, choice)
    cost = sum(p.options[i][c].cost for i, c in enumerate(choice))
    latency = max((start[i] + p.options[i][c].latency for i, c in enumerate(choice)), default=0.0)
    return cost, latency


def critical_path(p: Problem, choice: list[int]) -> list[int]:
    """The nodes on the longest path, source first."""
    if not p.options:
        return []
    start, via = schedule(p, choice)
    last = max(range(len(choice)), key=lambda i: start[i] + p.options[i][choice[i]].latency)
    path = [last]
    before = via[last]
    while before is not None:
        path.append(before)
        before = via[before]
    return path[::-1]


def adjacency(p: Problem) -> tuple[list[list[int]], list[list[int]], list[int]]:
    """Each node's successors and predecessors, and a topological order."""
    n = len(p.options)
    succ: list[list[int]] = [[] for _ in range(n)]
    preds: list[list[int]] = [[] for _ in range(n)]
    for u, v in p.edges:
        succ[u].append(v)
        preds[v].append(u)
    return succ, preds, _topological(n, p.edges)


def _topological(n: int, edges: list[tuple[int, int]]) -> list[int]:
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for u, v in edges:
        succ[u].append(v)
        indeg[v] += 1
    order = [i for i in range(n) if indeg[i] == 0]
    for u in order:  # the list grows as we go
        for v in succ[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                order.append(v)
    return order

"""The performance model ``hetflow simulate`` runs: one plan node as calls on an offer.

For every node: how many items it runs (its maps' cardinalities), how its calls chain
(``rounds`` one after another, chains side by side), how long one call takes on its
offer and what it costs.  :mod:`hetflow.simulate.engine` schedules these calls in time.

>>> from hetflow.plan.model import Plan
>>> p = Plan(workflow="w", nodes=[{"id": "a", "op": "extract", "step": "a"}], edges=[])
>>> prepare(p, p.nodes[0], None).call_s == CPU_STEP_S
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hetflow.perf import call_seconds
from hetflow.plan.model import Assignment, Plan, PlanNode

CPU_STEP_S = 0.002  # one CPU step (split, grep, count) on one item, when the plan says nothing
CPU_CHIP = "cpu"
SEQUENTIAL_OPS = ("recurse.root",)  # each iteration waits for the previous one


@dataclass
class SimNode:
    """The simulator's view of one plan node."""

    plan: PlanNode
    items: int  # instances: the product of its maps' cardinalities
    radix: list[int]  # cardinality of each enclosing map, outermost first
    chains_per_item: list[int]  # calls side by side per item, each a chain of `rounds`
    rounds: int  # calls one after another in a chain
    call_s: float  # one call's duration before jitter
    call_in: float
    call_out: float
    offer: str
    chip: str
    concurrency: int
    handoff_s: float
    assignment: Assignment | None


def _cardinality(plan: Plan, item: str) -> int:
    try:
        card = plan.map_scope(item).cardinality
    except KeyError:
        return 1
    return max(1, int(round(card)))


def prepare(plan: Plan, n: PlanNode, catalog) -> SimNode:
    radix = [_cardinality(plan, item) for item in n.maps]
    items = math.prod(radix)
    a = _refresh(n.assignment, catalog)
    est = n.estimate
    if a is None:
        cpu_s = _figure(est, "cpu_s") or est.latency_s or CPU_STEP_S * items
        return SimNode(
            n,
            items,
            radix,
            [1] * items,
            1,
            cpu_s / items,
            0.0,
            0.0,
            CPU_CHIP,
            CPU_CHIP,
            0,
            _cpu_handoff(catalog),
            None,
        )
    total = int(round(est.calls))
    if total <= 0:
        total = items  # a model step makes at least one call per item
    rounds = _figure(est, "rounds")
    if rounds is not None:
        rounds = max(1, int(round(rounds)))
    elif n.op in SEQUENTIAL_OPS:
        rounds = max(1, round(total / items))
    else:
        rounds = 1
    chains = max(1, round(total / rounds))
    base, spare = divmod(chains, items)
    per_item = [base + (1 if i < spare else 0) for i in range(items)]
    calls = sum(per_item) * rounds
    call_in = est.input_tokens / calls
    call_out = est.output_tokens / calls + a.reasoning_tokens  # hidden reasoning first
    read = call_in
    fresh = est.prefill_tokens_per_call
    if a.prefix_cache and fresh is not None:
        read = fresh
    # each request as slow as the offer's slots, when full, make it (hetflow.perf)
    in_flight = min(float(max(1, a.concurrency)), float(max(1, items)))
    seconds = call_seconds(
        a.ttft_ms, a.prefill_tps, a.output_tps, read, call_out, in_flight, a.throughput
    )
    offer = a.offer or f"{a.model}@{a.chip}"
    return SimNode(
        n,
        items,
        radix,
        per_item,
        rounds,
        seconds,
        call_in,
        call_out,
        offer,
        a.chip,
        max(1, a.concurrency),
        a.handoff_ms / 1000.0,
        a,
    )


def _figure(est, name: str) -> float | None:
    """A positive figure the optimizer may have left in a node's estimate, or None."""
    value = getattr(est, name, None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _refresh(a: Assignment | None, catalog) -> Assignment | None:
    """The assignment with the catalog's current figures for its offer (if given)."""
    if a is None or catalog is None:
        return a
    offer = catalog.offer(a.offer or f"{a.model}@{a.chip}")
    chip = catalog.chips.get(offer.chip)
    return a.model_copy(
        update={
            **offer.figures(),
            "handoff_ms": chip.handoff_ms if chip is not None else a.handoff_ms,
        }
    )


def _cpu_handoff(catalog) -> float:
    chip = catalog.chips.get(CPU_CHIP) if catalog is not None else None
    return (chip.handoff_ms if chip is not None else 0.0) / 1000.0


def call_cost(node: SimNode, seconds: float) -> float:
    a = node.assignment
    if a is None:
        return 0.0
    if a.per_hour is not None:
        # Self-hosted: a call holds one of `concurrency` slots for as long as it runs.
        return seconds / 3600.0 * a.per_hour / max(1, a.concurrency)
    return (node.call_in * a.input_per_mtok + node.call_out * a.output_per_mtok) / 1e6

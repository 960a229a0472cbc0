"""Pass: ranked alternatives per model node — the runtime's fallbacks — and the list of
every candidate considered (so ``hetflow explain`` needs no catalog).

A fallback helps most when it fails differently: the next-best candidates on another
provider or chip come first, then the rest, each ranked by the plan's objective for
that node alone; every one meets the node's needs and holds its input.  Each carries
what the node would cost and take on it (``cost_usd``, ``latency_s``).
"""

from __future__ import annotations

from hetflow.optimize.context import Context, is_model_node, to_assignment, work_of
from hetflow.optimize.model import node_cost, node_latency, window
from hetflow.plan.model import Considered

MAX_ALTERNATIVES = 3


def provider(offer) -> str:
    """Who serves the offer: its ``provider``, else its litellm prefix, else its chip."""
    if offer.provider:
        return offer.provider
    return offer.litellm.split("/", 1)[0] if "/" in offer.litellm else offer.chip


def score(
    objective: str, cost: float, latency: float, cost_scale: float = 1.0, latency_scale: float = 1.0
) -> tuple:
    if objective == "cost":
        return (cost, latency)
    if objective == "latency":
        return (latency, cost)
    return (cost / cost_scale + latency / latency_scale, cost)


def considered(cat, offers, w) -> list:
    """Every candidate with the node's cost and latency on it, cheapest first."""
    rows = [
        Considered(
            offer=o.id,
            model=o.model,
            chip=o.chip,
            litellm=o.litellm,
            cost_usd=node_cost(o, w),
            latency_s=node_latency(o, w),
            context=window(cat, o),
        )
        for o in offers
    ]
    return sorted(rows, key=lambda c: (c.cost_usd, c.latency_s))


def alternatives(plan, ctx: Context):
    cat = ctx.catalog
    b = plan.baseline
    for node in plan.nodes:
        if not is_model_node(node) or node.assignment is None:
            continue
        w = work_of(node)
        chosen = cat.offer(node.assignment.offer)
        others = [o for o in ctx.candidates.get(node.id, []) if o.id != chosen.id]

        def rank(o, chosen=chosen, w=w):
            elsewhere = provider(o) != provider(chosen) and o.chip != chosen.chip
            return (
                not elsewhere,
                score(
                    plan.objective,
                    node_cost(o, w),
                    node_latency(o, w),
                    b.cost_usd or 1.0,
                    b.latency_s or 1.0,
                ),
            )

        node.candidates = considered(cat, ctx.candidates.get(node.id, []), w)
        node.alternatives = [
            to_assignment(cat, o, w) for o in sorted(others, key=rank)[:MAX_ALTERNATIVES]
        ]
    return plan

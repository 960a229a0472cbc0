"""Pass: the homogeneous baseline — every model node on the catalog's strongest offer.

It is what a user would do without hetflow (send everything to one frontier model),
priced by the same model as the plan, so ``cheaper_x``/``faster_x`` say what
heterogeneity bought.  A node whose needs the strongest offer does not meet is still
priced on it, and a warning says so: the comparison is then generous to the baseline.
"""

from __future__ import annotations

import math

from hetflow.optimize.candidates import offers_meeting
from hetflow.optimize.context import Context, build_problem, is_model_node, work_of
from hetflow.optimize.model import evaluate, reasoning_per_call


def baseline(plan, ctx: Context):
    """Fill ``plan.baseline`` (the ratios are set once the plan's own totals are known)."""
    cat = ctx.catalog
    model_nodes = [n for n in plan.nodes if is_model_node(n)]
    if not model_nodes:
        return plan
    best = cat.strongest_offer()
    for node in model_nodes:
        w = work_of(node)
        if not offers_meeting(cat, [best], node.needs, math.ceil(w.input_tokens + w.output_tokens)):
            plan.warnings.append(
                f"baseline: {best.id} does not meet the needs of '{node.id}'; "
                "it is priced there all the same"
            )
    problem = build_problem(plan, cat, lambda node: [best])
    cost, latency = evaluate(problem, [0] * len(problem.options))
    b = plan.baseline
    b.model, b.chip, b.litellm = best.model, best.chip, best.litellm
    b.cost_usd, b.latency_s = cost, latency
    if best.thinking is not None:  # the effort it assumes where a step sets none
        b.reasoning_effort = best.thinking.effort(None)
        b.reasoning_tokens = sum(
            work_of(n).calls * reasoning_per_call(best, work_of(n)) for n in model_nodes
        )
    return plan

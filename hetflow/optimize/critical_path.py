"""Pass: the plan's totals — cost, latency, the critical path — and the baseline ratios.

The figures are the exact evaluation of the chosen assignment by the same model the
solver optimized (:func:`hetflow.optimize.model.evaluate`), never the solver's own
floating-point objective.
"""

from __future__ import annotations

from hetflow.optimize.context import Context
from hetflow.optimize.model import critical_path as longest_path
from hetflow.optimize.model import evaluate


def critical_path(plan, ctx: Context):
    problem, choice = ctx.placed()
    cost, latency = evaluate(problem, choice)
    e = plan.estimate
    e.cost_usd, e.latency_s = cost, latency
    e.critical_path = [problem.ids[i] for i in longest_path(problem, choice)]
    for node in plan.nodes:
        n = node.estimate
        n.calls = n.rounds * n.parallel
        n.input_tokens = n.calls * n.input_tokens_per_call
        n.output_tokens = n.calls * n.output_tokens_per_call
        a = node.assignment
        n.reasoning_tokens = n.calls * a.reasoning_tokens if a is not None else 0.0
    e.calls = sum(n.estimate.calls for n in plan.nodes)
    e.input_tokens = sum(n.estimate.input_tokens for n in plan.nodes)
    e.output_tokens = sum(n.estimate.output_tokens for n in plan.nodes)
    e.reasoning_tokens = sum(n.estimate.reasoning_tokens for n in plan.nodes)
    b = plan.baseline
    if b.model:
        b.cheaper_x = b.cost_usd / cost if cost > 0 else None
        b.faster_x = b.latency_s / latency if latency > 0 else None
    return plan

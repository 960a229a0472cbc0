"""Pass: cascades — a step with ``with escalate=true`` tries a cheap candidate first and
moves to a stronger one when the answer fails its schema or says UNSURE.

With measured quality (``hetflow tune``) a cascade is priced by what was measured, not
assumed: the cheap offer's escalation rate ``r`` (the share of samples whose answer it
gave up on) and its score on the answers it kept make

    expected cost    = cost(cheap) + r x cost(strong)
    expected quality = (1 - r) x kept_score(cheap) + r x score(strong)

The cascade replaces the step's single placement when it meets the quality target and
is cheaper (or faster, for a latency objective); the plan's totals change by the
difference and the plan records the cascade (docs/quality.md). Without measurements a
step that escalates keeps its placement, its fallbacks become the escalation order,
and the estimate assumes no escalation (said in the plan's warnings).
"""

from __future__ import annotations

from hetflow.optimize.candidates import offers_meeting, pin_filter
from hetflow.optimize.context import Context, is_model_node, to_assignment, work_of
from hetflow.optimize.model import node_cost, node_latency


def cascade(plan, ctx: Context):
    for node in plan.nodes:
        if not is_model_node(node) or node.assignment is None:
            continue
        if not (node.options or {}).get("escalate"):
            continue
        measured = ctx.quality.steps.get(node.step) if ctx.quality else None
        target = (node.options or {}).get("min_quality", ctx.min_quality)
        if measured is None or target is None:
            plan.warnings.append(
                f"{node.id}: escalates, but no measured escalation rate (hetflow tune) "
                "or quality target: estimated as if it never escalates"
            )
            continue
        _place(plan, node, measured, float(target), ctx)
    return plan


def _place(plan, node, measured, target: float, ctx: Context) -> None:
    cat = ctx.catalog
    w = work_of(node)
    given = node.needs if node.needs_source == "given" else {}
    tokens = w.input_tokens + w.output_tokens
    offers = offers_meeting(cat, pin_filter(cat, node.pin), given, tokens)
    scored = [(o, measured.of(o.id)) for o in offers]
    scored = [(o, s) for o, s in scored if s is not None and s.n > 0]
    by_latency = plan.objective == "latency"

    def metric(cost: float, latency: float) -> tuple[float, float]:
        return (latency, cost) if by_latency else (cost, latency)

    now = node.estimate
    best = None
    for cheap, c in scored:
        r = c.escalation_rate
        for strong, s in scored:
            if strong.id == cheap.id or s.score < target:
                continue
            quality = (1 - r) * c.accepted_score + r * s.score
            if quality < target:
                continue
            cost = node_cost(cheap, w) + r * node_cost(strong, w)
            latency = node_latency(cheap, w) + r * node_latency(strong, w)
            if best is None or metric(cost, latency) < metric(best[2], best[3]):
                best = (cheap, strong, cost, latency, r, quality)
    if best is None or metric(best[2], best[3]) >= metric(now.cost_usd, now.latency_s):
        return
    cheap, strong, cost, latency, r, quality = best
    dc, dl = cost - now.cost_usd, latency - now.latency_s
    if plan.deadline_s is not None and plan.estimate.latency_s + max(dl, 0) > plan.deadline_s:
        return  # a slower cascade could miss the deadline the placement met
    if plan.budget_usd is not None and plan.estimate.cost_usd + dc > plan.budget_usd:
        return
    rest = [a for a in node.alternatives if a.offer not in (cheap.id, strong.id)]
    node.assignment = to_assignment(cat, cheap, w)
    node.alternatives = [to_assignment(cat, strong, w), *rest]
    now.cost_usd, now.latency_s = cost, latency
    plan.estimate.cost_usd += dc
    if node.id in plan.estimate.critical_path:
        plan.estimate.latency_s += dl
    b = plan.baseline
    if b.model:
        e = plan.estimate
        b.cheaper_x = b.cost_usd / e.cost_usd if e.cost_usd > 0 else None
        b.faster_x = b.latency_s / e.latency_s if e.latency_s > 0 else None
    if node.quality is not None:
        node.quality["cascade"] = {
            "first": cheap.id,
            "then": strong.id,
            "escalation_rate": round(r, 6),
            "expected_quality": round(quality, 6),
        }

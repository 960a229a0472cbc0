"""Pass: the offers each model node may run on (LANGUAGE.md §5.8 diagnostics).

An offer is a candidate when its model has every needed skill at its level, its
context window holds the node's input and answer for one call, and it matches the
node's pin (``using MODEL``, ``on CHIP``).  Needs the catalog cannot meet, a pin naming
an unknown model or chip, and a pinned model too weak for the needs are errors
positioned at the ``needs`` or the pin.  Needs the complexity analysis derived are
lowered, one level at a time from the highest, until some offer meets them (a warning
says so): a guess must never make a program fail.

>>> from hetflow.catalog import load_catalog
>>> cat = load_catalog(None)
>>> [o.id for o in offers_meeting(cat, cat.offers, {"vision": 4}, 1000)][:1]
['gpt-5@nvidia-h100']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from hetflow.errors import closest
from hetflow.estimate.complexity import kind_of
from hetflow.estimate.quality import predict_reasoning
from hetflow.optimize.context import Context, is_model_node, work_of
from hetflow.optimize.model import window

SKILL_NAMES = ("reasoning", "coding", "extraction", "vision")


def offers_meeting(cat, offers: Iterable, needs: Mapping[str, float], tokens: float) -> list:
    skills = {k: int(v) for k, v in needs.items() if k in SKILL_NAMES}
    fits = max(float(tokens), float(needs.get("context", 0)))
    return [o for o in offers if cat.model_of(o).meets(skills, 0) and window(cat, o) >= fits]


def _needs_text(needs: Mapping[str, float]) -> str:
    parts = [f"{k} >= {int(v)}" for k, v in needs.items() if k in SKILL_NAMES]
    if needs.get("context"):
        parts.append(f"context >= {_k(needs['context'])}")
    return ", ".join(parts)


def _k(tokens: float) -> str:
    return f"{tokens / 1000:.0f}k" if tokens >= 1000 else f"{tokens:.0f}"


def _skills(model, needs: Mapping[str, float]) -> str:
    keys = [k for k in SKILL_NAMES if k in needs] or list(SKILL_NAMES)
    return ", ".join(f"{k} {model.skill(k)}" for k in keys)


def _best(cat, needs: Mapping[str, float]):
    """The model that comes closest to the needs (fewest levels short)."""

    def short(model):
        return sum(max(0, int(v) - model.skill(k)) for k, v in needs.items() if k in SKILL_NAMES)

    return min(cat.models.values(), key=lambda m: (short(m), -m.context))


def _pinned(cat, pin: Mapping[str, str | None], node_id: str, ctx: Context, where):
    """The offers a pin allows, or None after recording why there are none."""
    offers = list(cat.offers)
    pos = where.get("pin")
    name = pin.get("model")
    if name:
        offers = cat.find_model(name)
        if not offers:
            names = list(cat.models) + [o.litellm for o in cat.offers]
            hint = closest(name, names)
            more = f"; did you mean '{hint}'?" if hint else ""
            ctx.error(f"catalog '{cat.name}' has no model '{name}'{more}", pos)
            return None
    chip_name = pin.get("chip")
    if chip_name:
        chip = cat.find_chip(chip_name)
        if chip is None:
            hint = closest(chip_name, list(cat.chips))
            more = f"; did you mean '{hint}'?" if hint else f" (chips: {', '.join(cat.chips)})"
            ctx.error(f"catalog '{cat.name}' has no chip '{pin['chip']}'{more}", pos)
            return None
        on_chip = [o for o in offers if o.chip == chip.name]
        if not on_chip:
            served = ", ".join(sorted({o.chip for o in offers}))
            if pin.get("model"):
                message = (
                    f"model '{pin['model']}' is not served on chip '{chip.name}' in "
                    f"catalog '{cat.name}' (it is on: {served})"
                )
            else:
                message = (
                    f"no model is served on chip '{chip.name}' in catalog '{cat.name}', "
                    f"so a model step cannot run there (chips that serve models: {served})"
                )
            ctx.error(message, pos)
            return None
        offers = on_chip
    return offers


def pin_filter(cat, pin) -> list:
    """The offers a pin allows (no diagnostics: for tools reading a compiled plan)."""
    offers = list(cat.offers)
    if pin and pin.get("model"):
        offers = cat.find_model(pin["model"])
    if pin and pin.get("chip"):
        chip = cat.find_chip(pin["chip"])
        offers = [o for o in offers if chip is not None and o.chip == chip.name]
    return offers


def _relax(cat, needs: dict[str, float], tokens: float) -> list:
    """Lower derived skill levels, highest first, until an offer meets them."""
    while True:
        found = offers_meeting(cat, cat.offers, needs, tokens)
        levels = {k: v for k, v in needs.items() if k in SKILL_NAMES and v > 0}
        if found or not levels:
            return found
        top = max(levels, key=lambda k: levels[k])
        needs[top] = levels[top] - 1


def candidates(plan, ctx: Context):
    """Fill ``ctx.candidates`` for every model node; record §5.8 errors."""
    cat = ctx.catalog
    for node in plan.nodes:
        if not is_model_node(node):
            continue
        where = ctx.where.get(node.id, {})
        w = work_of(node)
        tokens = math.ceil(w.input_tokens + w.output_tokens)
        allowed = cat.offers
        if node.pin:
            allowed = _pinned(cat, node.pin, node.id, ctx, where)
            if allowed is None:
                continue
        measured = _measured(node, ctx)
        if measured is None and node.needs_source == "derived":
            _learned(node, ctx, w.input_tokens)
        if measured is not None:
            found = _meeting_quality(cat, allowed, node, tokens, measured, ctx, where)
            if found is None:
                continue
            ctx.candidates[node.id] = found
            continue
        found = offers_meeting(cat, allowed, node.needs, tokens)
        if not found and node.needs_source == "derived" and not node.pin:
            before = _needs_text(node.needs)
            found = _relax(cat, node.needs, tokens)
            if found:
                node.needs_why = (
                    node.needs_why or ""
                ) + f"; lowered from {before}: no offer in the catalog meets that"
                plan.warnings.append(
                    f"{node.id}: derived needs lowered to "
                    f"{_needs_text(node.needs)} (the catalog has no "
                    f"offer for {before})"
                )
        if not found:
            _no_offer(cat, node, allowed, tokens, ctx, where)
            continue
        ctx.candidates[node.id] = found
    ctx.raise_errors()
    return plan


def _measured(node, ctx: Context):
    """The step's measured quality when there is a target to meet, else None."""
    if ctx.quality is None or node.op not in ("reason", "zoom"):
        return None
    target = (node.options or {}).get("min_quality", ctx.min_quality)
    step = ctx.quality.steps.get(node.step)
    if target is None or step is None:
        return None
    return step, float(target)


def _learned(node, ctx: Context, tokens: float) -> None:
    """A derived reasoning level replaced by what tuned steps like this one needed."""
    target = (node.options or {}).get("min_quality", ctx.min_quality)
    tables = [q for q in (ctx.quality, *ctx.learn_from) if q is not None]
    if not tables or target is None or node.op not in ("reason", "zoom"):
        return
    learned = predict_reasoning(
        tables,
        kind=node.op,
        work=kind_of(node.prompt or ""),
        typed=node.output_schema is not None,
        tokens=tokens,
        target=float(target),
    )
    if learned is None:
        return
    node.needs["reasoning"] = learned.reasoning
    node.needs_why = (node.needs_why + "; " if node.needs_why else "") + learned.why


def _meeting_quality(cat, allowed, node, tokens, measured, ctx: Context, where):
    """A measured step's candidates: the offers whose measured score meets the target.

    Skill levels are the rule for steps nobody measured; a measurement replaces them,
    so only needs the user gave (not derived ones) still filter. The mean score is
    compared (docs/quality.md says why not the interval's lower bound).
    """
    step, target = measured
    given = node.needs if node.needs_source == "given" else {}
    fitting = offers_meeting(cat, allowed, given, tokens)
    scored = [(o, step.of(o.id)) for o in fitting]
    scored = [(o, s) for o, s in scored if s is not None and s.n > 0]
    found = [o for o, s in scored if s.score >= target]
    evidence = {
        "target": target,
        "against": step.against,
        "scores": {
            o.id: {"score": round(s.score, 4), "n": s.n, "low": round(s.low, 4)} for o, s in scored
        },
    }
    node.quality = evidence
    if found:
        node.needs_why = (
            f"measured: {len(found)} of {len(scored)} candidates score >= {target:g} "
            f"(against {step.against})"
        )
        return found
    if scored:
        best_offer, best = max(scored, key=lambda x: x[1].score)
        detail = f"the best is {best_offer.id} at {best.score:.2f} over {best.n} samples"
    else:
        detail = "no measured candidate fits this step's window and pin"
    ctx.error(
        f"no candidate of step '{node.step}' meets quality {target:g}; {detail}",
        where.get("step"),
    )
    return None


def _no_offer(cat, node, allowed, tokens, ctx: Context, where) -> None:
    needs = node.needs
    skills_met = offers_meeting(
        cat, allowed, {k: v for k, v in needs.items() if k in SKILL_NAMES}, 0
    )
    fits = max(tokens, needs.get("context", 0))
    if node.pin:
        model = cat.model_of(allowed[0])
        if not skills_met:
            ctx.error(
                f"pinned model '{model.name}' does not meet the needs "
                f"{_needs_text(needs)} (it has {_skills(model, needs)})",
                where.get("pin") or where.get("step"),
            )
        else:
            ctx.error(
                f"pinned model '{model.name}' has a {_k(window(cat, allowed[0]))}-token "
                f"window; this step needs ~{_k(fits)} tokens a call",
                where.get("pin") or where.get("step"),
            )
        return
    if not skills_met:
        best = _best(cat, needs)
        ctx.error(
            f"no offer in catalog '{cat.name}' meets needs {_needs_text(needs)}; "
            f"the closest is {best.name} ({_skills(best, needs)})",
            where.get("needs") or where.get("step"),
        )
        return
    widest = max(skills_met, key=lambda o: window(cat, o))
    ctx.error(
        f"no offer with these skills has a window for ~{_k(fits)} tokens a call; "
        f"the largest is {widest.model} ({_k(window(cat, widest))} tokens)",
        where.get("needs") if needs.get("context", 0) >= fits else where.get("step"),
    )

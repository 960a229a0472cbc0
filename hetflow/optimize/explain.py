"""``hetflow explain``: per node, the needs, every candidate with its cost and latency
for that node, the winner and why it won.

Works from a compiled plan alone: each node lists every offer the optimizer
considered with its cost and latency for that node, from the catalog the plan was
compiled with.  A plan without that list (written by an older hetflow) is explained
against a catalog, recomputed from the plan's own per-call work (a note says when that
catalog is not the one the plan was compiled with).

>>> from hetflow.compiler import compile
>>> plan = compile("workflow w {\\n input q: text\\n reason a = prompt \\"{{ q }}\\"\\n"
...                " output a\\n}", objective="cost")
>>> print(explain(plan).splitlines()[0])
w: objective cost; plan $0.00012, ... than all on gpt-5 @ nvidia-h100 at reasoning effort medium
"""

from __future__ import annotations

import math

from hetflow.catalog import load_catalog
from hetflow.errors import HetError, closest
from hetflow.optimize.candidates import offers_meeting, pin_filter
from hetflow.optimize.context import is_model_node, work_of
from hetflow.optimize.model import node_cost, node_latency, window
from hetflow.units import exact_duration, exact_money, money, seconds

MAX_LISTED = 12


def _needs(node) -> str:
    if not node.needs:
        return "none"
    parts = [
        f"{k} >= {v:g}" if k != "context" else f"context >= {v / 1000:.0f}k"
        for k, v in node.needs.items()
    ]
    return ", ".join(parts)


def _quality(q: dict) -> list[str]:
    """The measured scores (hetflow tune) that decided which candidates may run a step."""
    lines = [f"  measured quality (target {q['target']:g}, against {q['against']}):"]
    for offer, s in sorted(q["scores"].items(), key=lambda x: -x[1]["score"]):
        mark = "meets" if s["score"] >= q["target"] else "below"
        lines.append(
            f"    {offer:<32} {s['score']:.2f} (n={s['n']}, lower bound {s['low']:.2f}) {mark}"
        )
    return lines


def explain_node(node, catalog, plan) -> list[str]:
    e = node.estimate
    head = f"{node.id}  ({node.op}"
    head += f", line {node.source.line})" if node.source.line else ")"
    lines = [head]
    if not is_model_node(node):
        lines.append(f"  runs on the CPU, no model: ~{seconds(e.cpu_s)}")
        return lines
    lines.append(f"  needs: {_needs(node)} ({node.needs_source})")
    if node.needs_why:
        lines.append(f"    why: {node.needs_why}")
    if node.quality:
        lines.extend(_quality(node.quality))
    if node.pin:
        pin = " ".join(f"{k} {v}" for k, v in node.pin.items() if v)
        lines.append(f"  pinned: {pin}")
    lines.append(
        f"  work: {e.rounds:g} round(s) x {e.parallel:g} call(s) at once; "
        f"{e.input_tokens_per_call:,.0f} tokens in, "
        f"{e.output_tokens_per_call:,.0f} out per call"
        + (
            f" (calibrated from {e.calibrated_from_runs} traced run"
            f"{'s' * (e.calibrated_from_runs != 1)})"
            if e.calibrated_from_runs
            else ""
        )
    )
    a = node.assignment
    if a is not None and (a.reasoning_effort or a.reasoning_tokens):
        traced = " (traced)" if a.model in e.reasoning_traced else ""
        effort = f" at effort {a.reasoning_effort}" if a.reasoning_effort else ""
        lines.append(
            f"  reasoning: {a.reasoning_tokens:,.0f} hidden tokens per call on {a.model}"
            f"{effort}{traced}, billed as output, before the answer"
        )
    chosen = node.assignment.offer if node.assignment else None
    rows = _candidates(node, catalog)
    lines.append(f"  candidates ({len(rows)}), cheapest first:")
    width = max((len(r[2]) for r in rows), default=10)
    for i, (cost, latency, offer, context) in enumerate(rows):
        if i >= MAX_LISTED and offer != chosen:
            continue
        mark = "->" if offer == chosen else "  "
        lines.append(
            f"   {mark} {offer.ljust(width)}  {money(cost):>9}  {seconds(latency):>7}"
            f"  window {context // 1000}k"
        )
    if len(rows) > MAX_LISTED:
        lines.append(f"      ... {len(rows) - MAX_LISTED} more")
    if chosen and chosen not in {r[2] for r in rows}:
        lines.append(f"   -> {chosen} (not a candidate in this catalog)")
    if node.why:
        lines.append(f"  chosen: {chosen}: {node.why}")
    if node.alternatives:
        lines.append("  fallbacks: " + ", ".join(a.offer for a in node.alternatives))
    return lines


def _candidates(node, catalog) -> list[tuple[float, float, str, int]]:
    """(cost, latency, offer, window) of every offer considered, cheapest first."""
    if node.candidates:  # what the optimizer saw, from the catalog it compiled with
        rows = [(c.cost_usd, c.latency_s, c.offer, c.context) for c in node.candidates]
    else:  # an older plan: recompute from the catalog at hand
        w = work_of(node)
        tokens = math.ceil(w.input_tokens + w.output_tokens)
        found = offers_meeting(catalog, pin_filter(catalog, node.pin), node.needs, tokens)
        rows = [(node_cost(o, w), node_latency(o, w), o.id, window(catalog, o)) for o in found]
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def _nodes(plan, step: str | None) -> list:
    if step is None:
        return list(plan.nodes)
    nodes = [n for n in plan.nodes if step in (n.id, n.step)]
    if not nodes:
        hint = closest(step, [n.id for n in plan.nodes] + [n.step for n in plan.nodes])
        more = f"; did you mean '{hint}'?" if hint else ""
        raise HetError(f"plan '{plan.workflow}' has no step '{step}'{more}")
    return nodes


def _catalog_for(plan, nodes, catalog):
    """The catalog to recompute candidates with: only an older plan needs one."""
    if any(is_model_node(n) and not n.candidates for n in nodes):
        if catalog is None or isinstance(catalog, str):
            catalog = load_catalog(catalog)
        return catalog
    return None


def explain_data(plan, catalog=None, step: str | None = None) -> dict:
    """The explanation as data (``hetflow explain --format json``; docs/optimizer.md)."""
    nodes = _nodes(plan, step)
    catalog = _catalog_for(plan, nodes, catalog)
    t = plan.estimate
    steps = []
    for node in nodes:
        e = node.estimate
        entry: dict = {
            "id": node.id,
            "step": node.step,
            "op": node.op,
            "line": node.source.line or None,
            "model": is_model_node(node),
        }
        if not is_model_node(node):
            entry["cpu_s"] = e.cpu_s
            steps.append(entry)
            continue
        chosen = node.assignment.offer if node.assignment else None
        entry.update(
            needs=dict(node.needs),
            needs_source=node.needs_source,
            needs_why=node.needs_why,
            pin={k: v for k, v in (node.pin or {}).items() if v},
            work={
                "rounds": e.rounds,
                "parallel": e.parallel,
                "input_tokens_per_call": e.input_tokens_per_call,
                "output_tokens_per_call": e.output_tokens_per_call,
                "calibrated_from_runs": e.calibrated_from_runs or 0,
            },
            candidates=[
                {
                    "offer": offer,
                    "cost_usd": cost,
                    "latency_s": latency,
                    "window": context,
                    "chosen": offer == chosen,
                }
                for cost, latency, offer, context in _candidates(node, catalog)
            ],
            chosen=chosen,
            why=node.why,
            fallbacks=[a.offer for a in node.alternatives],
        )
        steps.append(entry)
    return {
        "workflow": plan.workflow,
        "objective": plan.objective,
        "budget_usd": plan.budget_usd,
        "deadline_s": plan.deadline_s,
        "cost_usd": t.cost_usd,
        "latency_s": t.latency_s,
        "critical_path": list(t.critical_path),
        "comparison": plan.comparison(),
        "steps": steps,
    }


def explain(plan, catalog=None, step: str | None = None) -> str:
    """The explanation of a plan (or of one step) as text."""
    nodes = _nodes(plan, step)
    t = plan.estimate
    out = [
        f"{plan.workflow}: objective {plan.objective}; plan {money(t.cost_usd)}, "
        f"{seconds(t.latency_s)}; " + plan.comparison()
    ]
    limits = []
    if plan.budget_usd is not None:
        limits.append(f"budget {exact_money(plan.budget_usd)}")
    if plan.deadline_s is not None:
        limits.append(f"deadline {exact_duration(plan.deadline_s)}")
    if limits:
        out.append("constraints: " + ", ".join(limits))
    out.append("critical path: " + " -> ".join(t.critical_path))
    opt = plan.optimizer
    if opt:
        out.append(
            f"optimizer: {opt.get('method')}, exact={opt.get('exact')}, "
            f"gap={opt.get('gap')}, {opt.get('time_s')}s"
        )
    # A plan lists what it considered; only an older plan needs a catalog to explain it.
    catalog = _catalog_for(plan, nodes, catalog)
    if (
        catalog is not None
        and plan.catalog.get("sha256")
        and plan.catalog["sha256"] != catalog.hash
    ):
        out.append(
            f"note: catalog '{catalog.name}' is not the one this plan was compiled "
            f"with ('{plan.catalog.get('name')}'); candidates are from '{catalog.name}'"
        )
    for node in nodes:
        out.append("")
        out.extend(explain_node(node, catalog, plan))
    return "\n".join(out)

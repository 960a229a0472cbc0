"""``hetflow report``: a plan (and a traced run, and a simulation) as one HTML page.

The page is self-contained: its CSS, its few lines of script and its two pictures (inline
SVG laid out by :mod:`hetflow.report.svg`) are in the file, so it opens offline, from a
mail or a CI artefact, and asks the network for nothing.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2

from hetflow import __version__
from hetflow.plan.model import Plan
from hetflow.report import svg
from hetflow.report.data import CPU, Run, Span, planned_spans, read_trace, simulated_spans
from hetflow.simulate.engine import simulate as run_simulation

TOP_STEPS = 20  # cost by step: the costliest, then the rest in one row
OFF_BY = 0.25  # predicted vs actual: further than this is flagged


@dataclass
class Bar:
    label: str
    value: float
    second: float | None = None  # actual, beside the estimate
    color: str = svg.CPU_COLOR
    note: str = ""


def _tint(color: str, amount: float) -> str:
    """``color`` mixed with white (``amount`` of the color): a fill the browser need not mix."""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * amount):02x}" for c in rgb)


def _money(x: float | None) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "$0"
    if abs(x) < 0.01:
        return f"${x:.4f}"
    if abs(x) < 100:
        return f"${x:.3f}"
    return f"${x:,.0f}"


def _secs(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1:
        return f"{x * 1000:.0f} ms"
    if x < 120:
        return f"{x:.0f} s" if x == int(x) else f"{x:.2f} s"
    return f"{x / 60:.1f} min"


def _count(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 10_000:
        return f"{x / 1000:,.0f}k"
    return f"{x:,.0f}"


def _err(actual: float, predicted: float) -> tuple[str, str]:
    """(error in percent, its class: ok, off, far)."""
    if predicted <= 0:
        return ("—", "") if actual <= 0 else ("new", "far")
    e = (actual - predicted) / predicted
    cls = "ok" if abs(e) <= OFF_BY else ("off" if abs(e) <= 1 else "far")
    return f"{e * 100:+.0f}%", cls


def _x(x: float | None) -> str:
    return "—" if not x else f"{x:.1f}×"


def build_report(
    plan: Plan,
    *,
    trace: str | os.PathLike | None = None,
    run: str | None = None,
    simulate: bool = False,
    seed: int | None = 0,
    jitter: float = 0.0,
) -> str:
    """The report of ``plan`` as HTML text."""
    actual: Run | None = read_trace(trace, plan, run) if trace is not None else None
    sim = None
    if simulate:
        sim = run_simulation(plan, seed=seed, jitter=jitter)
    chips = [n.assignment.chip for n in plan.nodes if n.assignment is not None]
    if actual is not None:
        chips += [s.chip for s in actual.spans]
    colors = svg.chip_colors(chips + [CPU])
    used = {c: colors[c] for c in sorted(set(chips)) if c in colors}
    if any(n.assignment is None for n in plan.nodes):
        used[CPU] = svg.CPU_COLOR
    classes = {c: ("cpu" if c == CPU else f"c{i}") for i, c in enumerate(colors)}

    if sim is not None:
        predicted: list[Span] | None = simulated_spans(sim)
        predicted_label = "simulated"
    elif actual is None:
        predicted, predicted_label = planned_spans(plan), "planned"
    else:
        predicted, predicted_label = None, ""
    gantt = svg.gantt_svg(
        predicted, actual.spans if actual else None, classes, colors, plan.deadline_s
    )
    if sim is not None and actual is not None:
        gantt_note = "pale bars: the simulation; solid bars: the traced run"
    elif sim is not None:
        gantt_note = f"the simulation (seed {seed}, jitter {jitter:g})"
    elif actual is not None:
        gantt_note = f"the traced run {actual.run}"
    else:
        gantt_note = "the optimizer's schedule (add --simulate or --trace for more)"

    ctx: dict[str, Any] = {
        "plan": plan,
        "version": __version__,
        "colors": used,
        "chip_css": "".join(
            f".{classes[c]}{{--c:{colors[c]};--t:{_tint(colors[c], 0.12)};--h:{_tint(colors[c], 0.28)}}}"
            for c in colors
        ),
        "graph": svg.graph_svg(plan, classes),
        "gantt": gantt,
        "gantt_note": gantt_note,
        "kpis": _kpis(plan, sim, actual),
        "by_step": _by_step(plan, actual, colors),
        "by_chip": _by_chip(plan, actual, colors),
        "versus": actual is not None,
        "data": _data(plan, colors, predicted, predicted_label, actual),
        "nodes": len(plan.nodes),
        "baseline": _baseline(plan, sim, actual),
        "actual": actual,
        "sim": sim,
        "money": _money,
        "secs": _secs,
        "count": _count,
    }
    env = jinja2.Environment(
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )
    here = resources.files("hetflow.report")
    template = env.from_string(here.joinpath("template.html.j2").read_text(encoding="utf-8"))
    ctx["css"] = jinja2.utils.markupsafe.Markup(here.joinpath("style.css").read_text("utf-8"))
    ctx["js"] = jinja2.utils.markupsafe.Markup(here.joinpath("report.js").read_text("utf-8"))
    for k in ("graph", "data", "chip_css"):
        ctx[k] = jinja2.utils.markupsafe.Markup(ctx[k])
    ctx["gantt"] = jinja2.utils.markupsafe.Markup(ctx["gantt"])
    return template.render(**ctx)


def _kpis(plan: Plan, sim, actual: Run | None) -> list[dict[str, str]]:
    est = plan.estimate
    out = [
        {"label": "estimated cost", "value": _money(est.cost_usd), "sub": "per run"},
        {"label": "estimated latency", "value": _secs(est.latency_s), "sub": "end to end"},
        {"label": "model calls", "value": _count(est.calls), "sub": f"{len(plan.nodes)} nodes"},
    ]
    b = plan.baseline
    if b.cheaper_x:
        out.append(
            {
                "label": "cheaper than baseline",
                "value": _x(b.cheaper_x),
                "sub": f"and {_x(b.faster_x)} faster than all on {b.model}",
            }
        )
    if sim is not None:
        out.append(
            {
                "label": "simulated",
                "value": _secs(sim.makespan_s),
                "sub": f"{_money(sim.cost_usd)}, {_err(sim.makespan_s, est.latency_s)[0]} vs estimate",
            }
        )
    if actual is not None:
        out.append(
            {
                "label": "traced run",
                "value": _money(actual.cost_usd),
                "sub": f"{_secs(actual.latency_s)}, {actual.calls} calls (run {actual.run})",
            }
        )
    return out


def _bars(rows: list[Bar]) -> dict[str, Any]:
    top = max([r.value for r in rows] + [r.second or 0 for r in rows] + [1e-12])
    return {
        "rows": [
            {
                "label": r.label,
                "value": _money(r.value),
                "second": None if r.second is None else _money(r.second),
                "w": f"{r.value / top * 100:.1f}",
                "w2": None if r.second is None else f"{r.second / top * 100:.1f}",
                "color": r.color,
                "note": r.note,
            }
            for r in rows
        ]
    }


def _by_step(plan: Plan, actual: Run | None, colors) -> dict[str, Any]:
    rows = []
    for n in plan.nodes:
        chip = n.assignment.chip if n.assignment is not None else CPU
        got = actual.nodes.get(n.id) if actual is not None else None
        second = (got.cost_usd if got else 0.0) if actual is not None else None
        note = f"{n.assignment.model} @ {chip}" if n.assignment is not None else "CPU"
        rows.append(Bar(n.id, n.estimate.cost_usd, second, colors.get(chip, svg.CPU_COLOR), note))
    rows.sort(key=lambda r: -max(r.value, r.second or 0))
    rows = [r for r in rows if r.value > 0 or (r.second or 0) > 0]
    if len(rows) > TOP_STEPS:
        rest = rows[TOP_STEPS:]
        second = sum(r.second or 0 for r in rest) if actual is not None else None
        rows = rows[:TOP_STEPS] + [
            Bar(f"{len(rest)} other steps", sum(r.value for r in rest), second, "#cbd5e1")
        ]
    return _bars(rows)


def _by_chip(plan: Plan, actual: Run | None, colors) -> dict[str, Any]:
    est: dict[str, float] = defaultdict(float)
    calls: dict[str, float] = defaultdict(float)
    for n in plan.nodes:
        if n.assignment is not None:
            est[n.assignment.chip] += n.estimate.cost_usd
            calls[n.assignment.chip] += n.estimate.calls
    got: dict[str, float] = defaultdict(float)
    if actual is not None:
        for s in actual.spans:
            got[s.chip] += s.cost_usd
    chips = sorted(set(est) | set(got), key=lambda c: -max(est[c], got[c]))
    rows = [
        Bar(
            c,
            est[c],
            got[c] if actual is not None else None,
            colors.get(c, svg.CPU_COLOR),
            f"{_count(calls[c])} calls",
        )
        for c in chips
    ]
    return _bars(rows)


def _r(x: float | None, digits: int = 6) -> float | None:
    """A number for the page's data, short."""
    if x is None:
        return None
    return float(f"{x:.{digits}g}")


def _intern(table: dict[str, int], text: str) -> int:
    return table.setdefault(text, len(table))


def _data(
    plan: Plan,
    colors: dict[str, str],
    predicted: list[Span] | None,
    predicted_label: str,
    actual: Run | None,
) -> str:
    """The tables' rows and the tooltips' figures, as compact JSON the page's script reads
    (a 1,000-node plan as HTML rows would be most of a megabyte)."""
    chips = list(colors)
    on_path = set(plan.estimate.critical_path)
    offers: dict[str, int] = {}  # each alternative offer's text once, by number
    nodes = []
    for n in plan.nodes:
        a = n.assignment
        chip = a.chip if a is not None else CPU
        needs = ", ".join(
            f"{k} ≥ {_count(v) if k == 'context' else f'{v:g}'}" for k, v in n.needs.items()
        )
        e = n.estimate
        nodes.append(
            [
                n.id,
                n.op,
                a.model if a is not None else "",
                chips.index(chip) if chip in chips else -1,
                needs,
                n.needs_source == "derived",
                _r(e.cost_usd),
                _r(e.latency_s),
                _r(e.calls) if a is not None else None,
                [
                    [_intern(offers, f"{x.model} @ {x.chip}"), _r(x.cost_usd), _r(x.latency_s)]
                    for x in n.alternatives[:3]
                ],
                n.why or "",
                int(n.id in on_path) + 2 * int(bool(n.pin)),
            ]
        )
    spans: dict[str, list] = {}
    for s in predicted or []:
        spans.setdefault(s.node, [None, None])[0] = [s.chip, _r(s.start), _r(s.end), s.calls]
    for s in actual.spans if actual is not None else []:
        spans.setdefault(s.node, [None, None])[1] = [s.chip, _r(s.start), _r(s.end), s.calls]
    versus = None
    if actual is not None:
        versus = []
        for n in plan.nodes:
            got = actual.nodes.get(n.id)
            if n.assignment is None and got is None:
                continue
            e = n.estimate
            row: list[Any] = [n.id, got is not None]
            row.append(
                [
                    _r(e.calls),
                    _r(e.input_tokens),
                    _r(e.output_tokens),
                    _r(e.latency_s),
                    _r(e.cost_usd),
                ]
            )
            if got is not None:
                row.append(
                    [
                        got.calls,
                        got.input_tokens,
                        got.output_tokens,
                        _r(got.latency_s),
                        _r(got.cost_usd),
                    ]
                )
                row.append(got.errors)
            else:
                row.extend([[0, 0, 0, 0, 0], 0])
            versus.append(row)
    total = None
    if actual is not None:
        pe = plan.estimate
        total = [
            "whole run",
            True,
            [
                _r(pe.calls),
                _r(pe.input_tokens),
                _r(pe.output_tokens),
                _r(pe.latency_s),
                _r(pe.cost_usd),
            ],
            [
                actual.calls,
                sum(a.input_tokens for a in actual.nodes.values()),
                sum(a.output_tokens for a in actual.nodes.values()),
                _r(actual.latency_s),
                _r(actual.cost_usd),
            ],
            sum(a.errors for a in actual.nodes.values()),
        ]
    data = {
        "total": total,
        "chips": chips,
        "colors": [colors[c] for c in chips],
        "nodes": nodes,
        "offers": list(offers),
        "spans": spans,
        "predicted": predicted_label,
        "versus": versus,
        "offby": OFF_BY,
    }
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # inside <script>: no "</" may close it early
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def _baseline(plan: Plan, sim, actual: Run | None) -> dict[str, Any]:
    b = plan.baseline
    rows = [("this plan (estimate)", plan.estimate.cost_usd, plan.estimate.latency_s, "plan")]
    if sim is not None:
        rows.append(("this plan (simulated)", sim.cost_usd, sim.makespan_s, "sim"))
    if actual is not None:
        rows.append(("this plan (traced run)", actual.cost_usd, actual.latency_s, "act"))
    rows.append((f"all on {b.model} @ {b.chip}", b.cost_usd, b.latency_s, "base"))
    top_c = max([r[1] for r in rows] + [1e-12])
    top_l = max([r[2] for r in rows] + [1e-12])
    return {
        "model": b.model,
        "chip": b.chip,
        "cheaper": _x(b.cheaper_x),
        "faster": _x(b.faster_x),
        "rows": [
            {
                "label": label,
                "cost": _money(c),
                "latency": _secs(t),
                "wc": f"{c / top_c * 100:.1f}",
                "wl": f"{t / top_l * 100:.1f}",
                "cls": cls,
            }
            for label, c, t, cls in rows
        ],
    }

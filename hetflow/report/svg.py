"""The report's two pictures as inline SVG, laid out here: the workflow graph and the
Gantt chart per chip.

The graph is layered by topological generations (left to right), each layer ordered by
the mean place of its producers (two sweeps of the barycenter heuristic), edges drawn as
curves.  Past ``COMPACT_AFTER`` nodes the boxes shrink to labelled pills so that a
1,000-node plan stays a picture of a few hundred kilobytes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from html import escape

import networkx as nx

from hetflow.plan.model import Plan
from hetflow.report.data import CPU, Span

PALETTE = (
    "#2563eb",  # blue
    "#d97706",  # amber
    "#059669",  # emerald
    "#db2777",  # pink
    "#7c3aed",  # violet
    "#0891b2",  # cyan
    "#dc2626",  # red
    "#65a30d",  # lime
    "#c026d3",  # fuchsia
    "#0d9488",  # teal
    "#ea580c",  # orange
    "#4f46e5",  # indigo
)
CPU_COLOR = "#94a3b8"
COMPACT_AFTER = 150
LANE_MAX_PX = 260  # the time line's tallest lane of one chip


def chip_colors(chips) -> dict[str, str]:
    out = {CPU: CPU_COLOR}
    for i, chip in enumerate(sorted(c for c in set(chips) if c != CPU)):
        out[chip] = PALETTE[i % len(PALETTE)]
    return out


def _f(x: float) -> str:
    """A coordinate, short: whole pixels are enough."""
    return str(round(x))


def _g(x: float) -> str:
    """A time line coordinate, to a tenth of a pixel (short bars stay visible)."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


# ---------------------------------------------------------------- graph


def graph_svg(plan: Plan, classes: dict[str, str]) -> str:
    """``classes``: chip -> its CSS class (which sets the chip's colour)."""
    g = nx.DiGraph()
    inputs = [i.name for i in plan.inputs]
    for name in inputs:
        g.add_node(name, kind="input")
    for pn in plan.nodes:
        g.add_node(pn.id, kind="node")
    for a, b in plan.edges:
        g.add_edge(a, b)
    for pn in plan.nodes:
        for r in pn.reads:
            if r in inputs:
                g.add_edge(r, pn.id)
    for m in plan.maps:  # a map reads its list: the body's sources wait for it
        if m.over in inputs:
            for b in m.body:
                if not any(p in m.body for p in g.predecessors(b)) and b in g:
                    g.add_edge(m.over, b)
    try:
        layers = [list(layer) for layer in nx.topological_generations(g)]
    except nx.NetworkXUnfeasible:  # a plan is acyclic when read; be safe anyway
        layers = [list(g.nodes)]
    order = {n: i for i, n in enumerate(g.nodes)}
    for layer in layers:
        layer.sort(key=lambda n: order[n])
    place: dict[str, float] = {}
    for _ in range(2):
        for layer in layers:
            for n in layer:
                preds = [place[p] for p in g.predecessors(n) if p in place]
                if preds:
                    place[n] = sum(preds) / len(preds)
            layer.sort(key=lambda n: (place.get(n, math.inf), order[n]))
            for i, n in enumerate(layer):
                place[n] = i
    compact = g.number_of_nodes() > COMPACT_AFTER
    w, h = (118, 22) if compact else (152, 46)
    gap_x, gap_y = (46, 8) if compact else (48, 18)
    tallest = max((len(layer) for layer in layers), default=1)
    height = tallest * (h + gap_y) + gap_y
    xy: dict[str, tuple[float, float]] = {}
    for li, layer in enumerate(layers):
        left = 12.0 + li * (w + gap_x)
        top = gap_y / 2 if compact else (height - len(layer) * (h + gap_y)) / 2 + gap_y / 2
        for i, n in enumerate(layer):
            xy[n] = (left, top + i * (h + gap_y))
    width = 24 + len(layers) * (w + gap_x) - gap_x
    path = plan.estimate.critical_path
    critical = set(zip(path, path[1:], strict=False))
    on_path = set(plan.estimate.critical_path)
    nodes = {n.id: n for n in plan.nodes}
    compact_cls = " compact" if compact else ""
    fit = " fit" if width <= 1600 else ""  # scaled to the page down to ~70%
    out = [
        f'<svg class="graph{fit}{compact_cls}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} '
        f'{_f(height)}" width="{_f(width)}" height="{_f(height)}" role="img" '
        f'aria-label="workflow graph">',
        '<defs><marker id="ah" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0L8,4L0,8z" fill="#94a3b8"/></marker>'
        '<marker id="ahc" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0L8,4L0,8z" fill="#0f172a"/></marker></defs>',
        '<g class="edges">',
    ]
    for a, b in g.edges:
        (x1, y1), (x2, y2) = xy[a], xy[b]
        x1, y1, y2 = x1 + w, y1 + h / 2, y2 + h / 2
        mid = (x1 + x2) / 2
        crit = (a, b) in critical
        cls = ' class="crit"' if crit else ""
        marker = "ahc" if crit else "ah"
        out.append(
            f'<path{cls} d="M{_f(x1)},{_f(y1)}C{_f(mid)},{_f(y1)} {_f(mid)},{_f(y2)} '
            f'{_f(x2 - 2)},{_f(y2)}" marker-end="url(#{marker})"/>'
        )
    out.append('</g><g class="nodes">')
    for nid, (x, y) in xy.items():
        node = nodes.get(nid)
        if node is None:  # an input
            out.append(
                f'<g class="in" data-node="{escape(nid)}">'
                f'<path d="M{_f(x + 10)},{_f(y)}h{w - 10}l-10,{h}h-{w - 10}z"/>'
                f'<text x="{_f(x + w / 2)}" y="{_f(y + h / 2 + 4)}">{escape(_clip(nid, 18))}</text></g>'
            )
            continue
        chip = node.assignment.chip if node.assignment is not None else CPU
        mark = " crit" if nid in on_path else ""
        rx = h / 2 if node.assignment is None else 5
        out.append(
            f'<g class="n {classes.get(chip, "cpu")}{mark}" data-node="{escape(nid)}">'
            f'<rect x="{_f(x)}" y="{_f(y)}" width="{w}" height="{h}" rx="{_f(rx)}"/>'
        )
        if compact:
            out.append(
                f'<text x="{_f(x + 7)}" y="{_f(y + h / 2 + 4)}">{escape(_clip(nid, 15))}</text></g>'
            )
            continue
        where = f"{node.assignment.model} @ {chip}" if node.assignment is not None else "CPU"
        maps = f" ×{_cardinality(plan, node.maps):g}" if node.maps else ""
        out.append(
            f'<text x="{_f(x + 10)}" y="{_f(y + 19)}">{escape(_clip(nid, 17))}'
            f'<tspan class="op"> {escape(node.op)}{maps}</tspan></text>'
            f'<text x="{_f(x + 10)}" y="{_f(y + 36)}" class="s">'
            f"{escape(_clip(where, 23))}</text></g>"
        )
    out.append("</g></svg>")
    return "".join(out)


def _cardinality(plan: Plan, items: list[str]) -> float:
    total = 1.0
    for item in items:
        try:
            total *= plan.map_scope(item).cardinality
        except KeyError:
            pass
    return round(total, 1)


# ---------------------------------------------------------------- gantt


def _ticks(end: float) -> list[float]:
    if end <= 0:
        return [0.0]
    raw = end / 6
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return [i * step for i in range(int(end / step) + 1)]


def _secs(t: float) -> str:
    if t == 0:
        return "0"
    if t < 1:
        return f"{t * 1000:.0f} ms"
    if t < 120:
        return f"{t:g} s" if t == int(t) else f"{t:.1f} s"
    return f"{t / 60:.1f} min"


def gantt_svg(
    predicted: list[Span] | None,
    actual: list[Span] | None,
    classes: dict[str, str],
    colors: dict[str, str],
    deadline: float | None = None,
) -> str:
    """One lane per chip; a node's predicted span as a pale bar, its actual as a solid one;
    the workflow's deadline, if it has one within reach, as a red line."""
    rows: dict[str, list[tuple[str, Span | None, Span | None]]] = defaultdict(list)
    pred = {(s.node, s.chip): s for s in predicted or []}
    act = {(s.node, s.chip): s for s in actual or []}
    keys = list(dict.fromkeys(list(pred) + list(act)))
    end = max([s.end for s in pred.values()] + [s.end for s in act.values()] + [0.0])
    if deadline is not None and end < deadline <= end * 1.5:
        end = deadline  # just past the run: draw the line in view
    chips = sorted({k[1] for k in keys}, key=lambda c: (c == CPU, c))
    # pack each chip's nodes into sub-rows, first fit by start
    packed: dict[str, list[list[tuple[str, Span | None, Span | None]]]] = {}
    for chip in chips:
        mine = [(k[0], pred.get(k), act.get(k)) for k in keys if k[1] == chip]
        mine.sort(key=lambda t: min(s.start for s in t[1:] if s is not None))
        lanes: list[list] = []
        lane_end: list[float] = []
        for t in mine:
            spans = [s for s in t[1:] if s is not None]
            start, stop = min(s.start for s in spans), max(s.end for s in spans)
            for i, e in enumerate(lane_end):
                if start >= e - 1e-9:
                    lanes[i].append(t)
                    lane_end[i] = stop + end * 0.004
                    break
            else:
                lanes.append([t])
                lane_end.append(stop + end * 0.004)
        packed[chip] = lanes
        rows[chip] = mine
    label_w, plot_w = 150, 960
    both = predicted is not None and actual is not None

    def rows_of(chip: str) -> tuple[float, float]:
        """(bar height, gap) of a chip's sub-rows: many at once are drawn thinner, so
        that no lane is taller than LANE_MAX_PX."""
        n = max(len(packed[chip]), 1)
        if n * 24 <= LANE_MAX_PX:
            return 18.0, 6.0
        step = LANE_MAX_PX / n
        return max(step * 0.8, 1.0), step * 0.2

    height = 32 + sum(max(len(packed[c]), 1) * sum(rows_of(c)) + 12 for c in chips)
    width = label_w + plot_w + 20
    scale = plot_w / end if end > 0 else 1.0
    out = [
        f'<svg class="gantt fit{"" if both else " solo"}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
        f'{_f(height)}" width="{width}" height="{_f(height)}" role="img" '
        f'aria-label="time line per chip">'
    ]
    for tick in _ticks(end):
        x = label_w + tick * scale
        out.append(
            f'<line class="tick" x1="{_f(x)}" y1="18" x2="{_f(x)}" y2="{_f(height - 4)}"/>'
            f'<text class="tk" x="{_f(x)}" y="12">{_secs(tick)}</text>'
        )
    y = 26.0
    for chip in chips:
        lanes = packed[chip] or [[]]
        bar_h, pad = rows_of(chip)
        lane_h = len(lanes) * (bar_h + pad)
        color = colors.get(chip, CPU_COLOR)
        cls = classes.get(chip, "cpu")
        many = f"{len(rows[chip])} nodes" if bar_h < 12 else ""
        out.append(
            f'<rect class="lane" x="0" y="{_f(y - 3)}" width="{width}" height="{_f(lane_h + 6)}"/>'
            f'<rect x="0" y="{_f(y - 3)}" width="4" height="{_f(lane_h + 6)}" fill="{color}"/>'
            f'<text class="chip" x="12" y="{_f(y + lane_h / 2 + 4)}">{escape(chip)}'
            f'<tspan class="cn" x="12" dy="15">{many}</tspan></text>'
            if many
            else f'<rect class="lane" x="0" y="{_f(y - 3)}" width="{width}" '
            f'height="{_f(lane_h + 6)}"/><rect x="0" y="{_f(y - 3)}" width="4" '
            f'height="{_f(lane_h + 6)}" fill="{color}"/><text class="chip" x="12" '
            f'y="{_f(y + lane_h / 2 + 4)}">{escape(chip)}</text>'
        )
        for li, lane in enumerate(lanes):
            top = y + li * (bar_h + pad)
            for node, p, a in lane:
                for s, kind in ((p, "p"), (a, "a")):
                    if s is None:
                        continue
                    x = label_w + s.start * scale
                    bw = max((s.end - s.start) * scale, 1.5)
                    inset = bar_h * 0.22 if (both and kind == "a") else 0
                    out.append(
                        f'<rect class="bar {kind} {cls}" x="{_g(x)}" y="{_g(top + inset)}" '
                        f'width="{_g(bw)}" height="{_g(bar_h - 2 * inset)}" '
                        f'data-node="{escape(node)}"/>'
                    )
                s = a or p
                assert s is not None
                x, bw = label_w + s.start * scale, (s.end - s.start) * scale
                if bar_h >= 14 and bw > len(node) * 6.5 + 8:
                    out.append(
                        f'<text class="bl" x="{_g(x + 5)}" y="{_f(top + bar_h / 2 + 4)}">'
                        f"{escape(node)}</text>"
                    )
        y += lane_h + 12
    if deadline is not None and deadline <= end:
        x = label_w + deadline * scale
        out.append(
            f'<line class="dl" x1="{_g(x)}" y1="18" x2="{_g(x)}" y2="{_f(height - 4)}"/>'
            f'<text class="dlt" x="{_g(x - 4)}" y="{_f(height - 8)}">deadline {_secs(deadline)}</text>'
        )
    out.append("</svg>")
    return "".join(out)

"""A workflow graph or a compiled plan as a picture: Mermaid ``flowchart TD`` or Graphviz DOT.

Both drawings show the same thing: inputs as parallelograms, CPU steps rounded, model
steps as boxes (``zoom`` a hexagon), every node labelled ``name`` / ``op``; a
``recurse`` step's root, REPL and sub-call nodes grouped in a box named after the
step; each ``map`` body in a box ``map ITEM in LIST`` (nested maps nested).  A plan
adds each node's assignment (``model @ chip``) and marks its critical path in red.

>>> from hetflow.syntax.loader import load_or_raise
>>> from hetflow.plan.graph import build_graph
>>> g = build_graph(load_or_raise("workflow w {\\n input x: text\\n"
...     " reason y = prompt \\"{{ x }}\\"\\n output y\\n}").workflows[0])
>>> print(mermaid(g))  # doctest: +NORMALIZE_WHITESPACE
flowchart TD
  x[/"x<br/>input"/]
  y["y<br/>reason"]
  x --> y
  classDef input fill:#eef6ff,stroke:#4a78b5
  classDef cpu fill:#f4f4f4,stroke:#888
  class x input
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

import networkx as nx

from hetflow.plan.model import Plan

CRITICAL_COLOR = "#d62728"
CPU_OPS = ("extract", "reduce", "recurse.repl")

# Words Mermaid's flowchart grammar reads as keywords; a node must not be called so.
_MERMAID_WORDS = frozenset(
    "end subgraph graph flowchart style class classdef click linkstyle call direction "
    "default href".split()
)


@dataclass
class _Node:
    id: str
    op: str
    lines: list[str]


@dataclass
class _Group:
    key: str
    title: str
    parent: str | None
    nodes: list[str] = field(default_factory=list)


@dataclass
class _View:
    """What both drawings need, whether it came from a graph or from a plan."""

    name: str
    nodes: dict[str, _Node]
    edges: list[tuple[str, str]]
    groups: dict[str, _Group]
    top: list[str]  # nodes outside every group
    critical: list[str]


def mermaid(source: nx.DiGraph | Plan, *, critical_path: list[str] | None = None) -> str:
    """The graph or plan as a Mermaid ``flowchart TD``."""
    view = _view(source, critical_path)
    ids = _Ids()
    out = ["flowchart TD"]

    def shape(node: _Node) -> str:
        label = "<br/>".join(_mermaid_text(line) for line in node.lines)
        mid = ids.get(node.id)
        if node.op == "input":
            return f'{mid}[/"{label}"/]'
        if node.op in CPU_OPS:
            return f'{mid}("{label}")'
        if node.op == "zoom":
            return f'{mid}{{{{"{label}"}}}}'
        if node.op == "recurse.root":
            return f'{mid}[["{label}"]]'
        return f'{mid}["{label}"]'

    def emit_group(key: str, indent: str) -> None:
        group = view.groups[key]
        out.append(f'{indent}subgraph {ids.get(key)} ["{_mermaid_text(group.title)}"]')
        for nid in group.nodes:
            out.append(f"{indent}  {shape(view.nodes[nid])}")
        for child in _children(view, key):
            emit_group(child, indent + "  ")
        out.append(f"{indent}end")

    for nid in view.top:
        out.append(f"  {shape(view.nodes[nid])}")
    for key in _children(view, None):
        emit_group(key, "  ")
    hot = set(pairwise(view.critical))
    hot_links = []
    for i, (src, dst) in enumerate(view.edges):
        out.append(f"  {ids.get(src)} --> {ids.get(dst)}")
        if (src, dst) in hot:
            hot_links.append(str(i))
    out.append("  classDef input fill:#eef6ff,stroke:#4a78b5")
    out.append("  classDef cpu fill:#f4f4f4,stroke:#888")
    inputs = [ids.get(n.id) for n in view.nodes.values() if n.op == "input"]
    cpu = [ids.get(n.id) for n in view.nodes.values() if n.op in CPU_OPS]
    if inputs:
        out.append(f"  class {','.join(inputs)} input")
    if cpu:
        out.append(f"  class {','.join(cpu)} cpu")
    if view.critical:
        out.append(f"  classDef critical stroke:{CRITICAL_COLOR},stroke-width:3px")
        marked = [ids.get(n) for n in view.critical if n in view.nodes]
        out.append(f"  class {','.join(marked)} critical")
    if hot_links:
        out.append(f"  linkStyle {','.join(hot_links)} stroke:{CRITICAL_COLOR},stroke-width:3px")
    return "\n".join(out) + "\n"


def dot(source: nx.DiGraph | Plan, *, critical_path: list[str] | None = None) -> str:
    """The graph or plan as a Graphviz ``digraph`` (every id quoted)."""
    view = _view(source, critical_path)
    crit = set(view.critical)
    out = [
        f"digraph {_q(view.name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, fontname="Helvetica"];',
        '  edge [color="#555555"];',
    ]

    def node_line(node: _Node) -> str:
        attrs = {"label": "\\n".join(_dot_escape(line) for line in node.lines)}
        if node.op == "input":
            attrs.update(shape="parallelogram", style="filled", fillcolor="#eef6ff")
        elif node.op in CPU_OPS:
            attrs.update(style="rounded,filled", fillcolor="#f4f4f4")
        elif node.op == "zoom":
            attrs.update(shape="hexagon")
        elif node.op == "recurse.root":
            attrs.update(peripheries="2")
        if node.id in crit:
            attrs.update(color=CRITICAL_COLOR, penwidth="2.5")
        body = ", ".join(f'{k}="{v}"' for k, v in attrs.items())
        return f"{_q(node.id)} [{body}];"

    def emit_group(key: str, indent: str) -> None:
        group = view.groups[key]
        out.append(f"{indent}subgraph {_q('cluster_' + key)} {{")
        out.append(f'{indent}  label="{_dot_escape(group.title)}";')
        out.append(f"{indent}  style={'dashed' if key.startswith('map:') else 'rounded'};")
        for nid in group.nodes:
            out.append(f"{indent}  {node_line(view.nodes[nid])}")
        for child in _children(view, key):
            emit_group(child, indent + "  ")
        out.append(f"{indent}}}")

    for nid in view.top:
        out.append(f"  {node_line(view.nodes[nid])}")
    for key in _children(view, None):
        emit_group(key, "  ")
    hot = set(pairwise(view.critical))
    for src, dst in view.edges:
        style = f' [color="{CRITICAL_COLOR}", penwidth=2.5]' if (src, dst) in hot else ""
        out.append(f"  {_q(src)} -> {_q(dst)}{style};")
    out.append("}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- the common view


def _view(source, critical_path: list[str] | None) -> _View:
    if isinstance(source, Plan):
        view = _from_plan(source)
        view.critical = list(source.estimate.critical_path)
    elif isinstance(source, nx.DiGraph):
        view = _from_graph(source)
    else:
        raise TypeError(f"render needs a workflow graph or a Plan, not {type(source).__name__}")
    if critical_path is not None:
        view.critical = list(critical_path)
    return view


def _from_graph(g: nx.DiGraph) -> _View:
    maps = g.graph.get("maps", {})
    nodes, placed = {}, []
    for nid, data in g.nodes(data=True):
        nodes[nid] = _Node(nid, data["op"], [nid, data["op"]])
        over = getattr(data.get("step"), "over", None)
        placed.append(
            (
                nid,
                data["op"],
                data.get("step_name", nid),
                tuple(data.get("maps", ())),
                getattr(over, "name", None),
            )
        )
    map_info = {m.item: (m.over, m.parent) for m in maps.values()}
    return _assemble(str(g.graph.get("name", "workflow")), nodes, list(g.edges), placed, map_info)


def _from_plan(plan: Plan) -> _View:
    nodes: dict[str, _Node] = {}
    placed: list[tuple[str, str, str, tuple[str, ...], str | None]] = []
    for inp in plan.inputs:
        nodes[inp.name] = _Node(inp.name, "input", [inp.name, "input"])
        placed.append((inp.name, "input", inp.name, (), None))
    for n in plan.nodes:
        a = n.assignment
        where = f"{a.model} @ {a.chip}" if a is not None else "cpu"
        nodes[n.id] = _Node(n.id, n.op, [n.id, n.op, where])
        placed.append((n.id, n.op, n.step, tuple(n.maps), n.input))
    map_info = {m.item: (m.over, m.parent) for m in plan.maps}
    edges = [tuple(e) for e in plan.edges if e[0] in nodes and e[1] in nodes]
    # A plan may list step edges only: draw each input's edges from what the steps read.
    inputs = {i.name for i in plan.inputs}
    present = set(edges)
    for n in plan.nodes:
        if n.op in ("recurse.repl", "recurse.sub"):
            continue
        names = list(n.reads) + [n.input] * bool(n.input)
        names += [map_info[item][0] for item in n.maps if item in map_info]
        for name in names:
            seen = set()
            while name in map_info and name not in seen:  # an item stands for its list
                seen.add(name)
                name = map_info[name][0]
            if name in inputs and (name, n.id) not in present:
                present.add((name, n.id))
                edges.append((name, n.id))
    return _assemble(plan.workflow, nodes, edges, placed, map_info)


def _assemble(name, nodes, edges, placed, map_info) -> _View:
    groups: dict[str, _Group] = {}
    for item, (over, parent) in map_info.items():
        groups[f"map:{item}"] = _Group(
            f"map:{item}", f"map {item} in {over}", f"map:{parent}" if parent else None
        )
    top = []
    for nid, op, step, maps, over in placed:
        home = f"map:{maps[-1]}" if maps and f"map:{maps[-1]}" in groups else None
        if op.startswith("recurse."):
            key = f"recurse:{step}"
            if key not in groups:
                title = f"recurse {step}" + (f" over {over}" if over else "")
                groups[key] = _Group(key, title, home)
            home = key
        if home is None:
            top.append(nid)
        else:
            groups[home].nodes.append(nid)
    return _View(name, nodes, edges, groups, top, [])


def _children(view: _View, parent: str | None) -> list[str]:
    return [k for k, g in view.groups.items() if g.parent == parent]


# ---------------------------------------------------------------- quoting


class _Ids:
    """Mermaid-safe ids: letters, digits and ``_``, unique, never a keyword."""

    def __init__(self):
        self.ids: dict[str, str] = {}
        self.used: set[str] = set()

    def get(self, name: str) -> str:
        if name not in self.ids:
            base = re.sub(r"\W", "_", name, flags=re.ASCII) or "node"
            if base.lower() in _MERMAID_WORDS or base[0].isdigit():
                base = "n_" + base
            candidate, i = base, 2
            while candidate in self.used:
                candidate, i = f"{base}_{i}", i + 1
            self.used.add(candidate)
            self.ids[name] = candidate
        return self.ids[name]


def _mermaid_text(text: str) -> str:
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _q(name: str) -> str:
    return f'"{_dot_escape(name)}"'

"""A checked workflow → its graph: one ``networkx.DiGraph``, producer → consumer.

Node ids are what the plan shows: a plain step's name; for ``recurse NAME`` the parts
``NAME.root`` (the root model), ``NAME.repl`` (the sandboxed REPL, CPU) and one sub-call
node per depth level, ``NAME.sub`` (level 1), ``NAME.sub2``, ... A ``map`` has no node
of its own: its body's nodes carry ``maps`` (the enclosing map items, outermost first),
and the graph keeps a :class:`MapInfo` per map under ``graph.graph["maps"]``.  Inputs
are nodes too (``op="input"``); the plan lists them apart from the steps.

Node attributes: ``op``, ``step`` (the AST step), ``step_name``, ``level`` (recurse
parts), ``maps``, ``reads`` (the names it uses).

>>> from hetflow.syntax.loader import load_or_raise
>>> prog = load_or_raise("workflow w {\\n input x: text\\n reason y = prompt \\"{{ x }}\\"\\n output y\\n}")
>>> g = build_graph(prog.workflows[0])
>>> list(g.edges)
[('x', 'y')]
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from hetflow.syntax import ast
from hetflow.syntax.gcpause import gc_paused


def sub_id(step: str, level: int) -> str:
    """The node id of a recurse step's sub-calls at a depth level (1 is ``NAME.sub``)."""
    return f"{step}.sub" if level == 1 else f"{step}.sub{level}"


def recurse_ids(step: ast.Recurse) -> list[str]:
    return [f"{step.name}.root", f"{step.name}.repl"] + [
        sub_id(step.name, lvl) for lvl in range(1, step.depth + 1)
    ]


@dataclass(frozen=True)
class MapInfo:
    item: str
    over: str
    parent: str | None
    body: tuple[str, ...]  # node ids in the body, nested maps' included


def exit_node(step: ast.Step) -> str:
    """The node whose completion makes a step's value available."""
    if isinstance(step, ast.Recurse):
        return recurse_ids(step)[-1]
    return step.name


@gc_paused
def build_graph(workflow: ast.Workflow) -> nx.DiGraph:
    """The workflow's dataflow graph; assumes the workflow passed the checker.

    The cycle collector is paused meanwhile (:mod:`hetflow.syntax.gcpause`): it would rescan
    the whole AST for every few hundred nodes added.
    """
    g = nx.DiGraph(name=workflow.name)
    producer: dict[str, str] = {}
    maps: dict[str, MapInfo] = {}
    edges: list[tuple[str, str]] = []  # added at once at the end, in the order found

    for inp in workflow.inputs:
        g.add_node(
            inp.name, op="input", step=inp, step_name=inp.name, level=None, maps=(), reads=()
        )
        producer[inp.name] = inp.name

    def add(steps, scope: tuple[ast.Map, ...]) -> list[str]:
        """Add the steps' nodes; return their ids (a map's body included)."""
        added: list[str] = []
        scope_names = tuple(m.item for m in scope)
        for step in steps:
            reads = tuple(dict.fromkeys(ast.read_names(step)))
            if isinstance(step, ast.Map):
                producer[step.item] = f"map:{step.item}"
                body_ids = add(step.body, scope + (step,))
                maps[step.item] = MapInfo(
                    step.item, step.over.name, scope[-1].item if scope else None, tuple(body_ids)
                )
                added.extend(body_ids)
                continue
            if isinstance(step, ast.Recurse):
                ids = recurse_ids(step)
                for i, node_id in enumerate(ids):
                    op = "recurse." + ("root" if i == 0 else "repl" if i == 1 else "sub")
                    level = 0 if i == 0 else None if i == 1 else i - 1
                    g.add_node(
                        node_id,
                        op=op,
                        step=step,
                        step_name=step.name,
                        level=level,
                        maps=scope_names,
                        reads=reads if i == 0 else (),
                    )
                edges.extend(zip(ids, ids[1:], strict=False))  # root, repl, sub, sub2...
                added.extend(ids)
            else:
                g.add_node(
                    step.name,
                    op=step.op,
                    step=step,
                    step_name=step.name,
                    level=None,
                    maps=scope_names,
                    reads=reads,
                )
                added.append(step.name)
            producer[step.name] = exit_node(step)
        return added

    add(workflow.steps, ())
    g.graph["maps"] = maps

    def resolve(name: str) -> str | None:
        """The node that produces a name; a map item resolves to its list's producer."""
        seen = set()
        while name in producer and producer[name].startswith("map:") and name not in seen:
            seen.add(name)
            name = maps[name].over if name in maps else name
        return producer.get(name)

    for node_id, data in g.nodes(data=True):
        if data["op"] in ("recurse.repl", "recurse.sub"):
            continue  # reached through their root
        for name in data["reads"]:
            src = resolve(name)
            if src is not None and src != node_id:
                edges.append((src, node_id))
        # A map body reads its list through the item even when it never names the item.
        for item in data["maps"]:
            src = resolve(maps[item].over)
            if src is not None and src != node_id:
                edges.append((src, node_id))
    g.add_edges_from(edges)
    return g


def step_nodes(g: nx.DiGraph) -> list[str]:
    """Every node but the inputs, in a topological order."""
    return [n for n in nx.topological_sort(g) if g.nodes[n]["op"] != "input"]

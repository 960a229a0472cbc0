"""The plan before the passes: every node with what the runtime needs, and its work.

One :class:`~hetflow.plan.model.PlanNode` per graph node (inputs apart): operation, template
or builtin call, output type and JSON schema, options, needs (given, or derived by
:mod:`hetflow.estimate.complexity`), pin, the estimator's work, the source position.  The
optimizer's passes then fill in assignments, alternatives and totals.  Alongside the
plan comes the map from node id to the source positions of its ``needs`` and pin, for
the passes' diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

from hetflow.errors import SourcePosition
from hetflow.estimate.complexity import derive
from hetflow.estimate.sizes import Estimates
from hetflow.plan.graph import step_nodes
from hetflow.plan.json_schema import is_structured, json_schema, schema_json
from hetflow.plan.model import Estimate, MapScope, Plan, PlanInput, PlanNode, SourceRef
from hetflow.syntax import ast


def encode_value(v: ast.Value) -> dict[str, Any]:
    """A builtin's argument in the plan: ``{"ref": name}``, ``{"value": v}`` or ``{"list": [...]}``.

    >>> encode_value(ast.Ref("x")), encode_value(ast.Const(3, "number"))
    ({'ref': 'x'}, {'value': 3})
    """
    if isinstance(v, ast.Ref):
        return {"ref": v.name}
    if isinstance(v, ast.ListValue):
        return {"list": [encode_value(x) for x in v.items]}
    return {"value": v.value}


def _span(items) -> SourcePosition | None:
    items = [i for i in items if getattr(i, "pos", None) is not None and i.pos.line > 0]
    if not items:
        return None
    a, b = items[0].pos, items[-1].pos
    return SourcePosition(a.file, a.line, a.column, b.end_line, b.end_column)


def _clauses(step, op: str) -> ast.Clauses:
    """The clauses that place this node: a recursion's root or sub clauses."""
    if isinstance(step, ast.Recurse):
        return step.root if op == "recurse.root" else step.sub
    return getattr(step, "clauses", ast.Clauses())


def _per_item(t: ast.TypeRef | None, maps) -> ast.TypeRef | None:
    for _ in maps:
        if t is not None and t.is_list:
            t = t.item
    return t


def plan_skeleton(
    wf: ast.Workflow,
    g: nx.DiGraph,
    est: Estimates,
    types: Mapping[str, ast.TypeRef],
    schemas: Mapping[str, ast.Schema],
):
    """The plan's nodes, inputs, maps and edges, and each node's source positions."""
    nodes, where = [], {}
    for node_id in step_nodes(g):
        data = g.nodes[node_id]
        step, op = data["step"], data["op"]
        node, positions = _node(node_id, data, step, op, est, types, schemas)
        nodes.append(node)
        where[node_id] = positions
    ids = {n.id for n in nodes}
    edges = [(u, v) for u, v in g.edges if u in ids and v in ids]
    inputs = [
        PlanInput(
            name=i.name,
            type=str(i.type),
            size_tokens=est.input_sizes[i.name].tokens,
            json_schema=json_schema(i.type, schemas),
        )
        for i in wf.inputs
    ]
    maps = [
        MapScope(
            item=m.item,
            over=m.over,
            parent=m.parent,
            body=list(m.body),
            cardinality=est.cardinality.get(m.item, 1.0),
            calibrated_from_runs=est.calibrated_maps.get(m.item),
        )
        for m in g.graph.get("maps", {}).values()
    ]
    plan = Plan(
        workflow=wf.name,
        nodes=nodes,
        edges=edges,
        inputs=inputs,
        outputs=list(wf.output_names),
        maps=maps,
        schemas={s.name: schema_json(s, schemas) for s in schemas.values()},
    )
    return plan, where


def _node(node_id, data, step, op, est: Estimates, types, schemas):
    w = est.work.get(node_id)
    maps = list(data["maps"])
    node = PlanNode(
        id=node_id,
        op=op,
        step=data["step_name"],
        level=data["level"],
        maps=maps,
        reads=list(data["reads"]),
        source=SourceRef(file=step.pos.file, line=step.pos.line, column=step.pos.column),
    )
    if w is not None:
        node.estimate = Estimate(
            rounds=w.rounds,
            parallel=w.parallel,
            input_tokens_per_call=w.input_tokens,
            output_tokens_per_call=w.output_tokens,
            prefill_tokens_per_call=w.prefill_tokens,
            cpu_s=w.cpu_s,
            calibrated_from_runs=est.calibrated.get(node_id),
            reasoning_traced=dict(est.reasoning.get(node_id, {})),
        )
    positions = {"step": step.pos}
    t = _per_item(types.get(data["step_name"], getattr(step, "type", None)), maps)
    if op in ("extract", "reduce"):
        node.builtin = {
            "name": step.call.name,
            "args": [encode_value(a) for a in step.call.args],
            "kwargs": {k: encode_value(v) for k, v in step.call.kwargs},
        }
    elif op == "reason":
        node.prompt = step.prompt.template
    elif op == "zoom":
        node.prompt, node.input = step.goal.template, step.image.name
        t = ast.IMAGE
    elif op.startswith("recurse."):
        node.input, node.depth = step.over.name, step.depth
        node.prompt = step.task.template if (op == "recurse.root" and step.task) else None
        if op != "recurse.root":
            t = ast.TEXT if op == "recurse.sub" else None
    if op == "recurse.repl":
        node.type = "text"
    elif t is not None:
        node.type = str(t)
    if op in ("reason", "recurse.root") and is_structured(t):
        node.output_schema = json_schema(t, schemas)
    if op in ("reason", "zoom") or op.startswith("recurse.") and op != "recurse.repl":
        clauses = _clauses(step, op)
        options = step.clauses.options if op.startswith("recurse.") else clauses.options
        node.options = {o.key: o.value for o in options}
        if clauses.pin is not None:
            node.pin = {"model": clauses.pin.model, "chip": clauses.pin.chip}
            positions["pin"] = clauses.pin.pos
        if clauses.needs:
            node.needs = {
                r.key: float(r.amount) if r.key == "context" else int(r.amount)
                for r in clauses.needs
            }
            node.needs_source = "given"
            positions["needs"] = _span(clauses.needs)
        elif w is not None:
            text = node.prompt or (
                step.task.template if isinstance(step, ast.Recurse) and step.task else ""
            )
            reads_image = any(
                types.get(r) is not None and types[r].name == "image" for r in data["reads"]
            )
            d = derive(
                op,
                text,
                w.input_tokens,
                w.output_tokens,
                typed=op == "reason" and is_structured(t),
                reads_image=reads_image,
            )
            node.needs, node.needs_source, node.needs_why = dict(d.needs), "derived", d.why
    return node, positions

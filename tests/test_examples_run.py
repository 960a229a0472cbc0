"""`hetflow run` runs every example end to end against the local server.

One generic model stands behind every offer: it answers a typed call with a value
built from the JSON schema the request carries (so structured output is exercised as
it really is), a zoom with a box, a recursion's root with code that ends the
recursion through a sub-call, and anything else with a line of text.  Each example runs
through the command line (`hetflow run FILE --catalog ... --input ...`), and the
outputs it prints must be valid for the types the workflow declares.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image as PILImage
from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import last_user

import hetflow
from hetflow.commands.main import main
from hetflow.syntax import ast

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.het"))
MODELS = ("small", "coder", "big")


def instance(schema: dict, defs: dict | None = None, name: str = "") -> object:
    """A small value valid for a JSON schema (the subset hetflow's plans use)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, name)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return instance(options[0], defs, name)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: instance(v, defs, k) for k, v in props.items()}
    if kind == "array":
        return [instance(schema.get("items", {}), defs, name) for _ in range(2)]
    if kind == "integer":
        return 1
    if kind == "number":
        return {"x0": 0.25, "y0": 0.25, "x1": 0.75, "y1": 0.75}.get(name, 2.5)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"some {name or 'text'}"


def not_of_type(value: object, t: ast.TypeRef, schemas: dict[str, ast.Schema]) -> str | None:
    """Why ``value`` is not a value of the declared type ``t`` (None: it is one).

    Written from LANGUAGE.md's types, apart from hetflow's own JSON schemas.
    """
    primitive = {"text": str, "bool": bool, "number": (int, float)}
    if t.name == "json" or t.name == "image":
        return None
    if t.name in primitive:
        ok = isinstance(value, primitive[t.name]) and not (
            t.name == "number" and isinstance(value, bool)
        )
        return None if ok else f"{value!r} is not {t.name}"
    if t.name == "enum":
        return None if value in (t.enum or ()) else f"{value!r} is not one of {t.enum}"
    if t.name == "list":
        if not isinstance(value, list):
            return f"{value!r} is not a list"
        assert t.item is not None
        return next((p for p in (not_of_type(v, t.item, schemas) for v in value) if p), None)
    schema = schemas[t.name]
    if not isinstance(value, dict):
        return f"{value!r} is not a {t.name} record"
    if set(value) - {f.name for f in schema.fields}:
        return f"{t.name} has no field(s) {sorted(set(value) - {f.name for f in schema.fields})}"
    for f in schema.fields:
        if f.name not in value:
            if not f.optional:
                return f"{t.name}.{f.name} is missing"
        elif not (f.optional and value[f.name] is None):
            problem = not_of_type(value[f.name], f.type, schemas)
            if problem:
                return f"{t.name}.{f.name}: {problem}"
    return None


def recursion_code(value: object) -> str:
    """A root's turn: read the context, ask a sub-model about a piece, then answer."""
    return (
        "```python\n"
        "piece = context[:2000] if isinstance(context, str) else context\n"
        'seen = llm_query("Summarize: " + str(piece)[:500])\n'
        f"FINAL({value!r})\n"
        "```"
    )


ASKED = "matches this JSON schema:\n"


def asked_schema(messages: list[dict]) -> dict | None:
    """The schema a prompt asks for (JSON mode, or the prompt alone), as the runtime words it."""
    for m in messages:
        content = m.get("content")
        parts = content if isinstance(content, list) else [{"text": content or ""}]
        for part in parts:
            text = part.get("text") or ""
            if ASKED in text:
                return json.loads(text.split(ASKED, 1)[1].splitlines()[0])
    return None


def model(plan: hetflow.Plan):
    roots = {n.step: n for n in plan.nodes if n.op == "recurse.root"}

    def reply(body: dict) -> object:
        messages = body.get("messages", [])
        if messages and messages[0].get("role") == "system" and roots:
            if "FINAL" in str(messages[0].get("content")):
                root = next(iter(roots.values()))
                schema = root.output_schema or {"type": "string"}
                return recursion_code(instance(schema))
        rf = body.get("response_format") or {}
        schema = (rf.get("json_schema") or {}).get("schema") or asked_schema(messages)
        if schema:
            return instance(schema)
        return "A short answer about " + last_user(body)[:30].replace("\n", " ")

    return reply


def png(path: Path) -> Path:
    buf = io.BytesIO()
    PILImage.new("RGB", (320, 240), (255, 255, 255)).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


def inputs_for(plan: hetflow.Plan, home: Path) -> list[str]:
    """One ``--input`` per declared input, of its type, from files where that is natural."""
    args = []
    for spec in plan.inputs:
        if spec.type == "image":
            value = "@" + str(png(home / f"{spec.name}.png"))
        elif spec.type == "list[image]":
            value = json.dumps([str(png(home / f"{spec.name}{i}.png")) for i in range(3)])
        elif spec.type.startswith("list["):
            value = json.dumps(["alpha", "beta", "gamma"])
        elif spec.type == "number":
            value = "3"
        elif spec.type == "bool":
            value = "true"
        elif spec.type == "text":
            body = "\n-----\n".join(
                f"Ticket {i}: the alpha service failed for user {i}.\nIt shows error {i}."
                for i in range(4)
            )
            (home / f"{spec.name}.txt").write_text(body, encoding="utf-8")
            value = "@" + str(home / f"{spec.name}.txt")
        else:
            value = json.dumps(instance(spec.json_schema or {"type": "string"}))
        args += ["--input", f"{spec.name}={value}"]
    return args


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_compiles_and_runs_end_to_end(path, server, home, capsys):
    catalog = local_catalog(home, server.url)
    workflow = hetflow.parse(path).workflows[0]
    sizes = [f"{i.name}={'3 items' if i.type.is_list else '2k tokens'}" for i in workflow.inputs]
    plan_path = home / "plan.json"
    compiled = main(
        ["compile", str(path), "--catalog", str(catalog), "-o", str(plan_path)]
        + [arg for size in sizes for arg in ("--input-size", size)]
    )
    assert compiled == 0, capsys.readouterr().err
    capsys.readouterr()
    plan = hetflow.Plan.load(plan_path)
    for name in MODELS:
        server.script(name, reply=model(plan))
    trace = home / "trace.jsonl"

    code = main(
        ["run", str(plan_path), "--trace", str(trace), "--no-cache"]
        + ["--journal", str(home / "j.sqlite")]
        + inputs_for(plan, home)
    )
    out, err = capsys.readouterr()

    assert code == 0, err
    outputs = json.loads(out)
    assert set(outputs) == set(plan.outputs)
    # Every output is a value of the type the .het file declares for it (a map's: a list
    # per enclosing map), checked from the source, not from the schema the compiler put
    # in the plan (the fake model answers with that schema, so it would agree with itself).
    program = hetflow.parse(path)
    schemas = {sc.name: sc for sc in program.schemas}
    declared = {
        step.name: (step.type, len(maps))
        for step, maps in ast.walk_steps(program.workflows[0].steps)
        if not isinstance(step, ast.Map) and step.type is not None
    }
    assert declared, "every example declares some typed step"
    for name, value in outputs.items():
        if name in declared:
            t, depth = declared[name]
            for _ in range(depth):
                t = ast.list_of(t)
            problem = not_of_type(value, t, schemas)
            assert problem is None, (name, str(t), problem)
    # Every model step ran, each call on its step's planned model, as the server saw it.
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    planned = {n.id: n.assignment.model for n in plan.nodes if n.assignment}
    assert records and all(r["model"] == planned[r["node"]] for r in records)
    assert {r["node"] for r in records} >= {
        n.id for n in plan.nodes if n.assignment and n.op != "recurse.sub"
    }
    # Each paid call is one the server answered (a call identical to an earlier one of
    # the run is served from the journal, cached and unpaid; a retried attempt is in the
    # trace with its error).
    answered = Counter(r["model"] for r in records if not r["error"] and not r["cached"])
    assert answered and answered <= Counter(r.model for r in server.seen())

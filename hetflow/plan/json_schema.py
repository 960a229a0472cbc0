"""Types as JSON schemas: a plan's ``output_schema`` per typed node and its ``schemas``.

The runtime asks providers for structured output with these and validates replies
against them, so they are strict: every field listed, optional ones (``?``) may be
null, no extra keys.  A schema that (indirectly) contains itself is cut at the second
visit to an untyped object rather than recursing forever.

>>> from hetflow.syntax import ast
>>> json_schema(ast.TypeRef("list", item=ast.TypeRef("enum", enum=("a", "b"))), {})
{'type': 'array', 'items': {'type': 'string', 'enum': ['a', 'b']}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hetflow.syntax import ast

_PRIMITIVE = {
    "text": {"type": "string"},
    "number": {"type": "number"},
    "bool": {"type": "boolean"},
    "json": {},
    "image": {
        "type": "string",
        "contentEncoding": "base64",
        "description": "an image (a data URL or base64 PNG/JPEG)",
    },
}


def json_schema(
    t: ast.TypeRef | None, schemas: Mapping[str, ast.Schema], _seen: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The JSON schema of a type."""
    if t is None:
        return {}
    if t.name == "list":
        return {"type": "array", "items": json_schema(t.item, schemas, _seen)}
    if t.name == "enum":
        return {"type": "string", "enum": list(t.enum or ())}
    if t.name in _PRIMITIVE:
        return dict(_PRIMITIVE[t.name])
    schema = schemas.get(t.name)
    if schema is None or t.name in _seen:
        return {"type": "object"}
    return schema_json(schema, schemas, _seen | {t.name})


def schema_json(
    schema: ast.Schema, schemas: Mapping[str, ast.Schema], _seen: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A schema declaration as a strict JSON object schema."""
    seen = _seen | {schema.name}
    properties = {}
    for f in schema.fields:
        prop = json_schema(f.type, schemas, seen)
        if f.optional:
            prop = {"anyOf": [prop, {"type": "null"}]}
        properties[f.name] = prop
    return {
        "type": "object",
        "title": schema.name,
        "properties": properties,
        "required": [f.name for f in schema.fields],
        "additionalProperties": False,
    }


def is_structured(t: ast.TypeRef | None) -> bool:
    """True when a model's answer must be parsed: anything but plain text."""
    return t is not None and t.name != "text"


def wire_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema as requested from the model, and whether it is wrapped in ``value``
    (JSON mode and most providers' structured output want an object at the top)."""
    if schema.get("type") == "object":
        return schema, False
    return {
        "type": "object",
        "properties": {"value": schema},
        "required": ["value"],
        "additionalProperties": False,
    }, True


def instruction(wire: dict[str, Any]) -> str:
    """The sentence a typed step's prompt ends with: what JSON to reply with.  The runtime
    sends it; the estimator counts it (it is often longer than the prompt's own words)."""
    return (
        "Reply with only a JSON object (no prose, no code fence) that matches this "
        "JSON schema:\n" + json.dumps(wire, ensure_ascii=False)
    )

"""Typed outputs: a step's JSON schema becomes a structured-output request, and the
reply is parsed and validated; an invalid reply is retried with the validation error.

A schema whose top level is not an object (``number``, ``list[Tally]``, an enum) is
wrapped as ``{"value": ...}`` on the wire — JSON mode and most providers' structured
output want an object — and unwrapped on the way back.  Providers that take a JSON
schema get ``response_format={"type": "json_schema", ...}``, those with only a JSON
mode get ``{"type": "json_object"}``, the rest get the schema in the prompt alone
(which every provider gets anyway, since not all of them enforce it).

>>> schema = {"type": "number"}
>>> wire, wrapped = wire_schema(schema)
>>> parse('{"value": 42}', schema, wrapped)
42
>>> parse('```json\\n{"value": "x"}\\n```', schema, wrapped)
Traceback (most recent call last):
...
hetflow.runtime.structured.InvalidOutput: at value: 'x' is not of type 'number'
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from hetflow.plan.json_schema import instruction, wire_schema
from hetflow.plan.model import Plan, PlanNode

__all__ = [
    "InvalidOutput",
    "feedback",
    "instruction",
    "parse",
    "response_format",
    "schema_for",
    "wire_schema",
]

_SIMPLE = {
    "number": {"type": "number"},
    "bool": {"type": "boolean"},
    "json": {},
    "text": {"type": "string"},
}


class InvalidOutput(ValueError):
    """The model's reply is not the JSON the step's type asks for."""


def schema_for(node: PlanNode, plan: Plan) -> dict[str, Any] | None:
    """The JSON schema a model step's reply must meet, or None for plain text."""
    if node.output_schema is not None:
        return node.output_schema
    t = node.type or "text"
    if t == "text" or t == "image":
        return None
    if t in _SIMPLE:
        return _SIMPLE[t]
    if t.startswith("list["):
        inner = t[5:-1]
        item = _SIMPLE.get(inner) or plan.schemas.get(inner) or {}
        return {"type": "array", "items": item}
    return plan.schemas.get(t)


def response_format(mode: str | None, wire: dict[str, Any], name: str) -> dict | None:
    if mode == "schema":
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "output"
        return {
            "type": "json_schema",
            "json_schema": {"name": safe, "schema": wire, "strict": False},
        }
    if mode == "object":
        return {"type": "json_object"}
    return None


def parse(text: str, schema: dict[str, Any], wrapped: bool) -> Any:
    """The reply's JSON value, validated against the step's schema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    value = _load(text)
    bad = _non_finite(value)
    if bad is not None:
        raise InvalidOutput(f"{bad} is not a JSON number; give a finite number")
    if wrapped:
        if isinstance(value, dict) and "value" in value:
            value = value["value"]
        # A bare value where a wrapped one was asked for is still the answer.
    errors = list(Draft202012Validator(schema).iter_errors(value))
    if errors:
        err = best_match(errors)
        where = "/".join(str(p) for p in err.absolute_path)
        where = ("value" if wrapped and not where else where) or "top level"
        if wrapped and where != "value":
            where = "value/" + where
        raise InvalidOutput(f"at {where}: {err.message}")
    return value


def _non_finite(value: Any) -> str | None:
    """``NaN``/``Infinity`` somewhere in a value (Python's json reads them; JSON has none)."""
    if isinstance(value, float):
        return None if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for v in value:
            bad = _non_finite(v)
            if bad is not None:
                return bad
    return None


def _load(text: str) -> Any:
    s = text.strip()
    fence = re.match(r"^```[A-Za-z]*\s*\n(.*?)\n?```\s*$", s, re.DOTALL)
    if fence:
        s = fence.group(1).strip()
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        pass
    # Prose around one JSON object or array: take the outermost braces.
    for open_, close in (("{", "}"), ("[", "]")):
        i, j = s.find(open_), s.rfind(close)
        if 0 <= i < j:
            try:
                return json.loads(s[i : j + 1])
            except json.JSONDecodeError:
                continue
    raise InvalidOutput(f"the reply is not JSON: {_short(text)}")


def _short(text: str) -> str:
    t = " ".join(text.split())
    return repr(t if len(t) <= 60 else t[:57] + "...")


def feedback(error: InvalidOutput, cut: bool = False) -> str:
    """The message that asks the model to try again (``cut``: its reply reached
    ``max_tokens``, so the same answer would be cut off again)."""
    if cut:
        return (
            "Your reply was too long and was cut off before the JSON ended. Reply again "
            "with only the JSON object that matches the schema, keeping every text "
            "field short."
        )
    return (
        f"Your reply was not valid: {error}. Reply again with only the JSON object "
        "that matches the schema."
    )

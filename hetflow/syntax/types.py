"""The type rules the checker and the builtins share.

Types are :class:`hetflow.syntax.ast.TypeRef` values.  ``json`` is the dynamic type: it is
accepted wherever a value is expected and any field of it is ``json`` again, so a
program that reads untyped model output is never refused for it.

>>> from hetflow.syntax.ast import TypeRef, TEXT
>>> str(item_type(TypeRef("list", item=TEXT)))
'text'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeGuard

from hetflow.errors import closest
from hetflow.syntax import ast
from hetflow.syntax.ast import JSON, PRIMITIVE_TYPES, TypeRef

BOOL = TypeRef("bool")


def is_dynamic(t: TypeRef | None) -> bool:
    """True when nothing can be said about the type (unknown, or ``json``)."""
    return t is None or t.name == "json"


def is_text(t: TypeRef | None) -> bool:
    return t is not None and t.name in ("text", "enum")


def is_list(t: TypeRef | None) -> TypeGuard[TypeRef]:
    return t is not None and t.name == "list"


def item_type(t: TypeRef | None) -> TypeRef | None:
    """The type of one element of a list (``json`` for ``json``, None when unknown)."""
    if t is None:
        return None
    if t.name == "json":
        return JSON
    return t.item if t.name == "list" else None


def describe(t: TypeRef) -> str:
    """A type in a user's words, for messages."""
    if t.name == "list":
        return f"a list ({t})"
    if t.name == "enum":
        return "an enum value"
    if t.name in PRIMITIVE_TYPES:
        return {
            "text": "text",
            "number": "a number",
            "bool": "a bool",
            "image": "an image",
            "json": "json",
        }[t.name]
    return f"a {t.name}"


def unknown_types(t: TypeRef, schemas: Mapping[str, ast.Schema]) -> list[TypeRef]:
    """Every type name inside ``t`` that is neither a primitive nor a known schema."""
    if t.name == "list":
        return unknown_types(t.item, schemas) if t.item is not None else []
    if t.name == "enum" or t.name in PRIMITIVE_TYPES or t.name in schemas:
        return []
    return [t]


def field_type(
    t: TypeRef | None,
    path: tuple[str, ...],
    schemas: Mapping[str, ast.Schema],
    root: str = "the value",
) -> tuple[TypeRef | None, str | None]:
    """The type reached by following field names from ``t``, or ``(None, why not)``.

    A list of records maps the path over its items: ``field(verdicts, "risky")`` of a
    ``list[Verdict]`` is a ``list[bool]``.
    """
    if is_list(t) and path:
        inner, problem = field_type(t.item, path, schemas, root)
        return (ast.list_of(inner) if inner is not None else None), problem
    for i, name in enumerate(path):
        if t is None or is_dynamic(t):
            return t, None
        schema = schemas.get(t.name)
        if schema is None:
            where = root if i == 0 else f"{root}.{'.'.join(path[:i])}"
            return None, f"{where} is {describe(t)}, which has no fields"
        f = schema.field(name)
        if f is None:
            hint = closest(name, [f.name for f in schema.fields])
            more = f"; did you mean '{hint}'?" if hint else ""
            return None, f"schema '{schema.name}' has no field '{name}'{more}"
        t = f.type
    return t, None


def compatible(declared: TypeRef, inferred: TypeRef | None) -> bool:
    """May a value of type ``inferred`` be stored in a name declared ``declared``?"""
    if inferred is None or is_dynamic(inferred) or declared.name == "json":
        return True
    if declared.name == "list" or inferred.name == "list":
        if declared.name != inferred.name:
            return False
        if declared.item is None or inferred.item is None:
            return True
        return compatible(declared.item, inferred.item)
    if declared.name == "text" and inferred.name == "enum":
        return True
    if declared.name == "enum" and inferred.name == "enum":
        return True
    return declared.name == inferred.name


def literal_type(value: ast.Value) -> TypeRef | None:
    """The type of a literal argument (None for a name: the checker knows those)."""
    if isinstance(value, ast.Const):
        return {"string": ast.TEXT, "bool": BOOL}.get(value.kind, ast.NUMBER)
    if isinstance(value, ast.Size):
        return ast.NUMBER
    if isinstance(value, ast.ListValue):
        inner = [literal_type(v) for v in value.items]
        first = next((t for t in inner if t is not None), None)
        return ast.list_of(first or JSON)
    return None

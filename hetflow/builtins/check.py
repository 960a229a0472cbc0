"""Static checks of builtin calls: arity, argument kinds and types, result types.

One function per builtin, each reading like the builtin's signature.  A problem is a
``(message, position)`` pair pointing at the offending argument (or the builtin's name
when an argument is missing).

>>> from hetflow.syntax import ast
>>> call = ast.Call("split", (ast.Ref("doc"),), (("lines", ast.Size(0, None)),))
>>> p = Problems(call, [ast.TEXT], {}, {})
>>> str(CHECKS["split"](p)), [m for m, _ in p.found]
('list[text]', ['lines must be a whole number of at least 1'])
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hetflow.errors import SourcePosition, closest
from hetflow.syntax import ast
from hetflow.syntax.types import describe, field_type, is_dynamic, is_list, is_text, item_type

LIST_TEXT = ast.list_of(ast.TEXT)


def pos_of(value: ast.Value | None) -> SourcePosition | None:
    """Where a value is written (None: an argument that was not given)."""
    return value.pos if value is not None else None


class Problems:
    """The call being checked, what is known of its arguments, and the problems found."""

    def __init__(self, call: ast.Call, arg_types, kwarg_types, schemas: Mapping[str, ast.Schema]):
        self.call = call
        self.arg_types = list(arg_types) + [None] * (len(call.args) - len(arg_types))
        self.kwarg_types = dict(kwarg_types)
        self.schemas = schemas
        self.found: list[tuple[str, Any]] = []

    def add(self, message: str, pos: SourcePosition | None = None) -> None:
        self.found.append((message, pos if pos is not None else self.call.pos))

    # ---------------------------------------------------------------- shape
    def shape(self, least: int, most: int, keys: tuple[str, ...], usage: str) -> bool:
        """Check the number of positional arguments and the keyword names."""
        n = len(self.call.args)
        ok = True
        if n < least:
            self.add(
                f"{self.call.name}() needs {least} argument{'s' * (least > 1)} "
                f"before any key=value; usage: {usage}"
            )
            ok = False
        elif n > most:
            self.add(
                f"{self.call.name}() takes at most {most} argument{'s' * (most > 1)}; "
                f"usage: {usage}",
                self.call.args[most].pos,
            )
        for key, value in self.call.kwargs:
            if key not in keys:
                hint = closest(key, keys)
                more = (
                    f"; did you mean '{hint}'?"
                    if hint
                    else (
                        f"; it takes {', '.join(k + '=' for k in keys)}"
                        if keys
                        else "; it takes no key=value arguments"
                    )
                )
                self.add(f"{self.call.name}() has no argument '{key}'{more}", value.pos)
        return ok

    def arg(self, i: int) -> ast.Value | None:
        return self.call.args[i] if i < len(self.call.args) else None

    def type(self, i: int) -> ast.TypeRef | None:
        return self.arg_types[i] if i < len(self.arg_types) else None

    def what(self, value: ast.Value) -> str:
        return f"'{value.name}'" if isinstance(value, ast.Ref) else "this value"

    # ---------------------------------------------------------------- argument kinds
    def text_arg(self, i: int, also_list: bool = False) -> ast.TypeRef | None:
        t, value = self.type(i), self.arg(i)
        if value is None or t is None or is_dynamic(t) or is_text(t):
            return t
        if also_list and is_list(t):
            return t
        hint = (
            " (to work on each item, put the step inside a `map`)"
            if is_list(t) and not also_list
            else ""
        )
        self.add(
            f"{self.call.name}() needs text{' or a list' * also_list}, but "
            f"{self.what(value)} is {describe(t)}{hint}",
            value.pos,
        )
        return None

    def list_arg(self, i: int = 0) -> ast.TypeRef | None:
        t, value = self.type(i), self.arg(i)
        if value is None or t is None or is_dynamic(t) or is_list(t):
            return t
        self.add(
            f"{self.call.name}() needs a list, but {self.what(value)} is {describe(t)}", value.pos
        )
        return None

    def string(self, value: ast.Value | None, what: str, name_ok: bool = False) -> str | None:
        """A string literal's value; a text-typed name is accepted where ``name_ok``."""
        if value is None:
            return None
        if isinstance(value, ast.Const) and value.kind == "string":
            return value.value
        if name_ok and isinstance(value, ast.Ref):
            return None
        if isinstance(value, ast.Ref):
            self.add(f'{what} must be a string: write "{value.name}"', value.pos)
        else:
            self.add(f"{what} must be a string", value.pos)
        return None

    def whole(self, value: ast.Value | None, what: str, least: int = 0) -> int | None:
        if value is None or isinstance(value, ast.Ref):
            return None  # a name: its value is known only at run time
        number = value.value if isinstance(value, (ast.Size, ast.Const)) else None
        if (
            isinstance(number, (int, float))
            and not isinstance(number, bool)
            and float(number).is_integer()
            and number >= least
            and not (isinstance(value, ast.Size) and value.unit == "items")
            and not (isinstance(value, ast.Const) and value.kind != "number")
        ):
            return int(number)
        more = f" of at least {least}" if least else ""
        self.add(f"{what} must be a whole number{more}", value.pos)
        return None

    def field_path(self, value: ast.Value | None, on: ast.TypeRef | None, what: str):
        """Check a field path (``"a.b"``) against the item type; return its type."""
        path = self.string(value, what)
        if path is None:
            return None
        if not path or not all(re.fullmatch(r"[A-Za-z_]\w*", p) for p in path.split(".")):
            self.add(f"{what} must be field names joined by '.', like \"a.b\"", pos_of(value))
            return None
        first = self.arg(0)
        root = f"'{first.name}'" if isinstance(first, ast.Ref) else "the value"
        if is_list(on) and root != "the value":
            root = f"each item of {root}"
        t, problem = field_type(on, tuple(path.split(".")), self.schemas, root)
        if problem:
            self.add(problem, pos_of(value))
        return t


def _kw(p: Problems, key: str) -> ast.Value | None:
    return p.call.kwarg(key)


# ------------------------------------------------------------------ extract


def check_split(p: Problems):
    p.shape(1, 1, ("lines", "tokens", "sep"), 'split(x, lines=N | tokens=N | sep="...")')
    p.text_arg(0)
    given = [k for k, _ in p.call.kwargs if k in ("lines", "tokens", "sep")]
    if len(given) != 1:
        where = pos_of(_kw(p, given[1])) if len(given) > 1 else None
        p.add('split() takes exactly one of lines=N, tokens=N or sep="..."', where)
    p.whole(_kw(p, "lines"), "lines", 1)
    p.whole(_kw(p, "tokens"), "tokens", 1)
    sep = p.string(_kw(p, "sep"), "sep", name_ok=True)
    if sep == "":
        p.add("sep must not be empty", pos_of(_kw(p, "sep")))
    return LIST_TEXT


def check_grep(p: Problems):
    p.shape(2, 2, (), 'grep(x, "REGEX")')
    t = p.text_arg(0, also_list=True)
    pattern = p.string(p.arg(1), "the pattern", name_ok=True)
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            p.add(f"this regular expression is not valid: {exc}", pos_of(p.arg(1)))
    return t if is_list(t) else ast.TEXT


def check_slice(p: Problems):
    p.shape(2, 3, (), "slice(x, start, end)")
    t = p.text_arg(0, also_list=True)
    start = p.whole(p.arg(1), "start")
    end = p.whole(p.arg(2), "end")
    if start is not None and end is not None and end < start:
        p.add(f"end ({end}) is before start ({start})", pos_of(p.arg(2)))
    return t


def check_window(p: Problems):
    p.shape(2, 2, ("lines",), 'window(x, ["keyword", ...], lines=N)')
    p.text_arg(0)
    kws = p.arg(1)
    if isinstance(kws, ast.ListValue):
        if not kws.items:
            p.add("give at least one keyword", kws.pos)
        for v in kws.items:
            p.string(v, "a keyword")
    elif isinstance(kws, ast.Ref):
        t = p.type(1)
        if (
            t is not None
            and not is_dynamic(t)
            and not is_text(t)
            and not (is_list(t) and is_text(t.item))
        ):
            p.add(
                f"window() needs keywords (text or a list of text), but '{kws.name}' is "
                f"{describe(t)}",
                kws.pos,
            )
    elif kws is not None:
        p.string(kws, "the keywords")
    p.whole(_kw(p, "lines"), "lines")
    return LIST_TEXT


def check_field(p: Problems):
    p.shape(2, 2, (), 'field(x, "a.b")')
    return p.field_path(p.arg(1), p.type(0), "the field") if p.arg(1) else None


# ------------------------------------------------------------------ reduce


def _where(p: Problems, item: ast.TypeRef | None) -> None:
    value = _kw(p, "where")
    text = p.string(value, "where") if value is not None else None
    if text is None:
        return
    path, _, wanted = text.partition("=")
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", path.strip()):
        p.add('where must name a field, like where="risky" or where="label=numeric"', pos_of(value))
        return
    t, problem = field_type(item, tuple(path.strip().split(".")), p.schemas)
    if problem:
        p.add(problem, pos_of(value))
    elif wanted and t is not None and t.name == "enum" and wanted.strip() not in (t.enum or ()):
        hint = closest(wanted.strip(), t.enum or ())
        more = f"; did you mean '{hint}'?" if hint else f"; it is one of {', '.join(t.enum or ())}"
        p.add(f"'{wanted.strip()}' is not a value of field '{path.strip()}'{more}", pos_of(value))


def check_count(p: Problems):
    p.shape(1, 1, ("where",), 'count(xs, where="field")')
    _where(p, item_type(p.list_arg()))
    return ast.NUMBER


def _numeric(p: Problems, t: ast.TypeRef | None, where) -> None:
    if t is not None and not is_dynamic(t) and t.name != "number":
        p.add(f"{p.call.name}() adds numbers, but each item is {describe(t)}", where)


def check_sum(p: Problems):
    p.shape(1, 1, ("field",), 'sum(xs, field="f")')
    item = item_type(p.list_arg())
    if _kw(p, "field") is not None:
        _numeric(p, p.field_path(_kw(p, "field"), item, "field"), pos_of(_kw(p, "field")))
    elif p.arg(0) is not None:
        _numeric(p, item, pos_of(p.arg(0)))
    return ast.NUMBER


def check_concat(p: Problems):
    p.shape(1, 1, ("sep",), 'concat(xs, sep="...")')
    p.list_arg()
    p.string(_kw(p, "sep"), "sep", name_ok=True)
    return ast.TEXT


def check_vote(p: Problems):
    p.shape(1, 1, (), "vote(xs)")
    return item_type(p.list_arg())


def check_merge(p: Problems):
    p.shape(1, 1, (), "merge(xs)")
    t = p.list_arg()
    inner = item_type(t)
    if inner is not None and not is_dynamic(inner) and not is_list(inner):
        p.add(
            f"merge() joins a list of lists, but the items are {describe(inner)}", pos_of(p.arg(0))
        )
        return t
    return inner


def check_tally(p: Problems):
    p.shape(1, 1, ("by",), 'tally(xs, by="field")')
    item = item_type(p.list_arg())
    if _kw(p, "by") is not None:
        p.field_path(_kw(p, "by"), item, "by")
    elif item is not None and item.name in p.schemas:
        p.add(f'tally() of {item.name} records needs by="field"', p.call.pos)
    return ast.JSON


def check_dedupe(p: Problems):
    p.shape(1, 1, (), "dedupe(xs)")
    return p.list_arg()


def check_top(p: Problems):
    p.shape(2, 2, ("by",), 'top(xs, N, by="field")')
    t = p.list_arg()
    p.whole(p.arg(1), "N", 1)
    if _kw(p, "by") is not None:
        by = _kw(p, "by")
        _numeric(p, p.field_path(by, item_type(t), "by"), pos_of(by))
    return t


CHECKS = {
    "split": check_split,
    "grep": check_grep,
    "slice": check_slice,
    "window": check_window,
    "field": check_field,
    "count": check_count,
    "sum": check_sum,
    "concat": check_concat,
    "vote": check_vote,
    "merge": check_merge,
    "tally": check_tally,
    "dedupe": check_dedupe,
    "top": check_top,
}

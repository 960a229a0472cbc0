"""Lark tree → the typed AST of :mod:`hetflow.syntax.ast`, with positions on every node.

The builder also reports what the grammar alone cannot say well: a reserved word used
as a name, an unknown objective, a clause given twice, a template that is not valid
Jinja, a prompt file that cannot be read.

>>> prog, diags = build('workflow w {\\n input x: text\\n output x\\n}', "w.het")
>>> prog.workflows[0].inputs[0].name, diags
('x', [])
"""

from __future__ import annotations

import re
from bisect import bisect_right
from pathlib import Path
from typing import Literal

from lark import Token, Transformer
from lark.exceptions import VisitError

from hetflow.errors import NOWHERE, Diagnostic, DiagnosticError, Severity, SourcePosition
from hetflow.syntax import ast
from hetflow.syntax.gcpause import gc_paused
from hetflow.syntax.lexer import Lines
from hetflow.syntax.literals import locate_refs, number, string_value, unescape
from hetflow.syntax.parser import fast_parse, parse_tree
from hetflow.syntax.templates import template_refs

__all__ = ["build", "build_or_raise", "unescape", "string_value", "number"]

_SIZE_SUFFIX = {"k": 1_000, "K": 1_000, "M": 1_000_000}
_DURATION_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class _Builder(Transformer):
    """Each rule's method takes ``(span, children)``: span is ``(start, end)`` offsets.

    The fast path (:func:`hetflow.syntax.parser.fast_parse`) calls the methods while it parses;
    a Lark tree (the fallback) goes through :meth:`transform`, whose metas become spans.
    """

    def __init__(self, file: str, base_dir: Path | None, text: str):
        super().__init__()
        self.file = file
        self.base_dir = base_dir
        self.diagnostics: list[Diagnostic] = []
        # Line starts, then one past the end: `starts[line]` exists for every line.
        self.starts = Lines(text).starts + [len(text) + 1]

    def _call_userfunc(self, tree, new_children=None):
        """Call the rule's method as ``method(span, children)``.

        Lark's ``v_args(meta=True)`` does the same through a wrapper built on every call,
        which costs a third of the build of a big workflow.
        """
        children = new_children if new_children is not None else tree.children
        meta = tree.meta
        span = None if meta.empty else (meta.start_pos, meta.end_pos)
        method = getattr(self, tree.data, None)
        if method is None:
            return self.__default__(tree.data, children, meta)
        return method(span, children)

    # ---------------------------------------------------------------- helpers
    def pos(self, where) -> SourcePosition:
        """The position of a span or token (lines and columns as Lark counts them)."""
        if where.__class__ is tuple:
            start, end = where
        elif where is None:  # an empty rule has no position
            return SourcePosition(self.file, 1, 1, 1, 2)
        else:
            start, end = where.start_pos, where.end_pos
        starts = self.starts
        line = bisect_right(starts, start)
        if end < starts[line]:  # on one line, as most spans are
            first = starts[line - 1] - 1
            return SourcePosition(self.file, line, start - first, line, end - first)
        end_line = bisect_right(starts, end, line - 1)
        return SourcePosition(
            self.file,
            line,
            start - starts[line - 1] + 1,
            end_line,
            end - starts[end_line - 1] + 1,
        )

    def error(self, message: str, where, severity: Severity = "error") -> None:
        pos = where if isinstance(where, SourcePosition) else self.pos(where)
        self.diagnostics.append(Diagnostic(severity, message, pos))

    def name(self, token: Token) -> str:
        value = token.value
        if value in ast.RESERVED:
            self.error(f"'{value}' is a reserved word and cannot be a name", token)
        return value

    # ---------------------------------------------------------------- file
    def start(self, meta, items):
        uses = tuple(i for i in items if isinstance(i, ast.Use))
        schemas = tuple(i for i in items if isinstance(i, ast.Schema))
        workflows = tuple(i for i in items if isinstance(i, ast.Workflow))
        return ast.Program(self.file, uses, schemas, workflows)

    def use_decl(self, meta, items):
        return ast.Use(string_value(items[0]), self.pos(meta))

    # ---------------------------------------------------------------- schemas
    def schema(self, meta, items):
        name, *fields = items
        return ast.Schema(self.name(name), tuple(fields), self.pos(name), self.pos(meta))

    def field(self, meta, items):
        name, type_, *opt = items
        return ast.Field(self.name(name), type_, bool(opt), self.pos(name))

    def enum_type(self, meta, items):
        values = tuple(string_value(v) if v.type == "STRING" else str(v) for v in items)
        seen = set()
        for v, tok in zip(values, items, strict=True):
            if v in seen:
                self.error(f"enum value '{v}' is listed twice", tok)
            seen.add(v)
        return ast.TypeRef("enum", enum=values, pos=self.pos(meta))

    def named_type(self, meta, items):
        return ast.TypeRef(str(items[0]), pos=self.pos(meta))

    def list_type(self, meta, items):
        return ast.TypeRef("list", item=items[0], pos=self.pos(meta))

    def type_ann(self, meta, items):
        return items[0]

    # ---------------------------------------------------------------- workflows
    def workflow(self, meta, items):
        name, *body = items
        inputs, steps, outputs = [], [], []
        settings: dict[str, ast.Setting] = {}
        for item in body:
            if isinstance(item, ast.Input):
                inputs.append(item)
            elif isinstance(item, ast.Output):
                outputs.append(item)
            elif isinstance(item, tuple) and item[0] == "setting":
                _, key, setting = item
                if key in settings:
                    self.error(f"'{key}' is given twice in workflow '{name}'", setting.pos)
                settings[key] = setting
            else:
                steps.append(item)
        return ast.Workflow(
            self.name(name),
            tuple(inputs),
            tuple(steps),
            tuple(outputs),
            self.pos(name),
            objective=settings.get("objective"),
            budget=settings.get("budget"),
            deadline=settings.get("deadline"),
            span=self.pos(meta),
        )

    def input_decl(self, meta, items):
        name, type_, *size = items
        return ast.Input(self.name(name), type_, size[0] if size else None, self.pos(name))

    def objective(self, meta, items):
        value = str(items[0])
        if value not in ast.OBJECTIVES:
            self.error(f"unknown objective '{value}'; use cost, latency or balanced", items[0])
        return ("setting", "objective", ast.Setting(value, self.pos(meta)))

    def budget(self, meta, items):
        return ("setting", "budget", ast.Setting(float(str(items[0])[1:]), self.pos(meta)))

    def deadline(self, meta, items):
        return ("setting", "deadline", ast.Setting(self.seconds(items[0]), self.pos(meta)))

    def output(self, meta, items):
        return ast.Output(tuple(ast.Ref(str(t), self.pos(t)) for t in items), self.pos(meta))

    # ---------------------------------------------------------------- steps
    def _split_step(self, items):
        """(name token, type or None, rest) for `KIND NAME [: TYPE] ...`."""
        name, *rest = items
        type_ = None
        if rest and isinstance(rest[0], ast.TypeRef):
            type_, *rest = rest
        return name, type_, rest

    def extract_step(self, meta, items):
        name, type_, (call,) = self._split_step(items)
        return ast.Extract(self.name(name), type_, call, self.pos(name), self.pos(meta))

    def reduce_step(self, meta, items):
        name, type_, (call,) = self._split_step(items)
        return ast.Reduce(self.name(name), type_, call, self.pos(name), self.pos(meta))

    def reason_step(self, meta, items):
        name, type_, (prompt, *clauses) = self._split_step(items)
        return ast.Reason(
            self.name(name), type_, prompt, self.clauses(clauses), self.pos(name), self.pos(meta)
        )

    def zoom_step(self, meta, items):
        name, type_, (image, goal, *clauses) = self._split_step(items)
        return ast.Zoom(
            self.name(name),
            type_,
            ast.Ref(str(image), self.pos(image)),
            goal,
            self.clauses(clauses),
            self.pos(name),
            self.pos(meta),
        )

    def recurse_step(self, meta, items):
        name, type_, (over, *rest) = self._split_step(items)
        depth = 1
        task = None
        root = sub = ast.Clauses()
        clauses = []
        for item in rest:
            if isinstance(item, tuple) and item[0] == "depth":
                depth = item[1]
            elif isinstance(item, tuple) and item[0] == "task":
                if task is not None:
                    self.error("'task' is given twice", item[1].pos)
                task = item[1]
            elif isinstance(item, tuple) and item[0] in ("root", "sub"):
                if item[0] == "root":
                    root = item[1]
                else:
                    sub = item[1]
            else:
                clauses.append(item)
        if task is None:
            self.error(f"recurse step '{name}' needs a 'task'", name)
        return ast.Recurse(
            self.name(name),
            type_,
            ast.Ref(str(over), self.pos(over)),
            depth,
            task,
            root,
            sub,
            self.clauses(clauses),
            self.pos(name),
            self.pos(meta),
        )

    def depth(self, meta, items):
        value = float(str(items[0]))
        if not value.is_integer() or not 1 <= value <= 8:
            self.error("depth must be a whole number from 1 to 8", items[0])
            value = 1
        return ("depth", int(value))

    def task(self, meta, items):
        return ("task", items[0])

    def root(self, meta, items):
        return ("root", self.clauses(items))

    def sub(self, meta, items):
        return ("sub", self.clauses(items))

    def map_step(self, meta, items):
        item, over, *body = items
        return ast.Map(
            self.name(item),
            ast.Ref(str(over), self.pos(over)),
            tuple(body),
            self.pos(item),
            self.pos(meta),
        )

    # ---------------------------------------------------------------- clauses
    def clauses(self, items) -> ast.Clauses:
        needs: list[ast.Requirement] = []
        model = chip = None
        pin_pos = None
        options: list[ast.Option] = []
        for kind, value, pos in items:
            if kind == "needs":
                needs.extend(value)
            elif kind == "model":
                if model is not None:
                    self.error("a step can be pinned to one model only", pos)
                model, pin_pos = value, pin_pos or pos
            elif kind == "chip":
                if chip is not None:
                    self.error("a step can be pinned to one chip only", pos)
                chip, pin_pos = value, pin_pos or pos
            else:
                options.extend(value)
        seen: dict[str, ast.Requirement] = {}
        for r in needs:
            if r.key in seen:
                self.error(f"'{r.key}' is required twice", r.pos)
            seen[r.key] = r
        keys: set[str] = set()
        for o in options:
            if o.key in keys:
                self.error(f"option '{o.key}' is given twice", o.pos)
            keys.add(o.key)
        pin = ast.Pin(model, chip, pin_pos or NOWHERE) if (model or chip) else None
        return ast.Clauses(tuple(needs), pin, tuple(options))

    def needs(self, meta, items):
        return ("needs", tuple(items), None)  # clauses() needs no position for these

    def requirement(self, meta, items):
        key, size = items
        return ast.Requirement(key.value, size.value, self.pos(meta), size.unit)

    def pin_model(self, meta, items):
        return ("model", string_value(items[0]), self.pos(meta))

    def pin_chip(self, meta, items):
        return ("chip", items[0], self.pos(meta))

    def chip(self, meta, items):
        if len(items) == 1 and items[0].type == "STRING":
            return string_value(items[0])
        for left, right in zip(items, items[1:], strict=False):
            if right.start_pos - left.end_pos > 1:  # more than the '-' between them
                self.error(
                    "a chip name has no spaces; write it as one word or quote it", self.pos(meta)
                )
                break
        return "-".join(str(t) for t in items)

    def with_opts(self, meta, items):
        return ("with", tuple(items), None)  # clauses() needs no position for these

    def option(self, meta, items):
        key, value = items
        if isinstance(value, ast.Ref):  # `with mode=fast`: a bare word is a string here
            plain = {"true": True, "false": False}.get(value.name, value.name)
            return ast.Option(str(key), plain, self.pos(meta))
        return ast.Option(str(key), _plain(value), self.pos(meta))

    # ---------------------------------------------------------------- text
    def inline_text(self, meta, items):
        token = items[0]
        return self.template(string_value(token), token, None)

    def file_text(self, meta, items):
        token = items[0]
        rel = string_value(token)
        path = (self.base_dir or Path.cwd()) / rel
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            self.error(f"cannot read prompt file '{rel}': {reason}", token)
            content = ""
        return self.template(content.strip(), token, rel)

    def template(self, source: str, token: Token, path: str | None) -> ast.Text:
        pos = self.pos(token)
        refs, problem = template_refs(source)
        if problem:
            self.error(f"this template is not valid: {problem}", pos)
        if path is None:
            raw = str(token)
            located = tuple(
                ast.TemplateRef(name, attrs, at)
                for (name, attrs), at in zip(refs, locate_refs(raw, refs, pos), strict=True)
            )
        else:
            located = tuple(ast.TemplateRef(name, attrs, pos) for name, attrs in refs)
        return ast.Text(source, located, path, pos)

    # ---------------------------------------------------------------- calls and values
    def call(self, meta, items):
        name, *args = items
        positional, keywords = [], []
        for a in args:
            if isinstance(a, tuple):
                keywords.append(a)
            else:
                if keywords:
                    self.error("a positional argument cannot follow a key=value argument", a.pos)
                positional.append(a)
        seen = set()
        for k, v in keywords:
            if k in seen:
                self.error(f"argument '{k}' is given twice", v.pos)
            seen.add(k)
        return ast.Call(str(name), tuple(positional), tuple(keywords), self.pos(name))

    def kwarg(self, meta, items):
        key, value = items
        return (str(key), value)

    def ref(self, meta, items):
        name = items[0].value
        if name in ("true", "false"):
            return ast.Const(name == "true", "bool", self.pos(meta))
        return ast.Ref(name, self.pos(meta))

    def string(self, meta, items):
        return ast.Const(string_value(items[0]), "string", self.pos(meta))

    def money(self, meta, items):
        return ast.Const(float(str(items[0])[1:]), "money", self.pos(meta))

    def duration(self, meta, items):
        return ast.Const(self.seconds(items[0]), "duration", self.pos(meta))

    def list_value(self, meta, items):
        return ast.ListValue(tuple(items), self.pos(meta))

    def size(self, meta, items):
        text = items[0].value
        if text[-1] in _SIZE_SUFFIX:
            value = float(text[:-1]) * _SIZE_SUFFIX[text[-1]]
        else:
            value = float(text)
        value = int(value) if value.is_integer() else value
        unit: Literal["tokens", "items"] | None = None
        if len(items) > 1:
            unit = "tokens" if str(items[1]).startswith("token") else "items"
        return ast.Size(value, unit, self.pos(meta))

    def seconds(self, token: Token) -> float:
        m = re.fullmatch(r"([0-9.]+)(ms|s|m|h)", str(token))
        assert m, token  # the grammar's DURATION pattern guarantees the shape
        return float(m.group(1)) * _DURATION_UNIT[m.group(2)]


def _plain(value):
    """A builtin-argument value as a plain Python value (for options)."""
    if isinstance(value, ast.Const):
        return value.value
    if isinstance(value, ast.Size):
        return value.value
    if isinstance(value, ast.ListValue):
        return [_plain(v) for v in value.items]
    return value


@gc_paused
def build(text: str, file: str = "<string>", base_dir: Path | None = None):
    """Parse and build one file: ``(Program, diagnostics)``; syntax errors raise."""
    text = text.replace("\r\n", "\n")  # CRLF files read (and dedent) like LF ones
    builder = _Builder(file, base_dir, text)
    program = fast_parse(text, builder)
    if program is None:  # a syntax error (parse_tree words it) or a case Lark must judge
        tree = parse_tree(text, file)
        builder = _Builder(file, base_dir, text)
        try:
            program = builder.transform(tree)
        except VisitError as exc:  # a bug of ours, not the user's: show it as one
            raise exc.orig_exc from None
    program = ast.Program(program.file, program.uses, program.schemas, program.workflows, text)
    return program, builder.diagnostics


def build_or_raise(text: str, file: str = "<string>", base_dir: Path | None = None) -> ast.Program:
    program, diags = build(text, file, base_dir)
    if any(d.is_error for d in diags):
        raise DiagnosticError(diags, {file: text})
    return program

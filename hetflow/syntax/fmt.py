"""Canonical formatting of `.het` files: `hetflow fmt`.

The formatter prints the AST back (so it can never change what a file means: a test
checks ``build(fmt(x)) == build(x)``), in one layout: two-space indent, one step per
line, clauses in the order needs, using, on, with, triple-quoted prompts re-indented
under their step, declarations in the order they were written.  Comments are not in
the AST (Lark drops them), so they are read from the text: a comment on its own line is
printed before the construct that follows it, a comment after code at the end of that
construct's last line; blank lines between constructs are kept (at most one).

>>> print(format_source('workflow w{input x:text\\n  output   x}'), end="")
workflow w {
  input x: text
  output x
}
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from hetflow.errors import DiagnosticError
from hetflow.syntax import ast
from hetflow.syntax.builder import build
from hetflow.syntax.literals import unescape
from hetflow.units import exact_duration as duration
from hetflow.units import exact_money as money
from hetflow.units import number

INDENT = "  "
_TOKENS = re.compile(r'"""[\s\S]*?"""|"(?!"")(?:[^"\\\n]|\\.)*"|#[^\n]*')
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHIP = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(-([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*")
_KNOWN_ESCAPES = set('ntr"\\0u')


def format_source(text: str, file: str = "<string>", base_dir: Path | None = None) -> str:
    """The canonical form of a `.het` text; raises DiagnosticError if it does not build."""
    program, diagnostics = build(text, file, base_dir)
    # Formatting keeps `file "..."` as written, so a prompt file it cannot read is no obstacle.
    diagnostics = [d for d in diagnostics if not d.message.startswith("cannot read prompt file")]
    if any(d.is_error for d in diagnostics):
        raise DiagnosticError(diagnostics, {file: text})
    return _Printer(text).program(program)


def comments(text: str) -> list[tuple[int, str, bool]]:
    """Every comment of a text: its line, its text, and whether code precedes it on its line.

    A `#` inside a string is not a comment.
    """
    out = []
    for m in _TOKENS.finditer(text):
        if m.group().startswith("#"):
            start = text.rfind("\n", 0, m.start()) + 1
            trailing = bool(text[start : m.start()].strip())
            out.append((text.count("\n", 0, m.start()) + 1, m.group().rstrip(), trailing))
    return out


# ------------------------------------------------------------------ values


def size(x: float, suffix: bool = True) -> str:
    """``128k``, ``1.5M``: the largest suffix that reads back exactly, with few decimals."""
    if suffix and x >= 1000:
        for unit, scale in (("M", 1_000_000), ("k", 1_000)):
            text = number(x / scale)
            if x >= scale and len(text.partition(".")[2]) <= 2 and float(text) * scale == x:
                return text + unit
    return number(x)


def string(value: str) -> str:
    """A one-line string literal whose unescaped value is exactly ``value``."""
    out = []
    for i, c in enumerate(value):
        if c == "\\":
            nxt = value[i + 1] if i + 1 < len(value) else ""
            out.append("\\\\" if nxt in _KNOWN_ESCAPES or nxt == "" else "\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif c == "\0":
            out.append("\\0")
        elif ord(c) < 32 or c in "\u2028\u2029\x85":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    literal = '"' + "".join(out) + '"'
    assert unescape(literal[1:-1]) == value, value
    return literal


def value(v) -> str:
    if isinstance(v, ast.Ref):
        return v.name
    if isinstance(v, ast.Size):
        unit = f" {v.unit}" if v.unit else ""
        return size(v.value, suffix=bool(v.unit)) + unit
    if isinstance(v, ast.ListValue):
        return "[" + ", ".join(value(i) for i in v.items) + "]"
    kind = v.kind
    if kind == "string":
        return string(v.value)
    if kind == "bool":
        return "true" if v.value else "false"
    if kind == "money":
        return money(v.value)
    if kind == "duration":
        return duration(v.value)
    return number(v.value)


def plain(v) -> str:
    """An option's plain value (the builder keeps options as Python values)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return number(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(plain(i) for i in v) + "]"
    return string(str(v))


def type_(t: ast.TypeRef) -> str:
    if t.name == "list" and t.item is not None:
        return f"list[{type_(t.item)}]"
    if t.name == "enum":
        vals = (e if _NAME.fullmatch(e) else string(e) for e in t.enum or ())
        return f"enum({', '.join(vals)})"
    return t.name


def chip(name: str) -> str:
    words = re.split(r"-", name)
    if _CHIP.fullmatch(name) and not any(w in ast.RESERVED for w in words):
        return name
    return string(name)


def clauses(c: ast.Clauses) -> str:
    parts = []
    if c.needs:
        reqs = (f"{r.key} >= {size(r.amount, r.key == 'context')}" for r in c.needs)
        parts.append("needs " + ", ".join(reqs))
    if c.pin is not None and c.pin.model is not None:
        parts.append(f"using {string(c.pin.model)}")
    if c.pin is not None and c.pin.chip is not None:
        parts.append(f"on {chip(c.pin.chip)}")
    if c.options:
        parts.append("with " + ", ".join(f"{o.key}={plain(o.value)}" for o in c.options))
    return "".join(" " + p for p in parts)


def call(c: ast.Call) -> str:
    args = [value(a) for a in c.args] + [f"{k}={value(v)}" for k, v in c.kwargs]
    return f"{c.name}({', '.join(args)})"


def text(t: ast.Text, depth: int) -> str:
    if t.path is not None:
        return f"file {string(t.path)}"
    body = t.template
    if "\n" in body and '"""' not in body:
        inner = INDENT * (depth + 1)
        lines = [inner + line if line.strip() else "" for line in body.split("\n")]
        raw = "\n" + "\n".join(lines) + "\n" + INDENT * depth
        if textwrap.dedent(raw).strip() == body:
            return '"""' + raw + '"""'
    return string(body)


# ------------------------------------------------------------------ layout


class _Printer:
    def __init__(self, source: str):
        self.source_lines = source.split("\n")
        self.comments = comments(source)
        self.next_comment = 0
        self.opened = False  # the last line printed opens a block
        self.last_line = 0  # the last source line already printed
        self.out: list[str] = []

    def program(self, program: ast.Program) -> str:
        for use in program.uses:
            self.line(0, f"use {string(use.path)}", use.pos.line)
        decls = sorted(program.schemas + program.workflows, key=lambda d: (d.span.line, d.pos.line))
        for decl in decls:
            if self.out and self.out[-1] != "":
                self.out.append("")
            start = decl.span.line or decl.pos.line
            self.flush(start, 0, gap_at=start, top=True)
            if isinstance(decl, ast.Schema):
                self.schema(decl)
            else:
                self.workflow(decl)
        self.flush(10**9, 0)
        while self.out and self.out[-1] == "":
            self.out.pop()
        return "\n".join(self.out) + "\n"

    def flush(self, limit: int, depth: int, gap_at: int | None = None, top: bool = False):
        """Print the comments up to line ``limit``, then keep a blank line before ``gap_at``.

        A comment that trails the code of line ``limit`` is left for :meth:`trailing`.
        """
        while self.next_comment < len(self.comments):
            at, comment, trailing = self.comments[self.next_comment]
            if at > limit or (at == limit and trailing):
                break
            self.gap(at, top)
            self.emit(INDENT * depth + comment)
            self.last_line = max(self.last_line, at)
            self.next_comment += 1
        if gap_at is not None:
            self.gap(gap_at, top)

    def trailing(self, line: int) -> str:
        """The comment that ends source line ``line`` after code, to end the printed line."""
        if self.next_comment < len(self.comments):
            at, comment, trailing = self.comments[self.next_comment]
            if at == line and trailing:
                self.next_comment += 1
                return "  " + comment
        return ""

    def emit(self, text_: str, opens: bool = False) -> None:
        self.out.append(text_)
        self.opened = opens

    def gap(self, line: int, top: bool = False) -> None:
        """Keep one blank line where the source had some, except at a block's start."""
        if not self.out or self.out[-1] == "" or self.opened:
            return
        between = self.source_lines[self.last_line : max(self.last_line, line - 1)]
        if any(not s.strip() for s in between) and not top:
            self.out.append("")

    def line(self, depth: int, text_: str, start: int, end: int | None = None) -> None:
        """One construct from source lines start..end; comments inside it go before it."""
        end = end or start
        self.flush(end, depth, gap_at=start)
        self.emit(INDENT * depth + text_ + self.trailing(end), opens=text_.endswith("{"))
        self.last_line = max(self.last_line, end)

    def close(self, depth: int, end: int, tail: str = "") -> None:
        self.flush(end, depth + 1)
        self.emit(INDENT * depth + "}" + tail + self.trailing(end))
        self.last_line = max(self.last_line, end)

    def schema(self, s: ast.Schema) -> None:
        self.line(0, f"schema {s.name} {{", s.span.line or s.pos.line)
        for f in s.fields:
            opt = "?" if f.optional else ""
            self.line(1, f"{f.name}: {type_(f.type)}{opt}", f.pos.line)
        self.close(0, s.span.end_line)

    def workflow(self, w: ast.Workflow) -> None:
        self.line(0, f"workflow {w.name} {{", w.span.line or w.pos.line)
        for i in w.inputs:
            hint = f" ~ {value(i.size)}" if i.size is not None else ""
            self.line(1, f"input {i.name}: {type_(i.type)}{hint}", i.pos.line)
        if w.objective is not None:
            self.line(1, f"objective {w.objective.value}", w.objective.pos.line)
        if w.budget is not None:
            self.line(1, f"budget {money(w.budget.value)}", w.budget.pos.line)
        if w.deadline is not None:
            self.line(1, f"deadline {duration(w.deadline.value)}", w.deadline.pos.line)
        for step in w.steps:
            self.step(step, 1)
        for out in w.outputs:
            self.line(1, "output " + ", ".join(r.name for r in out.names), out.pos.line)
        self.close(0, w.span.end_line)

    def step(self, s: ast.Step, depth: int) -> None:
        start, end = s.span.line or s.pos.line, s.span.end_line or s.pos.line
        declared = getattr(s, "type", None)
        ann = f": {type_(declared)}" if declared is not None else ""
        if isinstance(s, ast.Map):
            self.line(depth, f"map {s.item} in {s.over.name} {{", start)
            for inner in s.body:
                self.step(inner, depth + 1)
            self.close(depth, end)
            return
        if isinstance(s, ast.Recurse):
            d = f" depth {s.depth}" if s.depth != 1 else ""
            self.line(depth, f"recurse {s.name}{ann} over {s.over.name}{d} {{", start)
            if s.task is not None:
                self.line(
                    depth + 1,
                    "task " + text(s.task, depth + 1),
                    s.task.pos.line,
                    s.task.pos.end_line,
                )
            for word, c in (("root", s.root), ("sub", s.sub)):
                if c != ast.Clauses():
                    first = next((r.pos.line for r in c.needs), self.last_line)
                    self.line(depth + 1, word + clauses(c), first)
            self.close(depth, end, clauses(s.clauses))
            return
        if isinstance(s, (ast.Extract, ast.Reduce)):
            head = f"{s.op} {s.name}{ann} = {call(s.call)}"
        elif isinstance(s, ast.Reason):
            head = f"reason {s.name}{ann} = prompt {text(s.prompt, depth)}{clauses(s.clauses)}"
        else:
            head = (
                f"zoom {s.name}{ann} = {s.image.name} at {text(s.goal, depth)}{clauses(s.clauses)}"
            )
        self.line(depth, head, start, end)

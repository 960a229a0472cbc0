"""What the language server knows about one `.het` text, without any protocol.

:func:`analyze` checks a text the way ``hetflow check`` does (same diagnostics, same
positions) and indexes what stands where: every definition, every use of a name, every
type and builtin, every step's extent.  Hover, go to definition, completion and the
outline are lookups in that index, so they are plain functions tested without a client.

A text with syntax errors has no AST; to still answer for its valid parts, the lines
with syntax errors are blanked (spaces, so every position stays put) and the text is
built again, a few times at most.

Positions here are 0-based (line, character) in code points, as the AST counts them;
the server converts them to the client's units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hetflow.builtins.table import BUILTINS
from hetflow.checks.checker import OPTIONS, check_program
from hetflow.checks.scope import Scope
from hetflow.errors import Diagnostic, DiagnosticError, HetError, SourcePosition
from hetflow.syntax import ast
from hetflow.syntax.loader import load_text

# (line, character, end_line, end_character), 0-based, end exclusive
Span = tuple[int, int, int, int]

STEP_KINDS: dict[str, str] = {
    "extract": "extract ${1:name} = ${2:split}(${3:doc}, ${4:lines=20})",
    "reason": 'reason ${1:name} = prompt "${2:{{ ${3:doc} }}}"',
    "zoom": 'zoom ${1:name} = ${2:image} at "${3:goal}"',
    "recurse": 'recurse ${1:name} over ${2:context} {\n  task "${3:task}"\n}',
    "map": "map ${1:item} in ${2:items} {\n  $0\n}",
    "reduce": "reduce ${1:name} = ${2:count}(${3:xs})",
}
STEP_DOCS: dict[str, str] = {
    "extract": "pulls sub-contexts out by program, on the CPU (no model, no cost)",
    "reason": "one model call: a prompt in, text or a typed value out",
    "zoom": "a small vision model finds the region of an image for a goal; the crop runs on the CPU",
    "recurse": "a root model writes Python over a long text in a sandboxed REPL, calling sub-models",
    "map": "runs a block once per item of a list, in parallel",
    "reduce": "combines a list by program, on the CPU",
}
KEYWORDS = (
    "workflow schema use input output objective budget deadline prompt file task root sub "
    "needs using on with over in at depth enum list"
).split()
OBJECTIVES = ast.OBJECTIVES
SKILL_DOCS = {
    "reasoning": "skill level 0..5",
    "coding": "skill level 0..5",
    "extraction": "skill level 0..5",
    "vision": "skill level 0..5",
    "context": "a context window of at least this many tokens",
}


def span_of(pos: SourcePosition) -> Span:
    """A 1-based, end-exclusive SourcePosition as a 0-based span."""
    line = max(pos.line - 1, 0)
    end_line = max(pos.end_line - 1, line)
    return (line, max(pos.column - 1, 0), end_line, max(pos.end_column - 1, 0))


def contains(span: Span, line: int, char: int) -> bool:
    """Whether (line, char) is inside the span (its end included, as editors expect)."""
    if (line, char) < (span[0], span[1]):
        return False
    return (line, char) <= (span[2], span[3])


def _size(span: Span) -> tuple[int, int]:
    return (span[2] - span[0], (span[3] - span[1]) if span[2] == span[0] else 10**6)


@dataclass
class Entry:
    """Something at a place in the text: a use, a definition, a type, a builtin, a step."""

    span: Span
    kind: str  # ref, def, type, builtin, schema, field, workflow, use, step
    name: str
    node: Any = None
    workflow: ast.Workflow | None = None
    where: tuple[int, ...] = ()  # the map path of a use


@dataclass
class WorkflowInfo:
    workflow: ast.Workflow
    scope: Scope
    maps: dict[int, tuple[int, ...]] = field(default_factory=dict)  # id(Map) -> its path


@dataclass
class Analysis:
    """One text's diagnostics and index; ``program`` is None when nothing builds."""

    file: str
    text: str
    diagnostics: list[Diagnostic]
    program: ast.Program | None
    partial: bool  # built from a text with its syntax-error lines blanked
    entries: list[Entry] = field(default_factory=list)
    workflows: dict[str, WorkflowInfo] = field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def at(self, line: int, char: int, kinds: tuple[str, ...] | None = None) -> Entry | None:
        """The innermost entry at a place (of the given kinds)."""
        best: Entry | None = None
        for e in self.entries:
            if kinds is not None and e.kind not in kinds:
                continue
            if e.span[0] > line or e.span[2] < line or not contains(e.span, line, char):
                continue
            if best is None or _size(e.span) < _size(best.span):
                best = e
        return best

    def workflow_at(self, line: int) -> WorkflowInfo | None:
        for info in self.workflows.values():
            s = span_of(info.workflow.span)
            if info.workflow.pos.file == self.file and s[0] <= line <= _end_line(info.workflow):
                return info
        return None


def _end_line(wf: ast.Workflow) -> int:
    """The last line of a workflow (its span's end; the last thing in it if unknown)."""
    s = span_of(wf.span)
    if s[2] > s[0]:
        return s[2]
    last = s[0]
    for o in wf.outputs:
        last = max(last, o.pos.end_line - 1)
    for step, _ in ast.walk_steps(wf.steps):
        last = max(last, step.span.end_line - 1, step.pos.end_line - 1)
    return last + 1


# ---------------------------------------------------------------- building


def _blank_lines(text: str, lines: set[int]) -> str:
    """The text with the given 1-based lines turned to spaces (positions unchanged)."""
    out = text.split("\n")
    for n in lines:
        if 1 <= n <= len(out):
            out[n - 1] = " " * len(out[n - 1])
    return "\n".join(out)


def _build(text: str, file: str, base_dir: Path):
    """(program, build diagnostics, syntax diagnostics, partial) for a text."""
    try:
        program, diags = load_text(text, file, base_dir)
        return program, diags, [], False
    except DiagnosticError as exc:
        first = syntax = exc.diagnostics
    except (HetError, RecursionError):
        return None, [], [], False
    blanked = text
    for _ in range(8):
        lines = {d.pos.line for d in syntax if d.pos.file == file}
        if not lines:
            break
        for d in syntax:  # an unclosed string or brace: blank to its end as well
            if d.pos.file == file and d.pos.end_line > d.pos.line:
                lines.update(range(d.pos.line, d.pos.end_line + 1))
        blanked = _blank_lines(blanked, lines)
        try:
            program, _ = load_text(blanked, file, base_dir)
            return program, [], first, True
        except DiagnosticError as again:
            syntax = again.diagnostics
        except (HetError, RecursionError):
            break
    for closing in range(1, 4):  # a block still being typed: close it at the end
        try:
            program, _ = load_text(blanked + "\n}" * closing, file, base_dir)
            return program, [], first, True
        except (DiagnosticError, HetError, RecursionError):
            continue
    return None, [], first, True


def analyze(text: str, file: str) -> Analysis:
    """Check and index a `.het` text that stands at path ``file``."""
    base_dir = Path(file).resolve().parent
    program, build_diags, syntax_diags, partial = _build(text, file, base_dir)
    if partial or program is None:
        diagnostics = list(syntax_diags)
    else:
        diagnostics = build_diags + check_program(program)
    diagnostics = sorted(
        dict.fromkeys(diagnostics),
        key=lambda d: (d.pos.file != file, d.pos.line, d.pos.column, d.message),
    )
    a = Analysis(file, text, diagnostics, program, partial)
    if program is not None:
        _index(a, program)
    return a


def _index(a: Analysis, program: ast.Program) -> None:
    schemas = {s.name: s for s in program.schemas}
    add = a.entries.append
    for use in program.uses:
        add(Entry(span_of(use.pos), "use", use.path, use))
    for s in program.schemas:
        if s.pos.file != a.file:
            continue
        add(Entry(span_of(s.pos), "schema", s.name, s))
        for f in s.fields:
            add(Entry(span_of(f.pos), "field", f.name, (s, f)))
            _types(a, f.type)
    for wf in program.workflows:
        if wf.pos.file != a.file or wf.name in a.workflows:
            continue
        scope = Scope(wf, schemas, [])
        info = WorkflowInfo(wf, scope)
        a.workflows[wf.name] = info
        add(Entry(span_of(wf.pos), "workflow", wf.name, wf, wf))
        for inp in wf.inputs:
            add(Entry(span_of(inp.pos), "def", inp.name, inp, wf))
            _types(a, inp.type, wf)
        for step, maps in ast.walk_steps(wf.steps):
            where = scope.path(maps)
            if isinstance(step, ast.Map):
                info.maps[id(step)] = where + (scope.path((*maps, step))[-1],)
            add(Entry(span_of(step.span), "step", step.name, step, wf, where))
            add(Entry(span_of(step.pos), "def", step.name, step, wf, where))
            for ref in ast.read_refs(step):
                if ref.pos.file == a.file:
                    add(Entry(span_of(ref.pos), "ref", ref.name, ref, wf, where))
            if getattr(step, "type", None) is not None:
                _types(a, step.type, wf)
            call = getattr(step, "call", None)
            if call is not None:
                cs = span_of(call.pos)
                add(
                    Entry((cs[0], cs[1], cs[0], cs[1] + len(call.name)), "builtin", call.name, call)
                )
        for out in wf.outputs:
            for ref in out.names:
                add(Entry(span_of(ref.pos), "ref", ref.name, ref, wf, ()))


def _types(a: Analysis, t: ast.TypeRef, wf: ast.Workflow | None = None) -> None:
    if t.name == "list" and t.item is not None:
        _types(a, t.item, wf)
    elif t.pos.line and t.pos.file == a.file and t.name not in ("enum",):
        a.entries.append(Entry(span_of(t.pos), "type", t.name, t, wf))


# ---------------------------------------------------------------- lookups


@dataclass
class Target:
    """Where a name is defined."""

    file: str
    span: Span


def definition(a: Analysis, line: int, char: int) -> Target | None:
    e = a.at(line, char, ("ref", "type", "use", "def"))
    if e is None or a.program is None:
        return None
    if e.kind == "use":
        target = (Path(a.file).resolve().parent / e.name).resolve()
        return Target(str(target), (0, 0, 0, 0)) if target.exists() else None
    if e.kind == "type":
        schema = a.program.schema(e.name)
        return Target(schema.pos.file, span_of(schema.pos)) if schema else None
    if e.kind == "def":
        return Target(e.node.pos.file, span_of(e.node.pos))
    info = a.workflows.get(e.workflow.name) if e.workflow else None
    if info is None or e.name not in info.scope.defs:
        return None
    node: Any = info.scope.defs[e.name][0]
    return Target(node.pos.file, span_of(node.pos))


def name_type(info: WorkflowInfo, name: str, where: tuple[int, ...]) -> ast.TypeRef | None:
    try:
        return info.scope.view(name, where)[0]
    except (KeyError, RecursionError):
        return None


def describe_definition(info: WorkflowInfo, name: str, where: tuple[int, ...]) -> str:
    """One line on what a name is: its definition and its type where it is used."""
    node: Any
    node, kind, _ = info.scope.defs[name]
    t = name_type(info, name, where)
    shown = f"`{name}: {t}`" if t is not None else f"`{name}`"
    line = node.pos.line
    if isinstance(node, ast.Input):
        size = ""
        if node.size is not None:
            unit = f" {node.size.unit}" if node.size.unit else ""
            size = f" ~ {_num(node.size.value)}{unit}"
        return f"{shown} — input{size} (line {line})"
    if isinstance(node, ast.Map):  # a map defines its item
        return f"{shown} — item of `map {name} in {node.over.name}` (line {line})"
    inner = info.scope.inner_type(name)
    outside = ""
    if t is not None and inner is not None and str(inner) != str(t):
        outside = f"; `{inner}` per item inside its map"
    return f"{shown} — {node.op} step (line {line}){outside}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def step_lines(info: WorkflowInfo, step: ast.Step, where: tuple[int, ...]) -> list[str]:
    """A step's kind, what it reads, what it gives and the needs it states."""
    scope = info.scope
    out: list[str] = []
    if isinstance(step, ast.Map):
        over = name_type(info, step.over.name, where)
        out.append(f"**map** `{step.item} in {step.over.name}` — over `{over}`")
        names = [s.name for s, _ in ast.walk_steps(step.body) if not isinstance(s, ast.Map)]
        if names:
            out.append(
                "defines (a list of each after the map): " + ", ".join(f"`{n}`" for n in names)
            )
        return out
    inner = scope.inner_type(step.name) if step.name in scope.defs else None
    out.append(f"**{step.op}** `{step.name}: {inner or '?'}`" + _in_maps(info, where))
    reads = []
    for name in dict.fromkeys(ast.read_names(step)):
        t = name_type(info, name, where) if name in scope.defs else None
        reads.append(f"`{name}` {t}" if t is not None else f"`{name}` (undefined)")
    if reads:
        out.append("reads: " + ", ".join(reads))
    outside = name_type(info, step.name, ()) if step.name in scope.defs else None
    if where and outside is not None:
        out.append(f"gives: `{inner}` per item, `{outside}` after the map")
    elif inner is not None:
        out.append(f"gives: `{inner}`")
    if isinstance(step, (ast.Extract, ast.Reduce)):
        b = BUILTINS.get(step.call.name)
        out.append(f"builtin: `{b.summary}`" if b else f"builtin: `{step.call.name}` (unknown)")
    clauses = [("", getattr(step, "clauses", None))]
    if isinstance(step, ast.Recurse):
        clauses = [("root ", step.root), ("sub ", step.sub), ("", step.clauses)]
    for label, c in clauses:
        if c is None:
            continue
        if c.needs:
            out.append(f"{label}needs (given): " + ", ".join(_req(r) for r in c.needs))
        if c.pin is not None:
            pin = " ".join(
                p
                for p in (c.pin.model and f"using {c.pin.model}", c.pin.chip and f"on {c.pin.chip}")
                if p
            )
            out.append(f"{label}pinned: {pin}")
        if c.options:
            out.append(f"{label}with: " + ", ".join(f"{o.key}={o.value}" for o in c.options))
    return out


def _in_maps(info: WorkflowInfo, where: tuple[int, ...]) -> str:
    if not where:
        return ""
    maps = {path[-1]: m for m, path in _map_paths(info)}
    names = [f"`{maps[i].item} in {maps[i].over.name}`" for i in where if i in maps]
    return " — in map " + " › ".join(names) if names else ""


def _map_paths(info: WorkflowInfo):
    for step, _ in ast.walk_steps(info.workflow.steps):
        if isinstance(step, ast.Map) and id(step) in info.maps:
            yield step, info.maps[id(step)]


def _req(r: ast.Requirement) -> str:
    if r.key == "context":
        return f"context ≥ {_tokens(r.amount)}"
    return f"{r.key} ≥ {_num(r.amount)}"


def _tokens(n: float) -> str:
    if n >= 1_000_000:
        return f"{_num(round(n / 1_000_000, 2))}M tokens"
    if n >= 1000:
        return f"{_num(round(n / 1000, 1))}k tokens"
    return f"{_num(n)} tokens"


# ---------------------------------------------------------------- completion


@dataclass
class Item:
    label: str
    kind: str  # variable, function, keyword, snippet, class, field, enum
    detail: str = ""
    doc: str = ""
    snippet: str | None = None
    sort: str = "5"


_TEMPLATE_OPEN = re.compile(r"\{\{[^}]*$")
_ATTR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\.([A-Za-z_0-9]*)$")


def completions(a: Analysis, line: int, char: int, text: str | None = None) -> list[Item]:
    """What may be written at a place: names in scope first, then the language's words."""
    lines = (text if text is not None else a.text).split("\n")
    before = lines[line][:char] if line < len(lines) else ""
    info = a.workflow_at(line)
    where = _where_at(a, info, line, char) if info else ()
    in_template = bool(_TEMPLATE_OPEN.search(before))
    attr = _ATTR.search(before) if in_template or "(" in before else None
    if attr and info is not None:
        return _fields(a, info, attr.group(1), attr.group(2), where)
    items: list[Item] = []
    if info is not None:
        for name in info.scope.visible(where):
            items.append(Item(name, "variable", _short(info, name, where), sort="1"))
    if in_template:
        return items
    stripped = before.strip()
    if re.search(r"\b(needs|root needs|sub needs)\b[^=]*$", before) or stripped.endswith(","):
        for skill, doc in SKILL_DOCS.items():
            items.append(Item(skill, "enum", doc, sort="0"))
    if re.search(r"\bwith\b[^\"]*$", before):
        for opt in OPTIONS:
            items.append(Item(opt, "property", "a model call option", sort="2"))
    for b in BUILTINS.values():
        items.append(Item(b.name, "function", b.summary, f"{b.kind} builtin", sort="3"))
    for kind, snippet in STEP_KINDS.items():
        items.append(Item(kind, "snippet", STEP_DOCS[kind], snippet=snippet, sort="4"))
    for word in KEYWORDS:
        if word not in STEP_KINDS:
            items.append(Item(word, "keyword", sort="6"))
    for t in ast.PRIMITIVE_TYPES:
        items.append(Item(t, "class", "a built-in type", sort="5"))
    if a.program is not None:
        for s in a.program.schemas:
            fields = ", ".join(f"{f.name}: {f.type}" for f in s.fields)
            items.append(Item(s.name, "class", f"schema {s.name} {{ {fields} }}", sort="5"))
    for skill, doc in SKILL_DOCS.items():
        if not any(i.label == skill for i in items):
            items.append(Item(skill, "enum", doc, sort="7"))
    for obj in OBJECTIVES:
        items.append(Item(obj, "enum", "an objective", sort="8"))
    return items


def _short(info: WorkflowInfo, name: str, where: tuple[int, ...]) -> str:
    _, kind, _ = info.scope.defs[name]
    t = name_type(info, name, where)
    return f"{kind}: {t}" if t is not None else kind


def _fields(a: Analysis, info: WorkflowInfo, name: str, attrs: str, where) -> list[Item]:
    if name not in info.scope.defs or a.program is None:
        return []
    t = name_type(info, name, where)
    for attr in [x for x in attrs.split(".") if x]:
        t = _field_type(a.program, t, attr)
    schema = a.program.schema(t.name) if t is not None else None
    if schema is None:
        return []
    return [
        Item(f.name, "field", f"{f.type}{'?' * f.optional}", f"field of {schema.name}", sort="0")
        for f in schema.fields
    ]


def _field_type(program: ast.Program, t: ast.TypeRef | None, attr: str) -> ast.TypeRef | None:
    schema = program.schema(t.name) if t is not None else None
    f = schema.field(attr) if schema else None
    return f.type if f else None


def _where_at(a: Analysis, info: WorkflowInfo, line: int, char: int) -> tuple[int, ...]:
    """The map path at a place: the innermost map whose braces hold it."""
    best: tuple[int, ...] = ()
    for m, path in _map_paths(info):
        s = span_of(m.span)
        if s[2] > s[0] and contains(s, line, char) and len(path) > len(best):
            best = path
    return best


# ---------------------------------------------------------------- outline


@dataclass
class Symbol:
    name: str
    kind: str  # workflow, schema, field, input, step, map
    detail: str
    span: Span
    selection: Span
    children: list[Symbol] = field(default_factory=list)


def symbols(a: Analysis) -> list[Symbol]:
    if a.program is None:
        return []
    out: list[Symbol] = []
    for s in a.program.schemas:
        if s.pos.file != a.file:
            continue
        kids = [
            Symbol(f.name, "field", str(f.type), span_of(f.pos), span_of(f.pos)) for f in s.fields
        ]
        out.append(Symbol(s.name, "schema", "schema", _whole(s), span_of(s.pos), kids))
    for info in a.workflows.values():
        wf = info.workflow
        kids = [
            Symbol(i.name, "input", str(i.type), span_of(i.pos), span_of(i.pos)) for i in wf.inputs
        ]
        kids.extend(_step_symbols(info, wf.steps))
        sym = Symbol(wf.name, "workflow", "workflow", _whole(wf), span_of(wf.pos), kids)
        out.append(sym)
    return sorted(out, key=lambda s: s.span)


def _step_symbols(info: WorkflowInfo, steps) -> list[Symbol]:
    out = []
    for step in steps:
        if isinstance(step, ast.Map):
            name = f"map {step.item} in {step.over.name}"
            kids = _step_symbols(info, step.body)
            out.append(Symbol(name, "map", "map", _whole(step), span_of(step.pos), kids))
            continue
        t = info.scope.inner_type(step.name) if step.name in info.scope.defs else None
        detail = f"{step.op}: {t}" if t is not None else step.op
        out.append(Symbol(step.name, "step", detail, _whole(step), span_of(step.pos)))
    return out


def _whole(node: Any) -> Span:
    """A construct's whole extent, holding its name's."""
    name = span_of(node.pos)
    span = span_of(node.span) if getattr(node, "span", None) is not None else name
    if node.span.line == 0:
        span = name
    if isinstance(node, ast.Workflow):
        span = (span[0], span[1], max(span[2], _end_line(node)), span[3])
    start = min(span[:2], name[:2])
    end = max(span[2:], name[2:])
    return (start[0], start[1], end[0], end[1])

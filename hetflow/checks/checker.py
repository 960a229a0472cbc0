"""Every static check of a `.het` program (LANGUAGE.md §5.1–§5.7), all reported at once.

The checker never stops at the first problem: it collects a positioned
:class:`~hetflow.errors.Diagnostic` for each one, so a user fixes a file in one pass.
Names are scoped the way the language says: inputs and steps are visible everywhere in
their workflow (order does not matter, cycles do); a map's item and body names are
per item inside the body, and outside it each body name is the list of its values.

>>> [d.message for d in check("workflow w {\\n input doc: text\\n"
...   "reason a = prompt \\"{{ dco }}\\"\\n output a\\n}")]
["name 'dco' is not defined; did you mean 'doc'?"]
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from hetflow.builtins.table import BUILTINS
from hetflow.checks.scope import Scope, twice
from hetflow.errors import Diagnostic, DiagnosticError, Severity, SourcePosition, closest
from hetflow.syntax import ast
from hetflow.syntax.gcpause import gc_paused
from hetflow.syntax.loader import load
from hetflow.syntax.types import compatible, describe, is_dynamic, is_list, is_text, unknown_types

SKILLS = ("reasoning", "coding", "extraction", "vision")
REQUIREMENT_KEYS = SKILLS + ("context",)

# Known `with` options and the values each takes: (kind, low, high).
OPTIONS: dict[str, tuple[str, float | None, float | None]] = {
    "temperature": ("number", 0, 2),
    "top_p": ("number", 0, 1),
    "max_tokens": ("whole", 1, None),
    "retries": ("whole", 0, 20),
    "timeout": ("number", 0, None),
    "seed": ("whole", 0, None),
    "max_iterations": ("whole", 1, None),
    "max_calls": ("whole", 1, None),
    "frequency_penalty": ("number", -2, 2),
    "presence_penalty": ("number", -2, 2),
    "reasoning_effort": ("choice", None, None),
    "stop": ("text", None, None),
    "cache": ("bool", None, None),
    # placement to a measured quality (hetflow tune) and run-time cascades: not sent
    "min_quality": ("number", 0, 1),
    "escalate": ("bool", None, None),
}
REASONING_EFFORT = ("minimal", "low", "medium", "high")


def check(source: str | os.PathLike) -> list[Diagnostic]:
    """Load, build and check a `.het` path or text; every diagnostic, sorted by position.

    Raises :class:`~hetflow.errors.HetError` only for a file that cannot be read.
    """
    return check_source(source)[0]


def check_source(source: str | os.PathLike) -> tuple[list[Diagnostic], dict[str, str]]:
    """Like :func:`check`, also returning the text of every file read (for rendering)."""
    try:
        program, diagnostics, sources = load(source)
    except DiagnosticError as exc:
        return exc.diagnostics, exc.sources
    return _ordered(diagnostics + check_program(program)), sources


@gc_paused
def check_program(program: ast.Program) -> list[Diagnostic]:
    """Every static check of an already-built program.

    The cycle collector is paused meanwhile (:mod:`hetflow.syntax.gcpause`): the checker makes
    many small objects next to a big live AST, which the collector would rescan to no
    purpose.
    """
    return _check_program(program)


def _check_program(program: ast.Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    schemas = _schemas(program, out)
    for schema in program.schemas:
        seen: dict[str, ast.Field] = {}
        for f in schema.fields:
            if f.name in seen:
                out.append(twice("field", f.name, f.pos, seen[f.name].pos))
            seen.setdefault(f.name, f)
            out.extend(_unknown_types(f.type, schemas, f.pos))
    names: dict[str, ast.Workflow] = {}
    for wf in program.workflows:
        if wf.name in names:
            out.append(twice("workflow", wf.name, wf.pos, names[wf.name].pos))
            continue
        names[wf.name] = wf
        out.extend(_WorkflowChecker(wf, schemas).run())
    return _ordered(out)


def infer_types(program: ast.Program, workflow: ast.Workflow | str | None = None):
    """Every name of a workflow → its type as seen at the workflow's top level.

    Map items get their per-item type; names defined in a map body get ``list[...]``.
    A name whose type cannot be known (an error elsewhere) maps to ``json``.
    """
    if not isinstance(workflow, ast.Workflow):
        workflow = program.workflow(workflow)
        if workflow is None:
            return {}
    scope = Scope(workflow, _schemas(program, []), [])
    return {name: scope.outside_type(name) or ast.JSON for name in scope.defs}


# ------------------------------------------------------------------ helpers


def _ordered(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    unique = dict.fromkeys(diagnostics)
    return sorted(unique, key=lambda d: (d.pos.file, d.pos.line, d.pos.column, d.message))


def _schemas(program: ast.Program, out: list[Diagnostic]) -> dict[str, ast.Schema]:
    schemas: dict[str, ast.Schema] = {}
    for s in program.schemas:
        if s.name in schemas:
            out.append(twice("schema", s.name, s.pos, schemas[s.name].pos))
        elif s.name in ast.PRIMITIVE_TYPES or s.name in ("list", "enum"):
            out.append(
                Diagnostic(
                    "error", f"'{s.name}' is a built-in type; give the schema another name", s.pos
                )
            )
        else:
            schemas[s.name] = s
    return schemas


def _unknown_types(t: ast.TypeRef, schemas, pos: SourcePosition) -> list[Diagnostic]:
    out = []
    for bad in unknown_types(t, schemas):
        hint = closest(bad.name, list(ast.PRIMITIVE_TYPES) + list(schemas))
        more = f"; did you mean '{hint}'?" if hint else ""
        where = bad.pos if bad.pos.line else pos
        out.append(Diagnostic("error", f"unknown type '{bad.name}'{more}", where))
    return out


class _WorkflowChecker:
    """The checks of one workflow; :class:`Scope` answers what each name is."""

    def __init__(self, wf: ast.Workflow, schemas: dict[str, ast.Schema]):
        self.wf = wf
        self.schemas = schemas
        self.out: list[Diagnostic] = []
        self.scope = Scope(wf, schemas, self.out)

    def error(self, message: str, pos: SourcePosition, severity: Severity = "error") -> None:
        self.out.append(Diagnostic(severity, message, pos))

    def run(self) -> list[Diagnostic]:
        wf = self.wf
        if not wf.inputs:
            self.error(
                f"workflow '{wf.name}' has no input; declare one or more with `input NAME: TYPE`",
                wf.pos,
            )
        if not wf.steps:
            self.error(
                f"workflow '{wf.name}' has no step; add one or more (extract, reason, "
                "zoom, recurse, map or reduce)",
                wf.pos,
            )

        for inp in wf.inputs:
            self.out.extend(_unknown_types(inp.type, self.schemas, inp.pos))
            if inp.size is not None and inp.size.unit == "items" and not inp.type.is_list:
                self.error(
                    f"'{inp.name}' is not a list: give its size in tokens "
                    f"(~ {_num(inp.size.value)} tokens)",
                    inp.size.pos,
                    "warning",
                )
        if wf.budget is not None and wf.budget.value <= 0:
            self.error("the budget must be more than $0", wf.budget.pos)
        if wf.deadline is not None and wf.deadline.value <= 0:
            self.error("the deadline must be longer than 0s", wf.deadline.pos)
        for step, maps in ast.walk_steps(wf.steps):
            self.step(step, self.scope.path(maps))
        self.outputs()
        self.unused_items()
        self.scope.report_cycles()
        self.unused()
        return self.out

    # ---------------------------------------------------------------- steps
    def step(self, step: ast.Step, where: tuple[int, ...]) -> None:
        scope = self.scope
        declared = getattr(step, "type", None)
        if declared is not None:
            self.out.extend(_unknown_types(declared, self.schemas, declared.pos))
        if isinstance(step, (ast.Extract, ast.Reduce)):
            self.call(step, where)
        elif isinstance(step, ast.Reason):
            scope.template(step.prompt, where)
            self.clauses(step.clauses)
        elif isinstance(step, ast.Zoom):
            t = scope.use(step.image, where)
            if t is not None and t.name != "image" and not is_dynamic(t):
                hint = " (put the zoom inside a `map` over it)" if is_list(t) else ""
                self.error(
                    f"zoom needs an image, but '{step.image.name}' is {describe(t)}{hint}",
                    step.image.pos,
                )
            if step.type is not None and step.type.name not in ("image", "json"):
                self.error(f"a zoom gives an image, not {step.type}", step.type.pos)
            scope.template(step.goal, where)
            self.clauses(step.clauses)
        elif isinstance(step, ast.Recurse):
            t = scope.use(step.over, where)
            if t is not None and not is_text(t) and not is_dynamic(t):
                hint = " (join it first: reduce NAME = concat(...))" if is_list(t) else ""
                self.error(
                    f"recurse works over text, but '{step.over.name}' is {describe(t)}{hint}",
                    step.over.pos,
                )
            if step.task is not None:
                scope.template(step.task, where)
            for clauses in (step.root, step.sub, step.clauses):
                self.clauses(clauses)
        elif isinstance(step, ast.Map):
            t = scope.use(step.over, where)
            if t is not None and not is_list(t) and not is_dynamic(t):
                hint = " (split it first: extract parts = split(...))" if is_text(t) else ""
                self.error(
                    f"map works over a list, but '{step.over.name}' is {describe(t)}{hint}",
                    step.over.pos,
                )

    def call(self, step: ast.Extract | ast.Reduce, where: tuple[int, ...]) -> None:
        call = step.call
        builtin = BUILTINS.get(call.name)
        if builtin is None:
            same = [b.name for b in BUILTINS.values() if b.kind == step.op]
            hint = closest(call.name, same) or closest(call.name, BUILTINS)
            more = f"; did you mean '{hint}'?" if hint else f" ({step.op} takes {', '.join(same)})"
            self.error(f"unknown builtin '{call.name}'{more}", call.pos)
            for v in list(call.args) + [v for _, v in call.kwargs]:
                self.scope.value(v, where)
            return
        if builtin.kind != step.op:
            self.error(
                f"'{call.name}' is {'an' if builtin.kind == 'extract' else 'a'} {builtin.kind} builtin: write "
                f"`{builtin.kind} {step.name} = {call.name}(...)`",
                call.pos,
            )
        args = [self.scope.value(v, where) for v in call.args]
        kwargs = {k: self.scope.value(v, where) for k, v in call.kwargs}
        result, problems = builtin.check(call, args, kwargs, self.schemas)
        for message, pos in problems:
            self.error(message, pos)
        if step.type is not None and result is not None and not compatible(step.type, result):
            self.error(
                f"{call.name}() gives {result}, but '{step.name}' is declared {step.type}",
                step.type.pos,
            )

    def clauses(self, clauses: ast.Clauses) -> None:
        for req in clauses.needs:
            if req.key in SKILLS:
                if req.unit is not None:
                    self.error(
                        f"a skill level has no unit: write {req.key} >= {_num(req.amount)}", req.pos
                    )
                elif not float(req.amount).is_integer() or not 0 <= req.amount <= 5:
                    self.error(
                        f"a skill level is a whole number from 0 to 5, not {_num(req.amount)}",
                        req.pos,
                    )
            elif req.key == "context":
                if req.unit == "items":
                    self.error("context is a number of tokens, not items", req.pos)
                elif req.amount <= 0:
                    self.error("context needs a size of more than 0 tokens", req.pos)
            else:
                hint = closest(req.key, REQUIREMENT_KEYS)
                more = f"did you mean '{hint}'? " if hint else ""
                self.error(
                    f"unknown requirement '{req.key}'; {more}needs takes "
                    "reasoning, coding, extraction, vision (levels 0..5) or context "
                    "(a size)",
                    req.pos,
                )
        for opt in clauses.options:
            self.option(opt)

    def option(self, opt: ast.Option) -> None:
        spec = OPTIONS.get(opt.key)
        if spec is None:
            hint = closest(opt.key, OPTIONS)
            more = f"; did you mean '{hint}'?" if hint else ""
            self.error(
                f"unknown option '{opt.key}'{more} (it is passed to the model as is)",
                opt.pos,
                "warning",
            )
            return
        kind, low, high = spec
        v = opt.value
        numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
        if kind in ("number", "whole"):
            if not numeric or (kind == "whole" and not float(v).is_integer()):
                self.error(f"{opt.key} must be a {'whole ' * (kind == 'whole')}number", opt.pos)
            elif (low is not None and v < low) or (high is not None and v > high):
                upper = f" to {_num(high)}" if high is not None else " or more"
                self.error(f"{opt.key} must be {_num(low)}{upper}, not {_num(v)}", opt.pos)
        elif kind == "bool" and not isinstance(v, bool):
            self.error(f"{opt.key} must be true or false", opt.pos)
        elif kind == "choice" and v not in REASONING_EFFORT:
            self.error(f"{opt.key} must be one of {', '.join(REASONING_EFFORT)}", opt.pos)
        elif kind == "text" and not (
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        ):
            self.error(f"{opt.key} must be a string or a list of strings", opt.pos)

    # ---------------------------------------------------------------- outputs
    def outputs(self) -> None:
        wf = self.wf
        if not wf.outputs:
            self.error(
                f"workflow '{wf.name}' has no output line; add `output NAME` "
                "naming what it returns",
                wf.pos,
            )
        for extra in wf.outputs[1:]:
            self.error(
                f"a workflow has one output line (the first is at line "
                f"{wf.outputs[0].pos.line}); list every name on it: "
                "output a, b",
                extra.pos,
            )
        seen: set[str] = set()
        for out in wf.outputs:
            for ref in out.names:
                if ref.name in seen:
                    self.error(f"'{ref.name}' is listed twice in the output", ref.pos, "warning")
                seen.add(ref.name)
                self.scope.use(ref, ())

    def unused_items(self) -> None:
        """A map whose body never reads its item does the same work for every item."""
        for step, _ in ast.walk_steps(self.wf.steps):
            if not isinstance(step, ast.Map):
                continue
            if not step.body:
                self.error(
                    f"the map over '{step.over.name}' has no steps: it does nothing",
                    step.pos,
                    "warning",
                )
                continue
            if not any(step.item in ast.read_names(s) for s, _ in ast.walk_steps(step.body)):
                self.error(
                    f"the map's item '{step.item}' is never used in its body: every "
                    "item would do the same work",
                    step.pos,
                    "warning",
                )

    def unused(self) -> None:
        if not self.wf.outputs:
            return  # without an output line every step would be "unused": say it once
        used = self.scope.needed_by(self.wf.output_names)
        for step, _ in ast.walk_steps(self.wf.steps):
            if isinstance(step, ast.Map) or step.name in used:
                continue
            first = self.scope.defs.get(step.name)
            if first is None or first[0] is not step:
                continue  # a second definition: already an error
            self.error(
                f"step '{step.name}' is never used: no output depends on it", step.pos, "warning"
            )


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)

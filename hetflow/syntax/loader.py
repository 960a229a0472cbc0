"""Reading `.het` files: text or path in, a Program with its `use` files merged.

A file's `use "other.het"` lines bring in the other file's schemas and workflows.
An unreadable, binary or empty file given directly is a one-line
:class:`~hetflow.errors.HetError`; a `use` line whose file is missing or unreadable, a
`use` cycle, syntax and build problems are diagnostics with positions.

>>> prog, diags = load_text("schema S { a: text }\\nworkflow w { input x: S\\n output x }")
>>> [s.name for s in prog.schemas], diags
(['S'], [])
"""

from __future__ import annotations

import os
from pathlib import Path

from hetflow.errors import Diagnostic, DiagnosticError, HetError, closest
from hetflow.syntax import ast
from hetflow.syntax.builder import build

MAX_FILE_BYTES = 16 * 1024 * 1024


def read_source(path: str | os.PathLike) -> str:
    """A `.het` file's text, or a one-line HetError saying why it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise HetError(f"{p}: no such file")
    if p.is_dir():
        raise HetError(f"{p}: is a directory, not a .het file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise HetError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise HetError(f"{p}: is {len(data) // 1_048_576} MiB; a .het file may be at most 16 MiB")
    if b"\0" in data:
        raise HetError(f"{p}: is a binary file, not .het text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HetError(f"{p}: is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise HetError(f"{p}: is empty; a .het file holds at least one workflow")
    return text


def load_text(text: str, file: str = "<string>", base_dir: Path | None = None):
    """Build a program from text; `use` paths resolve against base_dir (or the cwd)."""
    return _Loader().load(text, file, base_dir or Path.cwd(), stack=())


class _Loader:
    def __init__(self):
        self.sources: dict[str, str] = {}
        self.done: dict[Path, ast.Program] = {}

    def load(self, text: str, file: str, base_dir: Path, stack: tuple[Path, ...]):
        self.sources[file] = text
        program, diags = build(text, file, base_dir)
        schemas = list(program.schemas)
        workflows = list(program.workflows)
        for use in program.uses:
            used = self.use(use, base_dir, stack, diags)
            if used is None:
                continue
            _merge("schema", schemas, used.schemas, file, use, diags)
            _merge("workflow", workflows, used.workflows, file, use, diags)
        merged = ast.Program(file, program.uses, tuple(schemas), tuple(workflows), text)
        return merged, diags

    def use(self, use: ast.Use, base_dir: Path, stack, diags: list[Diagnostic]):
        """The program a `use` line brings in; a problem with it is a diagnostic at the line."""
        target = (base_dir / use.path).resolve()
        if target in stack:
            chain = " -> ".join(p.name for p in stack + (target,))
            diags.append(Diagnostic("error", f"'use' cycle: {chain}", use.pos))
            return None
        if target in self.done:
            return self.done[target]
        try:
            used_text = read_source(target)
        except HetError as exc:
            reason = str(exc).split(": ", 1)[-1]
            diags.append(Diagnostic("error", f"cannot use '{use.path}': {reason}", use.pos))
            return None
        try:
            used, used_diags = self.load(used_text, str(target), target.parent, stack + (target,))
        except DiagnosticError as exc:  # a syntax error in the used file
            diags.extend(exc.diagnostics)
            self.sources.update(exc.sources)
            return None
        self.done[target] = used
        diags.extend(used_diags)
        return used


def _merge(what: str, mine: list, theirs, file: str, use: ast.Use, diags: list) -> None:
    """Add the used file's declarations; the same name from another definition is an error.

    A file reached through two `use` paths brings the very same declarations twice:
    those are not a clash.
    """
    have = {d.name: d for d in mine}
    for d in theirs:
        other = have.get(d.name)
        if other is None:
            mine.append(d)
            have[d.name] = d
        elif (other.pos.file, other.pos.line, other.pos.column) != (
            d.pos.file,
            d.pos.line,
            d.pos.column,
        ):
            where = other.pos if other.pos.file == file else use.pos
            elsewhere = f"{Path(d.pos.file).name} (line {d.pos.line})"
            message = f"{what} '{d.name}' is defined twice: here and in {elsewhere}"
            diags.append(Diagnostic("error", message, where))


def load(source: str | os.PathLike) -> tuple[ast.Program, list[Diagnostic], dict[str, str]]:
    """A path or `.het` text → (program, build diagnostics, the sources read by file name).

    Text is told from a path by containing a newline or a brace.
    """
    loader = _Loader()
    if isinstance(source, str) and ("\n" in source or "{" in source):
        program, diags = loader.load(source, "<string>", Path.cwd(), ())
    else:
        p = Path(source)
        program, diags = loader.load(
            read_source(p), str(source), p.resolve().parent, (p.resolve(),)
        )
    return program, diags, loader.sources


def load_or_raise(source: str | os.PathLike) -> ast.Program:
    program, diags, sources = load(source)
    if any(d.is_error for d in diags):
        raise DiagnosticError(diags, sources)
    return program


def pick_workflow(program: ast.Program, name: str | None) -> ast.Workflow:
    """The workflow called ``name`` (the first one for None), or a one-line error."""
    wf = program.workflow(name)
    if wf is not None:
        return wf
    if name is None:
        raise HetError(f"{program.file}: holds no workflow")
    names = [w.name for w in program.workflows]
    hint = closest(name, names)
    more = f"; did you mean '{hint}'?" if hint else f" (it has: {', '.join(names)})"
    raise HetError(f"{program.file}: no workflow '{name}'{more}")

"""Positions, diagnostics and the errors every stage raises.

Every stage reports a user's mistake the same way: a :class:`Diagnostic` with a
:class:`SourcePosition`, rendered like a compiler (``file:line:col: error: ...``,
the source line, a caret).  Errors that have no position in a ``.het`` file
(a bad command-line value, a missing API key) are a :class:`HetError` whose
message is one line.

>>> pos = SourcePosition("a.het", 2, 3, 2, 7)
>>> d = Diagnostic("error", "name 'x' is not defined", pos)
>>> d.render("line one\\n  foo = x\\n").splitlines()[0]
"a.het:2:3: error: name 'x' is not defined"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where something stands in a source file; lines and columns count from 1."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NOWHERE = SourcePosition("<unknown>", 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One message about a source file, with the place it is about."""

    severity: Severity
    message: str
    pos: SourcePosition
    notes: tuple[str, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_json(self) -> dict:
        return {
            "file": self.pos.file,
            "line": self.pos.line,
            "column": self.pos.column,
            "end_line": self.pos.end_line,
            "end_column": self.pos.end_column,
            "severity": self.severity,
            "message": self.message,
            "notes": list(self.notes),
        }

    def render(self, source: str | None = None) -> str:
        """Render like a compiler: the header, the source line and a caret."""
        out = [f"{self.pos}: {self.severity}: {self.message}"]
        if source is not None and self.pos.line > 0:
            lines = source.splitlines()
            if self.pos.line <= len(lines):
                text = lines[self.pos.line - 1].replace("\t", " ")
                out.append(f"  {text}")
                start = max(self.pos.column, 1)
                if self.pos.end_line == self.pos.line and self.pos.end_column > start:
                    width = self.pos.end_column - start
                else:
                    width = 1
                width = max(1, min(width, len(text) - start + 2))
                out.append("  " + " " * (start - 1) + "^" + "~" * (width - 1))
        out.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(out)


class HetError(Exception):
    """A user's mistake with no better place than one line of text."""


class DiagnosticError(HetError):
    """Raised by a stage that found errors; carries every diagnostic it found."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = dict(sources or {})
        first = next((d for d in self.diagnostics if d.is_error), None)
        head = f"{first.pos}: {first.message}" if first else "no errors"
        more = sum(d.is_error for d in self.diagnostics) - 1
        super().__init__(head + (f" (and {more} more errors)" if more > 0 else ""))

    def render(self) -> str:
        return render_all(self.diagnostics, self.sources)


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None) -> str:
    sources = sources or {}
    return "\n".join(d.render(sources.get(d.pos.file)) for d in diagnostics)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate a misspelt name most likely meant, or None.

    >>> closest("claues", ["clauses", "contract"])
    'clauses'
    """
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None

"""Text → Lark syntax tree, with syntax errors a user can read.

The grammar is the single file ``grammar/het.lark`` (inside the wheel it is
``hetflow/grammar/het.lark``).  The parser is LALR, strict, and built once.

>>> tree = parse_tree('workflow w { input x: text\\n output x }', "w.het")
>>> tree.data
'start'
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput

from .errors import Diagnostic, DiagnosticError, SourcePosition
from .syntax_errors import expected_phrase, syntax_diagnostic

__all__ = ["grammar_path", "parser", "parse_tree", "expected_phrase", "syntax_diagnostic"]

_HERE = Path(__file__).resolve().parent
_GRAMMAR_PLACES = (_HERE / "grammar" / "het.lark", _HERE.parent / "grammar" / "het.lark")


def grammar_path() -> Path:
    for place in _GRAMMAR_PLACES:
        if place.is_file():
            return place
    raise FileNotFoundError("hetflow's grammar file het.lark is missing from the installation")


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        strict=True,
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,
    )


def parse_tree(text: str, file: str = "<string>") -> Tree:
    """Parse text into Lark's tree, or raise :class:`DiagnosticError` saying what was expected.

    After a syntax error the parser resynchronizes at the next line that starts a step,
    a declaration or closes a block, so one run reports the independent errors of a
    file, not only the first.
    """
    deep = _too_deep(text)
    if deep is not None:
        line = text.count("\n", 0, deep) + 1
        column = deep - text.rfind("\n", 0, deep)
        pos = SourcePosition(file, line, column, line, column + 1)
        message = f"this is nested more than {MAX_NESTING} levels deep"
        raise DiagnosticError([Diagnostic("error", message, pos)], {file: text})
    recovery = _Recovery(text, file)
    try:
        tree = parser().parse(text, on_error=recovery)
    except UnexpectedInput as exc:
        recovery.record(exc)
        tree = None
    if recovery.found:
        raise DiagnosticError(recovery.found, {file: text})
    return tree


MAX_NESTING = 64
_BRACKETS = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*|[\[\](){}]')


def _too_deep(text: str) -> int | None:
    """The offset where brackets nest deeper than MAX_NESTING (the parser would recurse)."""
    if text.count("[") + text.count("(") + text.count("{") <= MAX_NESTING:
        return None
    depth = 0
    for m in _BRACKETS.finditer(text):
        c = m.group()
        if c in "[({":
            depth += 1
            if depth > MAX_NESTING:
                return m.start()
        elif c in "])}":
            depth = max(0, depth - 1)
    return None


# Tokens at which parsing can start again after an error.
_SYNC = {
    "EXTRACT",
    "REASON",
    "ZOOM",
    "RECURSE",
    "MAP",
    "REDUCE",
    "INPUT",
    "OBJECTIVE",
    "BUDGET",
    "DEADLINE",
    "OUTPUT",
    "WORKFLOW",
    "SCHEMA",
    "RBRACE",
}
MAX_SYNTAX_ERRORS = 20
_SYNC_LINE = re.compile(
    r"^[ \t]*(extract|reason|zoom|recurse|map|reduce|input|objective|budget|deadline|output"
    r"|workflow|schema|\})\b",
    re.M,
)


def _starts_line(text: str, token: Token) -> bool:
    start = token.start_pos or 0
    return not text[text.rfind("\n", 0, start) + 1 : start].strip()


class _Recovery:
    """Lark's ``on_error`` hook: record the error, then skip to a synchronizing token."""

    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.found: list[Diagnostic] = []
        self.recovering = False
        self.last = 0
        self.seen: set[tuple[int, int]] = set()

    def record(self, exc: UnexpectedInput) -> None:
        at = getattr(exc, "pos_in_stream", None)
        if at is None:
            at = len(self.text)
        if self.recovering and self.found and not _SYNC_LINE.search(self.text, self.last, at):
            return  # a consequence of the previous error, not a new one
        where = (getattr(exc, "line", 0), getattr(exc, "column", 0))
        if where in self.seen:
            return
        self.seen.add(where)
        self.last = at
        self.found.append(syntax_diagnostic(exc, self.text, self.file))

    def __call__(self, exc: UnexpectedInput) -> bool:
        self.record(exc)
        self.recovering = True
        if len(self.found) >= MAX_SYNTAX_ERRORS:
            return False
        if isinstance(exc, UnexpectedCharacters):
            return True  # Lark skips the character
        token = exc.token
        if token.type == "$END":
            return False
        if token.type not in _SYNC or not _starts_line(self.text, token):
            return True  # drop the token; keep dropping until a synchronizing one
        ip = exc.interactive_parser
        state = ip.parser_state
        while len(state.state_stack) > 1:
            trial = ip.copy()
            try:
                trial.feed_token(token)
            except UnexpectedInput:
                state.state_stack.pop()
                state.value_stack.pop()
                continue
            ip.feed_token(token)
            self.recovering = False
            return True
        return False


def is_tree(x: object) -> bool:
    return isinstance(x, Tree)

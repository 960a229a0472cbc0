"""The fast path's lexer: Lark's own contextual lexer, read as tables instead of run.

Lark's contextual lexer keeps one ordered regex per parser state (only the terminals the
state accepts, so `prompt` is a keyword after `=` and a NAME elsewhere) and turns a NAME
into a keyword through a per-state table.  Running it costs more than the regexes do: a
generator, a token object with eight attributes and a line counter per token.  This
module reads the same per-state regexes and keyword tables out of the built Lark
lexer, so the tokens are Lark's by construction, and leaves the loop to
:func:`hetflow.syntax.parser.fast_parse`.  Positions are character offsets; the builder turns
the few it needs into lines and columns (:class:`Lines`).
"""

from __future__ import annotations

import bisect
import re

__all__ = ["Tok", "StateLexers", "Unreadable", "state_lexers", "Lines", "SKIP"]

# What Lark's `%ignore WS` and `%ignore COMMENT` skip.  No other terminal can start with
# a blank or '#', so skipping these before asking a state's regex changes no token.
SKIP = re.compile(r"(?:[ \t\f\r\n]+|#[^\n]*)*")


class Tok:
    """A token the builder keeps (names, strings, numbers...): type, text and offsets.

    It answers like Lark's Token where the builder looks (``type``, ``value``,
    ``start_pos``, ``end_pos``, ``str()``), at a fraction of the cost to make.
    """

    __slots__ = ("type", "value", "start_pos", "end_pos")

    def __init__(self, type_: str, value: str, start_pos: int, end_pos: int):
        self.type = type_
        self.value = value
        self.start_pos = start_pos
        self.end_pos = end_pos

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Tok({self.type!r}, {self.value!r}, {self.start_pos}, {self.end_pos})"


class Unreadable(Exception):
    """Lark's lexer is not built the way this reader knows (another Lark version)."""


class StateLexers(dict):
    """Parser state → ``(match, keywords)``, read from Lark the first time a state asks.

    ``match(text, pos)`` skips blanks and comments (atomically: a comment never gives
    back its tail) and then tries the state's terminals in Lark's order; ``keywords``
    maps a terminal (NAME) to the words that are keywords in that state.  Reading is
    lazy, like Lark's own lexers, so a small file pays only for the states it visits.
    """

    def __init__(self, contextual):
        super().__init__()
        self.contextual = contextual
        self.by_lexer: dict[int, tuple] = {}

    def __missing__(self, state: int) -> tuple:
        try:
            basic = self.contextual.lexers[state]
        except (KeyError, TypeError):
            raise Unreadable(f"no lexer for state {state}") from None
        known = self.by_lexer.get(id(basic))
        if known is None:
            known = self.by_lexer[id(basic)] = _read(basic)
        self[state] = known
        return known


def state_lexers(lark) -> StateLexers | None:
    """Every parser state's lexer, read lazily from a built ``Lark`` object, or None."""
    contextual = getattr(getattr(lark, "parser", None), "lexer", None)
    if not isinstance(getattr(contextual, "lexers", None), dict):
        return None
    return StateLexers(contextual)


_SKIP_PREFIX = r"(?=(?P<SKIP__>(?:[ \t\f\r\n]+|#[^\n]*)*))(?P=SKIP__)"


def _read(basic) -> tuple:
    try:
        from lark.lexer import UnlessCallback

        scanner = basic.scanner  # built on first use
        mres = scanner._mres
        callbacks = basic.callback
        ignore = set(basic.ignore_types)
    except (AttributeError, ImportError) as exc:
        raise Unreadable(str(exc)) from None
    if len(mres) != 1 or ignore - {"WS", "COMMENT"}:
        raise Unreadable("more than one regex, or an ignored terminal SKIP does not know")
    keywords: dict[str, dict[str, str]] = {}
    for type_, callback in callbacks.items():
        if not isinstance(callback, UnlessCallback):
            raise Unreadable(f"a callback on {type_}")
        table = {}
        for terminal in callback.scanner.terminals:
            if terminal.pattern.type != "str" or terminal.pattern.flags:
                raise Unreadable(f"keyword {terminal.name} is not a plain string")
            table[terminal.pattern.value] = terminal.name
        keywords[type_] = table
    pattern = mres[0]
    match = re.compile(_SKIP_PREFIX + "(?:" + pattern.pattern + ")", pattern.flags).match
    return match, keywords


class Lines:
    """Offsets → (line, column) the way Lark counts them: from 1, columns in characters."""

    __slots__ = ("starts",)

    def __init__(self, text: str):
        starts = [0]
        find = text.find
        at = find("\n")
        while at >= 0:
            starts.append(at + 1)
            at = find("\n", at + 1)
        self.starts = starts

    def at(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

"""The fast path's lexer: Lark's own contextual lexer, read as tables instead of run.

Lark's contextual lexer keeps one ordered regex per parser state (only the terminals the
state accepts, so `prompt` is a keyword after `=` and a NAME elsewhere) and turns a NAME
into a keyword through a per-state table.  Running it costs more than the regexes do: a
generator, a token object with eight attributes and a line counter per token.  This
module reads the same per-state regexes and keyword tables out of the built Lark
lexer, so the tokens are Lark's by construction, and leaves the loop to
:func:`hetflow.parser.fast_parse`.  Positions are character offsets; the builder turns
the few it needs into lines and columns (:class:`Lines`).
"""

from __future__ import annotations

import bisect
import re

__all__ = ["Tok", "StateLexer", "state_lexers", "Lines", "SKIP"]

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


class StateLexer:
    """One parser state's lexer: its ordered regex and its NAME → keyword table."""

    __slots__ = ("pattern", "keywords", "ignore")

    def __init__(self, pattern, keywords: dict[str, dict[str, str]], ignore: frozenset[str]):
        self.pattern = pattern
        self.keywords = keywords
        self.ignore = ignore


def state_lexers(lark) -> dict[int, StateLexer] | None:
    """Every parser state's lexer, read from a built ``Lark`` object, or None.

    None means this Lark's internals are not the ones this reader knows (another
    version); the caller then parses with Lark alone, which is slower but the same.
    """
    try:
        from lark.lexer import UnlessCallback

        contextual = lark.parser.lexer
        by_lexer: dict[int, StateLexer] = {}
        out: dict[int, StateLexer] = {}
        for state, basic in contextual.lexers.items():
            known = by_lexer.get(id(basic))
            if known is None:
                known = by_lexer[id(basic)] = _read(basic, UnlessCallback)
                if known is None:
                    return None
            out[state] = known
        return out
    except (AttributeError, ImportError, TypeError):
        return None


def _read(basic, unless_type) -> StateLexer | None:
    scanner = basic.scanner  # built on first use
    mres = scanner._mres
    if len(mres) != 1:
        return None
    keywords: dict[str, dict[str, str]] = {}
    for type_, callback in basic.callback.items():
        if not isinstance(callback, unless_type):
            return None  # a user callback: not something this reader can replay
        table = {}
        for terminal in callback.scanner.terminals:
            if terminal.pattern.type != "str" or terminal.pattern.flags:
                return None
            table[terminal.pattern.value] = terminal.name
        keywords[type_] = table
    if set(basic.ignore_types) - {"WS", "COMMENT"}:
        return None  # SKIP knows only these two
    return StateLexer(mres[0], keywords, frozenset(basic.ignore_types))


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

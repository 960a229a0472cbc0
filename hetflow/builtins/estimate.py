"""How big a builtin's result is likely to be, before any input is seen.

Sizes are counted in tokens of about four characters (:func:`count_tokens`).  Each
estimate takes the arguments' estimates (an :class:`Est` for a named argument, the plain
value for a literal) and the keyword values, and uses these rules of thumb, chosen to be
simple and stated here once:

======================  =====================================================
``split(tokens=N)``     ``ceil(T/N)`` pieces, the whole ``T`` tokens kept
``split(lines=N)``      a line is ~12 tokens: ``ceil(T/12/N)`` pieces
``split(sep=S)``        pieces (paragraphs) of ~150 tokens
``grep``                ~10% of the lines (or list items) kept
``slice(s, e)``         ``(e-s)/4`` tokens of a text, ``e-s`` items of a list
``window(kws, lines)``  1 hit per keyword per 100 lines (at least 1), each
                        hit ``2N+1`` lines of ~12 tokens
``field``               ~30% of the value's tokens, the same number of items
``count/sum/vote/...``  a few tokens (``vote``: one item's size)
``concat/merge``        the sum of the parts (``merge``: ~4 items per inner list)
``tally``               at most ~160 tokens (about 20 values)
======================  =====================================================

>>> est_split([Est(1000)], {"tokens": 100})
Est(tokens=1000.0, items=10)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4
TOKENS_PER_LINE = 12
TOKENS_PER_PARAGRAPH = 150


def count_tokens(value: Any) -> int:
    """About how many tokens a value takes in a prompt: one per four characters.

    >>> count_tokens("abcdefgh"), count_tokens("")
    (2, 0)
    """
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Est:
    """A size estimate: ``tokens`` the whole value's size, ``items`` its length if a list."""

    tokens: float
    items: float | None = None


def _tokens(e: Any) -> float:
    return float(e.tokens) if isinstance(e, Est) else float(count_tokens(e))


def _items(e: Any) -> float | None:
    if isinstance(e, Est):
        return e.items
    return float(len(e)) if isinstance(e, (list, tuple)) else None


def est_split(args, kw):
    t = _tokens(args[0])
    if kw.get("tokens"):
        return Est(t, max(1, math.ceil(t / float(kw["tokens"]))))
    if kw.get("lines"):
        return Est(t, max(1, math.ceil(t / TOKENS_PER_LINE / float(kw["lines"]))))
    return Est(t, max(1, math.ceil(t / TOKENS_PER_PARAGRAPH)))


def est_grep(args, kw):
    n = _items(args[0])
    return Est(0.1 * _tokens(args[0]), None if n is None else max(1.0, 0.1 * n))


def est_slice(args, kw):
    t, n = _tokens(args[0]), _items(args[0])
    start = args[1] if len(args) > 1 and not isinstance(args[1], Est) else 0
    end = args[2] if len(args) > 2 and not isinstance(args[2], Est) else None
    if n is None:
        width = t * CHARS_PER_TOKEN if end is None else float(end) - float(start)
        return Est(min(t, max(0.0, width) / CHARS_PER_TOKEN))
    width = n - float(start) if end is None else float(end) - float(start)
    keep = min(n, max(0.0, width))
    return Est(t * keep / n if n else 0.0, keep)


def est_window(args, kw):
    t = _tokens(args[0])
    kws = args[1] if len(args) > 1 and isinstance(args[1], (list, tuple)) else [None]
    n = float(kw.get("lines", 2))
    hits = max(float(len(kws)), len(kws) * t / TOKENS_PER_LINE / 100)
    return Est(min(t, hits * (2 * n + 1) * TOKENS_PER_LINE), hits)


def est_field(args, kw):
    return Est(max(1.0, 0.3 * _tokens(args[0])), _items(args[0]))


def few(args, kw):
    return Est(4)


def est_vote(args, kw):
    n = _items(args[0]) or 1
    return Est(_tokens(args[0]) / max(1.0, n))


def est_concat(args, kw):
    return Est(_tokens(args[0]) + (_items(args[0]) or 0))


def est_merge(args, kw):
    return Est(_tokens(args[0]), (_items(args[0]) or 1) * 4)


def est_tally(args, kw):
    return Est(min(_tokens(args[0]), 160.0))


def est_dedupe(args, kw):
    n = _items(args[0])
    return Est(0.8 * _tokens(args[0]), None if n is None else 0.8 * n)


def est_top(args, kw):
    t, n = _tokens(args[0]), _items(args[0]) or 1
    k = float(args[1]) if len(args) > 1 and not isinstance(args[1], Est) else 10.0
    k = min(k, n)
    return Est(t * k / n, k)

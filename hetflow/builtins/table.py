"""The builtins of `extract` and `reduce`: one table for the checker, estimator and runtime.

Each :class:`Builtin` knows three things about itself: how to type-check a call
(``check``), how to compute its value (``run``, plain Python, no model) and how big
its result is likely to be before any input is seen (``estimate``).  Keeping the three
side by side is what keeps them from drifting apart.

Sizes are counted in tokens of about four characters (:func:`count_tokens`); the size
estimates and their rules of thumb live in :mod:`hetflow.builtins.estimate`.

>>> BUILTINS["split"].run("a\\n\\nb", sep="\\n\\n")
['a', 'b']
>>> BUILTINS["split"].estimate([Est(1000)], {"tokens": 100})
Est(tokens=1000.0, items=10)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hetflow.builtins.check import CHECKS, Problems
from hetflow.builtins.estimate import (
    CHARS_PER_TOKEN,
    Est,
    count_tokens,
    est_concat,
    est_dedupe,
    est_field,
    est_grep,
    est_merge,
    est_slice,
    est_split,
    est_tally,
    est_top,
    est_vote,
    est_window,
    few,
)
from hetflow.syntax import ast

__all__ = ["BUILTINS", "Builtin", "Est", "count_tokens", "CHARS_PER_TOKEN"]
from hetflow.errors import HetError


@dataclass(frozen=True)
class Builtin:
    """One builtin: its kind and its check, run and estimate functions."""

    name: str
    kind: Literal["extract", "reduce"]
    summary: str
    _check: Callable = None  # type: ignore[assignment]
    _run: Callable = None  # type: ignore[assignment]
    _estimate: Callable = None  # type: ignore[assignment]

    def check(
        self,
        call: ast.Call,
        arg_types: list[ast.TypeRef | None],
        kwarg_types: dict[str, ast.TypeRef | None],
        schemas: Mapping[str, ast.Schema],
    ) -> tuple[ast.TypeRef | None, list[tuple[str, Any]]]:
        """The call's result type (None if unknown) and its problems as (message, position)."""
        problems = Problems(call, arg_types, kwarg_types, schemas)
        result = self._check(problems)
        return result, problems.found

    def run(self, *args, **kwargs) -> Any:
        return self._run(*args, **kwargs)

    def estimate(self, args: list[Any], kwargs: dict[str, Any]) -> Est:
        """Estimate the result from the arguments' estimates.

        ``args`` holds an :class:`Est` for a named argument and the plain value for a
        literal; ``kwargs`` holds plain values.
        """
        return self._estimate(args, kwargs)


# ------------------------------------------------------------------ helpers


def _path(value: Any, path: str, what: str) -> Any:
    """Follow a dotted field path into a record; a missing field is the user's error."""
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, Mapping):
            raise HetError(
                f"{what}: the value has no field '{part}' (it has: "
                f"{', '.join(map(str, value)) or 'no fields'})"
            )
        else:
            raise HetError(
                f"{what}: cannot take field '{part}' of {type(value).__name__} {_short(value)}"
            )
    return value


def _short(value: Any) -> str:
    s = repr(value)
    return s if len(s) <= 40 else s[:37] + "..."


def _regex(pattern: str, what: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise HetError(f"{what}: bad regular expression {pattern!r}: {exc}") from None


def _as_list(value: Any, what: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise HetError(f"{what}: expected a list, got {type(value).__name__} {_short(value)}")
    return list(value)


def _as_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise HetError(f"{what}: expected text, got {type(value).__name__} {_short(value)}")
    return value


def _key(value: Any) -> str:
    """A hashable stand-in for any value, so dicts and lists can be counted."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _where(item: Any, where: str) -> bool:
    """`where="risky"` keeps truthy fields; `where="label=numeric"` compares."""
    if "=" in where:
        path, wanted = where.split("=", 1)
        got = _path(item, path.strip(), "count")
        return str(got).lower() == wanted.strip().lower()
    return bool(_path(item, where, "count"))


# ------------------------------------------------------------------ extract: run


def run_split(x, *, lines=None, tokens=None, sep=None) -> list[str]:
    """Pieces of a text: N lines each, about N tokens each, or between separators."""
    x = _as_text(x, "split")
    if sum(v is not None for v in (lines, tokens, sep)) != 1:
        raise HetError("split: give exactly one of lines=N, tokens=N or sep=STRING")
    if sep is not None:
        return [p.strip() for p in x.split(sep) if p.strip()]
    if lines is not None:
        rows = x.splitlines()
        n = max(1, int(lines))
        return ["\n".join(rows[i : i + n]) for i in range(0, len(rows), n)]
    limit = max(1, int(tokens)) * CHARS_PER_TOKEN
    pieces: list[str] = []
    current = ""
    for line in x.splitlines(keepends=True):
        while len(line) > limit:  # one line longer than a piece: cut it, between words
            if current:
                pieces.append(current)
                current = ""
            cut = line.rfind(" ", 0, limit) + 1 or limit
            pieces.append(line[:cut])
            line = line[cut:]
        if len(current) + len(line) > limit and current:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return [p.rstrip("\n") for p in pieces]


def run_grep(x, pattern):
    """The lines of a text (or the items of a list) that match a regular expression."""
    rx = _regex(_as_text(pattern, "grep"), "grep")
    if isinstance(x, (list, tuple)):
        return [item for item in x if rx.search(item if isinstance(item, str) else _key(item))]
    return "\n".join(line for line in _as_text(x, "grep").splitlines() if rx.search(line))


def run_slice(x, start, end=None):
    """Characters ``start:end`` of a text, items ``start:end`` of a list."""
    if not isinstance(x, (str, list, tuple)):
        raise HetError(f"slice: expected text or a list, got {type(x).__name__}")
    return x[int(start) : None if end is None else int(end)]


def run_window(x, keywords, *, lines=2) -> list[str]:
    """Lines around each keyword hit (case-insensitive), overlapping windows merged."""
    rows = _as_text(x, "window").splitlines()
    if isinstance(keywords, str):
        keywords = [keywords]
    words = [str(k).lower() for k in keywords]
    n = max(0, int(lines))
    spans: list[list[int]] = []
    for i, row in enumerate(rows):
        low = row.lower()
        if any(w in low for w in words):
            lo, hi = max(0, i - n), min(len(rows), i + n + 1)
            if spans and lo <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], hi)
            else:
                spans.append([lo, hi])
    return ["\n".join(rows[lo:hi]) for lo, hi in spans]


def run_field(x, path):
    """A field of a record (``"a.b"`` goes deeper); of each item, for a list of records."""
    if isinstance(x, (list, tuple)):
        return [_path(item, path, f"field({path!r})") for item in x]
    return _path(x, path, f"field({path!r})")


# ------------------------------------------------------------------ reduce: run


def run_count(xs, *, where=None) -> int:
    xs = _as_list(xs, "count")
    return len(xs) if where is None else sum(_where(x, where) for x in xs)


def run_sum(xs, *, field=None):
    total: float = 0
    for x in _as_list(xs, "sum"):
        v = x if field is None else _path(x, field, "sum")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise HetError(f"sum: {_short(v)} is not a number")
        total += v
    return total


def run_concat(xs, *, sep="\n") -> str:
    return str(sep).join(x if isinstance(x, str) else _key(x) for x in _as_list(xs, "concat"))


def run_vote(xs):
    """The most common value; a tie goes to the value seen first."""
    xs = _as_list(xs, "vote")
    if not xs:
        raise HetError("vote: the list is empty")
    counts = Counter(_key(x) for x in xs)
    best = max(counts.values())
    return next(x for x in xs if counts[_key(x)] == best)


def run_merge(xs) -> list:
    out: list = []
    for x in _as_list(xs, "merge"):
        out.extend(_as_list(x, "merge (each item)"))
    return out


def run_tally(xs, *, by=None) -> dict:
    counts: Counter = Counter()
    for x in _as_list(xs, "tally"):
        counts[_key(x if by is None else _path(x, by, "tally"))] += 1
    return dict(counts.most_common())


def run_dedupe(xs) -> list:
    seen: set[str] = set()
    out = []
    for x in _as_list(xs, "dedupe"):
        if _key(x) not in seen:
            seen.add(_key(x))
            out.append(x)
    return out


def run_top(xs, n, *, by=None) -> list:
    """The ``n`` largest items (by a numeric field, or by value)."""
    xs = _as_list(xs, "top")
    return sorted(xs, key=lambda x: x if by is None else _path(x, by, "top"), reverse=True)[
        : int(n)
    ]


def _b(name, kind, summary, run, estimate) -> Builtin:
    return Builtin(name, kind, summary, CHECKS[name], run, estimate)


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        _b(
            "split",
            "extract",
            "split(x, lines=N | tokens=N | sep=S): pieces of a text",
            run_split,
            est_split,
        ),
        _b("grep", "extract", "grep(x, REGEX): the matching lines", run_grep, est_grep),
        _b(
            "slice",
            "extract",
            "slice(x, start, end): characters of a text, items of a list",
            run_slice,
            est_slice,
        ),
        _b(
            "window",
            "extract",
            'window(x, ["kw", ...], lines=N): lines around keyword hits',
            run_window,
            est_window,
        ),
        _b("field", "extract", 'field(x, "a.b"): a field of a typed value', run_field, est_field),
        _b("count", "reduce", "count(xs[, where=FIELD]): how many items", run_count, few),
        _b("sum", "reduce", "sum(xs[, field=F]): the total", run_sum, few),
        _b(
            "concat",
            "reduce",
            "concat(xs[, sep=S]): the items joined into one text",
            run_concat,
            est_concat,
        ),
        _b("vote", "reduce", "vote(xs): the most common value", run_vote, est_vote),
        _b("merge", "reduce", "merge(xs): a list of lists into one list", run_merge, est_merge),
        _b("tally", "reduce", "tally(xs, by=FIELD): counts per value", run_tally, est_tally),
        _b("dedupe", "reduce", "dedupe(xs): the items without repeats", run_dedupe, est_dedupe),
        _b("top", "reduce", "top(xs, N[, by=FIELD]): the N largest items", run_top, est_top),
    )
}

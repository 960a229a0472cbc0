"""Where each table and key of a TOML file stands, for errors with line numbers.

``tomllib`` gives values, not positions, and validation errors are about
values (``offers[3].output_tps``).  A catalog is a flat file of ``[table]``
headers and ``key = value`` lines, so one pass over its lines finds the line
of every table and key; an error about a key that is not there (a missing
field) points at its table instead.

>>> spots = locate('[models.gpt-5]\\ncontext = 5\\n\\n[[offers]]\\nmodel = "gpt-5"\\n')
>>> spots[("models", "gpt-5", "context")], spots[("offers", 0, "model")]
((2, 1, 8), (5, 1, 6))
"""

from __future__ import annotations

import re

Spot = tuple[int, int, int]  # line, column, end column (1-based, end exclusive)

_KEY = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^(\s*)(\[\[?)\s*({_DOTTED})\s*\]\]?")
_ASSIGN = re.compile(rf"^(\s*)({_DOTTED})\s*=")
_PART = re.compile(_KEY)


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART.findall(dotted))


def locate(text: str) -> dict[tuple, Spot]:
    """Map each table path and key path to the spot where it is written.

    Arrays of tables are numbered in order: the third ``[[offers]]`` is
    ``("offers", 2)``.
    """
    spots: dict[tuple, Spot] = {}
    counts: dict[tuple, int] = {}
    table: tuple = ()
    in_string = None  # the quote of a multi-line string we are inside
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string:
            if line.count(in_string) % 2:
                in_string = None
            continue
        header = _HEADER.match(line)
        if header:
            indent, bracket, dotted = header.groups()
            path: tuple[str | int, ...] = _parts(dotted)
            if bracket == "[[":
                index = counts.get(path, 0)
                counts[path] = index + 1
                path = path + (index,)
            table = path
            start = len(indent) + 1
            spots.setdefault(table, (number, start, start + len(header.group(0).strip())))
            continue
        assign = _ASSIGN.match(line)
        if assign:
            indent, dotted = assign.groups()
            start = len(indent) + 1
            spots.setdefault(table + _parts(dotted), (number, start, start + len(dotted)))
            rest = line[assign.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2:
                    in_string = quote
    return spots


def find(spots: dict[tuple, Spot], loc: tuple) -> Spot | None:
    """The spot of ``loc``, or of the nearest enclosing table or key that is written."""
    for end in range(len(loc), 0, -1):
        spot = spots.get(tuple(loc[:end]))
        if spot:
            return spot
    return None

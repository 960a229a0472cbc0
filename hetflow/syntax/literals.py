r"""Literal text of a `.het` file: string escapes, numbers, and where a template names a name.

>>> string_value('"a\\tb"')
'a\tb'
>>> number("3"), number("0.5")
(3, 0.5)
"""

from __future__ import annotations

import re
import textwrap

from hetflow.errors import SourcePosition

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "0": "\0"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)


def unescape(body: str) -> str:
    r"""Resolve the usual escapes; an unknown one keeps its backslash (so regexes read well).

    >>> unescape(r'a\nb\d')
    'a\nb\\d'
    """

    def one(m: re.Match) -> str:
        s = m.group(1)
        if s.startswith("u") and len(s) == 5:
            return chr(int(s[1:], 16))
        return _ESCAPES.get(s, "\\" + s)

    return _ESCAPE_RE.sub(one, body)


def string_value(token) -> str:
    raw = str(token)
    if raw.startswith('"""'):
        return textwrap.dedent(raw[3:-3]).strip()
    return unescape(raw[1:-1])


def number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def locate_refs(raw: str, refs, pos: SourcePosition) -> list[SourcePosition]:
    """Where each ``(name, attrs)`` of ``refs`` appears in a token: :func:`locate` for each.

    The token's blocks are found once for all its refs, not once per ref.
    """
    if not refs:
        return []
    blocks = [(m.start(), m.group(0)) for m in _BLOCKS.finditer(raw)]
    return [_locate(raw, blocks, name, attrs, pos) for name, attrs in refs]


def locate(raw: str, name: str, pos: SourcePosition, attrs: tuple[str, ...] = ()):
    """Where `name` (followed by exactly `.attrs`) appears in a `{{ }}`/`{% %}` of a token.

    Falls back to the name's first appearance, then to the token itself.
    """
    return locate_refs(raw, [(name, attrs)], pos)[0]


def _locate(raw, blocks, name, attrs, pos):
    """:func:`locate` over blocks already found: ``(offset in raw, block text)`` pairs.

    `name` counts where it is a whole word not preceded by '.'.  Plain string search
    rather than a regex per name: a regex per distinct name would overflow `re`'s cache
    on big workflows and recompile for every prompt.
    """
    chain = "." + ".".join(attrs) if attrs else ""
    width = len(name)
    first = -1
    for start, text in blocks:
        offset = text.find(name)
        while offset >= 0:
            end = offset + width
            before = text[offset - 1] if offset else " "
            after = text[end] if end < len(text) else " "
            if not (before.isalnum() or before in "_.") and not (after.isalnum() or after == "_"):
                if first < 0:
                    first = start + offset
                if text.startswith(chain, end) and not text.startswith(".", end + len(chain)):
                    return _offset_pos(raw, start + offset, width, pos)
            offset = text.find(name, offset + 1)
    return _offset_pos(raw, first, width, pos) if first >= 0 else pos


def _offset_pos(raw: str, offset: int, width: int, pos: SourcePosition) -> SourcePosition:
    newlines = raw.count("\n", 0, offset)
    line = pos.line + newlines
    col = (pos.column + offset) if not newlines else offset - raw.rfind("\n", 0, offset)
    return SourcePosition(pos.file, line, col, line, col + width)


_BLOCKS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)

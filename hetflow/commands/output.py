"""What every command prints the same way: errors, diagnostics in colour, plurals.

Colour only on a terminal, and never with ``NO_COLOR`` set (https://no-color.org) or
``TERM=dumb``: a pipe, a file or an editor reading the output gets plain text.

>>> plural(1, "model"), plural(2, "offer")
('1 model', '2 offers')
"""

from __future__ import annotations

import os
import re
import sys
from typing import TextIO

from hetflow.units import printable

RESET = "\033[0m"
BOLD = "\033[1m"
RED = "\033[1;31m"
YELLOW = "\033[1;33m"
CYAN = "\033[1;36m"
GREEN = "\033[32m"

_SEVERITY = {"error": RED, "warning": YELLOW, "note": CYAN}
# `file:line:col: error: message` (or a one-line `hetflow: error: message`)
_HEADER = re.compile(r"^(\S.*?:\d+:\d+|hetflow(?: [\w-]+)*): (error|warning|note): ")
_NOTE = re.compile(r"^(  )(note): ")
_CARET = re.compile(r"^(\s*)(\^~*)$")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def use_colour(stream: TextIO) -> bool:
    """Colour for a terminal only: not in a pipe, nor with NO_COLOR or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, stream: TextIO) -> str:
    """Diagnostics as rendered (``file:line:col: error: ...``, the line, the caret), in
    colour when ``stream`` is a terminal; unchanged otherwise."""
    if not use_colour(stream):
        return text
    out = []
    for line in text.split("\n"):
        m = _HEADER.match(line)
        if m:
            where, severity = m.group(1), m.group(2)
            line = (
                f"{BOLD}{where}:{RESET} {_SEVERITY[severity]}{severity}:{RESET} "
                f"{BOLD}{line[m.end() :]}{RESET}"
            )
        elif (n := _NOTE.match(line)) is not None:
            line = f"{n.group(1)}{CYAN}note:{RESET} {line[n.end() :]}"
        elif (c := _CARET.match(line)) is not None:
            line = f"{c.group(1)}{GREEN}{c.group(2)}{RESET}"
        out.append(line)
    return "\n".join(out)


def say(text: str, stream: TextIO | None = None) -> None:
    """Print diagnostics (or any lines of them) to ``stream``, standard error by default."""
    stream = stream or sys.stderr
    print(paint(text, stream), file=stream)


def error(message: str, command: str = "hetflow") -> None:
    """The one-line error of a user's mistake: ``hetflow: error: message`` (control
    characters from outside, e.g. a provider's message, shown escaped)."""
    say(f"{command}: error: {printable(message)}")

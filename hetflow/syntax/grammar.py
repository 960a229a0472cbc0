"""The grammar file and the LALR parser built from it, once per process.

Below both :mod:`hetflow.syntax.parser` (which parses with it) and
:mod:`hetflow.syntax.errors` (which names a terminal by its pattern).
"""

from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark

_HERE = Path(__file__).resolve().parent
# inside the wheel: hetflow/grammar/het.lark; in a source checkout: grammar/het.lark at the top
_GRAMMAR_PLACES = (
    _HERE.parent / "grammar" / "het.lark",
    _HERE.parent.parent / "grammar" / "het.lark",
)


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

"""Needs for the steps that state none (LANGUAGE.md §6).

A step without ``needs`` gets them from three things: its operator (a zoom needs
vision, a recursion's root writes code), how much it reads per call, and the kind of
work its prompt asks for, told by keyword rules over the prompt:

=============  ==========================================  ==============  =========
kind           words in the prompt (any)                   information     reasoning
=============  ==========================================  ==============  =========
look-up        (none of the below)                         constant        base
aggregate      count, how many, total, sum, average,       linear          base + 1
               tally, aggregate, every, all of, summar...
pairwise       compare, pair, pairwise, versus, vs,        quadratic       base + 2
               contradict, conflict, duplicate, consistent
=============  ==========================================  ==============  =========

Reading more raises the bar: a linear task over more than 32k tokens a call, or a
quadratic one over more than 8k, needs one level more.  A typed answer (a schema)
needs ``extraction >= 3``; words like *extract*, *classify*, *label* need
``extraction >= 2``; *code*, *python*, *sql*, *regex* need ``coding >= 3``; an image
in the prompt needs ``vision >= 2``.  ``context >= N`` is the call's input and answer,
rounded up to a thousand tokens.  Every level is capped at 5.

>>> d = derive("reason", "How many records mention Paris? {{ context }}", 40_000, 5)
>>> d.needs["reasoning"], d.kind
(4, 'aggregate')
>>> d.why
'aggregate (linear) over ~40k tokens a call: reasoning >= 4; context >= 41k'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

AGGREGATE_WORDS = (
    "count",
    "how many",
    "total",
    "sum",
    "average",
    "tally",
    "aggregate",
    "every",
    "all of",
    "summar",
    "list all",
    "each record",
    "each line",
)
PAIRWISE_WORDS = (
    "compare",
    "pair",
    "versus",
    "vs",
    "contradict",
    "conflict",
    "duplicate",
    "consistent",
    "differences between",
    "match each",
)
EXTRACT_WORDS = ("extract", "classify", "label", "categor", "pull out", "parse")
CODE_WORDS = ("code", "python", "sql", "regex", "function", "program")
LINEAR_LARGE_TOKENS = 32_000
QUADRATIC_LARGE_TOKENS = 8_000

# The operator's starting point: what any call of that kind needs at least.
BASE = {
    "reason": {"reasoning": 2},
    "zoom": {"vision": 2},
    "recurse.root": {"reasoning": 3, "coding": 3},
    "recurse.sub": {"reasoning": 1},
}
_KIND_STEP = {"lookup": 0, "aggregate": 1, "pairwise": 2}
_KIND_SHAPE = {"lookup": "constant", "aggregate": "linear", "pairwise": "quadratic"}


@dataclass(frozen=True)
class Derived:
    """Derived needs, the kind of work they come from and a one-line why."""

    needs: dict[str, int]
    kind: str
    why: str


def _has(text: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(w)}", text) for w in words)


def kind_of(prompt: str) -> str:
    """``lookup``, ``aggregate`` or ``pairwise``, from the words of a prompt.

    >>> kind_of("Compare each pair of clauses"), kind_of("What is the capital?")
    ('pairwise', 'lookup')
    """
    text = prompt.lower()
    if _has(text, PAIRWISE_WORDS):
        return "pairwise"
    if _has(text, AGGREGATE_WORDS):
        return "aggregate"
    return "lookup"


def _k(tokens: float) -> str:
    return f"{tokens / 1000:.0f}k" if tokens >= 1000 else f"{tokens:.0f}"


def derive(
    op: str,
    prompt: str,
    input_tokens: float,
    output_tokens: float,
    *,
    typed: bool = False,
    reads_image: bool = False,
) -> Derived:
    """Needs for one node from its operator, its prompt and its per-call sizes."""
    needs = dict(BASE.get(op, {"reasoning": 2}))
    kind = kind_of(prompt)
    reasons: list[str] = []
    skill = "reasoning"
    level = needs.get(skill, 0) + _KIND_STEP[kind]
    large = (kind == "aggregate" and input_tokens > LINEAR_LARGE_TOKENS) or (
        kind == "pairwise" and input_tokens > QUADRATIC_LARGE_TOKENS
    )
    level += int(large)
    needs[skill] = min(5, level)
    head = f"{kind} ({_KIND_SHAPE[kind]})"
    if large or kind != "lookup":
        head += f" over ~{_k(input_tokens)} tokens a call"
    reasons.append(f"{head}: reasoning >= {needs['reasoning']}")
    text = prompt.lower()
    if op != "recurse.root" and _has(text, CODE_WORDS):
        needs["coding"] = max(needs.get("coding", 0), 3)
        reasons.append("asks for code: coding >= 3")
    if typed or _has(text, EXTRACT_WORDS):
        level = 3 if typed else 2
        needs["extraction"] = max(needs.get("extraction", 0), level)
        reasons.append(
            f"{'a typed answer' if typed else 'extraction words'}: extraction >= {level}"
        )
    if reads_image and op != "zoom":
        needs["vision"] = max(needs.get("vision", 0), 2)
        reasons.append("reads an image: vision >= 2")
    if op == "zoom":
        reasons.append("finds a region of an image: vision >= 2")
    if op == "recurse.root":
        reasons.append("writes REPL code: coding >= 3")
    context = int(math.ceil((input_tokens + output_tokens) / 1000.0) * 1000)
    needs["context"] = context
    reasons.append(f"context >= {_k(context)}")
    return Derived(needs, kind, "; ".join(reasons))

"""How an answer is scored against what was expected: a number in [0, 1].

- an object (a typed answer): the mean of its fields' scores, each by its schema;
- an enum, a boolean, a whole number: 1 when equal, else 0;
- a number: 1 when within 1% of the expected (or 1e-9 absolute), else 0;
- a list: item by item in order, the sum divided by the longer list's length;
- text: token F1 — the harmonic mean of precision and recall of the answer's words
  against the expected words (lower-cased, punctuation dropped). It rewards the same
  words, not the same meaning: a correct paraphrase scores low, a fluent wrong answer
  that reuses the question's words can score high (docs/quality.md).

>>> score({"risky": True, "why": "it caps liability"},
...       {"risky": True, "why": "caps the liability"},
...       {"type": "object", "properties": {"risky": {"type": "boolean"},
...                                         "why": {"type": "string"}}})
0.8333333333333333
>>> score("42", "43", {"type": "number"}), score(3, 3, None)
(0.0, 1.0)
>>> round(text_f1("the cat sat", "a cat sat down"), 3)
0.571
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any

_WORD = re.compile(r"[\w']+", re.UNICODE)
REL_TOLERANCE = 0.01


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def text_f1(expected: str, got: str) -> float:
    want, have = words(expected), words(got)
    if not want and not have:
        return 1.0
    common = sum((Counter(want) & Counter(have)).values())
    if not common:
        return 0.0
    precision, recall = common / len(have), common / len(want)
    return 2 * precision * recall / (precision + recall)


def _number(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x.strip())
        except ValueError:
            return None
    return None


def _kind(schema: dict | None, expected: Any) -> str:
    if schema:
        if "enum" in schema:
            return "exact"
        t = schema.get("type")
        if isinstance(t, list):  # ["string", "null"]: an optional field
            t = next((x for x in t if x != "null"), None)
        if t in ("boolean", "integer"):
            return "exact"
        if t in ("number", "object", "array", "string"):
            return t
    if isinstance(expected, bool) or isinstance(expected, int):
        return "exact"
    if isinstance(expected, float):
        return "number"
    if isinstance(expected, dict):
        return "object"
    if isinstance(expected, list):
        return "array"
    return "string"


def score(expected: Any, got: Any, schema: dict | None = None) -> float:
    """How well ``got`` agrees with ``expected``, in [0, 1] (see the module's rules)."""
    if expected is None or got is None:
        return 1.0 if expected is None and got is None else 0.0
    kind = _kind(schema, expected)
    if kind == "object":
        if not isinstance(expected, dict):
            return score(json.dumps(expected), json.dumps(got), None)
        if not isinstance(got, dict):
            return 0.0
        props = (schema or {}).get("properties") or {}
        keys = list(props) or list(expected)
        keys = [k for k in keys if k in expected] or keys
        if not keys:
            return 1.0 if got == expected else 0.0
        return sum(score(expected.get(k), got.get(k), props.get(k)) for k in keys) / len(keys)
    if kind == "array":
        if not isinstance(expected, list) or not isinstance(got, list):
            return 0.0
        longest = max(len(expected), len(got))
        if not longest:
            return 1.0
        items = (schema or {}).get("items")
        return sum(score(e, g, items) for e, g in zip(expected, got, strict=False)) / longest
    if kind == "number":
        a, b = _number(expected), _number(got)
        if a is None or b is None or math.isnan(b):
            return 0.0
        return 1.0 if abs(a - b) <= max(1e-9, REL_TOLERANCE * abs(a)) else 0.0
    if kind == "exact":
        if isinstance(expected, str) and isinstance(got, str):
            return 1.0 if expected.strip().lower() == got.strip().lower() else 0.0
        return 1.0 if expected == got else 0.0
    e = expected if isinstance(expected, str) else json.dumps(expected)
    g = got if isinstance(got, str) else json.dumps(got)
    return text_f1(e, g)

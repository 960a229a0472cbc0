"""LANGUAGE.md §4 "Builtins": every argument form checks clean, and what each extract and
reduce builtin computes, run for real.

The run's workflow has only CPU steps, so it needs no model, no key and no server.
"""

from __future__ import annotations

import re

import pytest
from contract_support import CATALOG, _clean, wf, write

import hetflow

EXTRACT_FORMS = [
    ("split(doc, lines=10)", "input doc: text"),
    ("split(doc, tokens=1000)", "input doc: text"),
    ("split(doc, tokens=4k)", "input doc: text"),
    ('split(doc, sep="\\n\\n")', "input doc: text"),
    ('grep(doc, "(?i)error|warn")', "input doc: text"),
    ("slice(doc, 0, 1000)", "input doc: text"),
    ("slice(docs, 0, 10)", "input docs: list[text]"),
    ('window(doc, ["indemnify", "liability"], lines=3)', "input doc: text"),
    ('window(doc, ["x"], lines=1)', "input doc: text"),
    ('field(v, "inner.n")', "input v: S"),
    ('field(v, "label")', "input v: S"),
]
SCHEMAS = """
    schema Inner { n: number }
    schema S { label: enum(a, b)  inner: Inner  risky: bool  count: number }
"""


@pytest.mark.parametrize(("call", "inputs"), EXTRACT_FORMS)
def test_every_extract_builtin_form(call, inputs, tmp_path):
    text = wf(
        f'extract e = {call}\nreason a = prompt "{{{{ e }}}}"\noutput a',
        inputs=inputs,
        head=SCHEMAS,
    )
    _clean(text, tmp_path)


REDUCE_FORMS = [
    "count(xs)",
    'count(xs, where="risky")',
    "sum(ns)",
    'sum(xs, field="count")',
    "concat(ts)",
    'concat(ts, sep="\\n---\\n")',
    "vote(ts)",
    "vote(ls)",
    "merge(tss)",
    'tally(xs, by="label")',
]


@pytest.mark.parametrize("call", REDUCE_FORMS)
def test_every_reduce_builtin_form(call, tmp_path):
    inputs = """
        input xs: list[S]
        input ns: list[number]
        input ts: list[text]
        input ls: list[S]
        input tss: list[list[text]]
    """
    text = wf(
        f'reduce r = {call}\nreason a = prompt "{{{{ r }}}}"\noutput a', inputs=inputs, head=SCHEMAS
    )
    found = _clean(text, tmp_path)
    # Unused inputs are not steps: no warning may name them.
    assert not [d for d in found if d["severity"] == "warning"], found


def test_typed_extract_and_reduce(tmp_path):
    text = wf("""
        extract parts: list[text] = split(doc, lines=20)
        map p in parts {
          reason n: number = prompt "How many errors in {{ p }}?"
        }
        reduce total: number = sum(n)
        output total
    """)
    _clean(text, tmp_path)


BUILTINS = """
schema Inner { n: number }
schema Row {
  label: text
  flag: bool
  n: number
  inner: Inner
}

workflow builtins {
  input doc: text
  input long: text
  input parts_doc: text
  input one: Row
  input xs: list[Row]
  input ns: list[number]
  input ts: list[text]
  input tss: list[list[number]]

  extract by_lines = split(doc, lines=2)
  extract by_tokens = split(long, tokens=100)
  extract by_sep = split(parts_doc, sep="--")
  extract hits = grep(doc, "^b")
  extract chars = slice(doc, 0, 5)
  extract items = slice(by_lines, 1, 2)
  extract around = window(doc, ["kw"], lines=1)
  extract deep = field(one, "inner.n")
  extract top = field(one, "label")
  reduce n_all = count(xs)
  reduce n_flag = count(xs, where="flag")
  reduce total = sum(ns)
  reduce total_n = sum(xs, field="n")
  reduce joined = concat(ts, sep="+")
  reduce joined_default = concat(ts)
  reduce winner = vote(ts)
  reduce flat = merge(tss)
  reduce per_label = tally(xs, by="label")

  output by_lines, by_tokens, by_sep, hits, chars, items, around, deep, top, n_all, n_flag, total, total_n, joined, joined_default, winner, flat, per_label
}
"""

ROWS = [
    {"label": "p", "flag": True, "n": 1, "inner": {"n": 10}},
    {"label": "q", "flag": False, "n": 2, "inner": {"n": 20}},
    {"label": "p", "flag": True, "n": 4, "inner": {"n": 40}},
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("builtins")
    plan = hetflow.compile(write(tmp, BUILTINS, "builtins.het"), catalog=CATALOG)
    inputs = {
        "doc": "a1\nb2\nc3 kw\nd4\ne5",
        "long": " ".join(f"w{i}" for i in range(1000)),
        "parts_doc": "one--two--three",
        "one": {"label": "top", "flag": True, "n": 3, "inner": {"n": 7}},
        "xs": ROWS,
        "ns": [1, 2, 3],
        "ts": ["x", "y", "x"],
        "tss": [[1, 2], [3], []],
    }
    result = hetflow.run_sync(plan, inputs=inputs, journal=False, cache=False)
    assert not result.failed, result.failed
    assert result.cost_usd == 0
    return result.outputs


def _lines(value) -> str:
    return "\n".join(value) if isinstance(value, list) else str(value)


def test_split_lines(outputs):
    assert outputs["by_lines"] == ["a1\nb2", "c3 kw\nd4", "e5"]


def test_split_tokens(outputs):
    pieces = outputs["by_tokens"]
    assert isinstance(pieces, list) and 5 <= len(pieces) <= 30, len(pieces)
    words = " ".join(f"w{i}" for i in range(1000))
    assert re.sub(r"\s", "", "".join(pieces)) == re.sub(r"\s", "", words)


def test_split_sep(outputs):
    assert outputs["by_sep"] == ["one", "two", "three"]


def test_grep_keeps_matching_lines(outputs):
    assert _lines(outputs["hits"]) == "b2"


def test_slice_characters_of_a_text_and_items_of_a_list(outputs):
    assert outputs["chars"] == "a1\nb2"
    assert outputs["items"] == ["c3 kw\nd4"]


def test_window_keeps_lines_around_hits(outputs):
    text = _lines(outputs["around"])
    for kept in ("b2", "c3 kw", "d4"):
        assert kept in text, text
    for dropped in ("a1", "e5"):
        assert dropped not in text, text


def test_field_of_a_typed_value(outputs):
    assert outputs["deep"] == 7
    assert outputs["top"] == "top"


def test_count(outputs):
    assert outputs["n_all"] == 3
    assert outputs["n_flag"] == 2


def test_sum(outputs):
    assert outputs["total"] == 6
    assert outputs["total_n"] == 7


def test_concat(outputs):
    assert outputs["joined"] == "x+y+x"
    assert all(t in outputs["joined_default"] for t in ("x", "y"))
    assert isinstance(outputs["joined_default"], str)


def test_vote_is_the_most_common_value(outputs):
    assert outputs["winner"] == "x"


def test_merge_flattens_one_level(outputs):
    assert outputs["flat"] == [1, 2, 3]


def test_tally_counts_per_value(outputs):
    assert outputs["per_label"] == {"p": 2, "q": 1}

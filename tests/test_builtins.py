"""The builtins' real implementations, their run-time errors and their estimates."""

from __future__ import annotations

import pytest

from hetflow.builtins.table import BUILTINS, Est, count_tokens
from hetflow.errors import HetError


def run(name, *args, **kwargs):
    return BUILTINS[name].run(*args, **kwargs)


def test_every_language_builtin_is_there():
    extract = {"split", "grep", "slice", "window", "field"}
    reduce = {"count", "sum", "concat", "vote", "merge", "tally"}
    assert {n for n, b in BUILTINS.items() if b.kind == "extract"} >= extract
    assert {n for n, b in BUILTINS.items() if b.kind == "reduce"} >= reduce


def test_count_tokens_is_four_chars():
    assert count_tokens("a" * 8) == 2
    assert count_tokens("a" * 9) == 3
    assert count_tokens({"k": 1}) == 2


def test_split():
    text = "l1\nl2\nl3\nl4\nl5"
    assert run("split", text, lines=2) == ["l1\nl2", "l3\nl4", "l5"]
    assert run("split", "a\n\n b \n\n\n\nc", sep="\n\n") == ["a", "b", "c"]
    pieces = run("split", "word " * 100, tokens=10)
    assert all(count_tokens(p) <= 10 for p in pieces) and "".join(pieces) == ("word " * 100)
    with pytest.raises(HetError, match="exactly one"):
        run("split", text)


def test_grep_slice_window_field():
    text = "alpha\nIndemnify me\nbeta\nliability here"
    assert run("grep", text, "(?i)indemnif|liabilit") == "Indemnify me\nliability here"
    assert run("grep", ["ab", "cd"], "c") == ["cd"]
    assert run("slice", "abcdef", 1, 3) == "bc"
    assert run("slice", [1, 2, 3, 4], 2) == [3, 4]
    rows = "\n".join(f"r{i}" for i in range(10))
    assert run("window", rows, ["r2", "R3", "r9"], lines=1) == ["r1\nr2\nr3\nr4", "r8\nr9"]
    rec = {"a": {"b": 5}}
    assert run("field", rec, "a.b") == 5
    assert run("field", [rec, rec], "a.b") == [5, 5]
    with pytest.raises(HetError, match="has no field 'c'"):
        run("field", rec, "a.c")
    with pytest.raises(HetError, match="bad regular expression"):
        run("grep", text, "[")


def test_reduces():
    vs = [
        {"risky": True, "label": "x", "n": 2},
        {"risky": False, "label": "y", "n": 3},
        {"risky": True, "label": "x", "n": 5},
    ]
    assert run("count", vs) == 3
    assert run("count", vs, where="risky") == 2
    assert run("count", vs, where="label=y") == 1
    assert run("sum", vs, field="n") == 10 and run("sum", [1, 2.5]) == 3.5
    assert run("concat", ["a", "b"], sep=", ") == "a, b"
    assert run("vote", ["a", "b", "b", "a", "c"]) == "a"  # tie: first seen
    assert run("merge", [[1], [2, 3], []]) == [1, 2, 3]
    assert run("tally", vs, by="label") == {"x": 2, "y": 1}
    assert run("dedupe", [1, 2, 1]) == [1, 2]
    assert run("top", vs, 1, by="n") == [vs[2]]
    with pytest.raises(HetError, match="not a number"):
        run("sum", ["a"])
    with pytest.raises(HetError, match="expected a list"):
        run("count", "abc")
    with pytest.raises(HetError, match="empty"):
        run("vote", [])


def test_estimates():
    doc = Est(12_000)
    assert BUILTINS["split"].estimate([doc], {"tokens": 1000}) == Est(12_000, 12)
    assert BUILTINS["split"].estimate([doc], {"lines": 100}) == Est(12_000, 10)
    assert BUILTINS["split"].estimate([doc], {"sep": "\n\n"}) == Est(12_000, 80)
    assert BUILTINS["grep"].estimate([doc, "x"], {}).tokens == pytest.approx(1200)
    win = BUILTINS["window"].estimate([doc, ["a", "b"]], {"lines": 2})
    assert win.items == 20 and win.tokens == pytest.approx(20 * 5 * 12)
    parts = Est(12_000, 80)
    assert BUILTINS["count"].estimate([parts], {}).tokens < 10
    assert BUILTINS["concat"].estimate([parts], {}).tokens >= 12_000
    assert BUILTINS["slice"].estimate([parts, 0, 8], {}) == Est(1200, 8)
    assert BUILTINS["slice"].estimate(["abcdefgh", 0, 4], {}).tokens == 1

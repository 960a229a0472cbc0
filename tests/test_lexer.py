"""The fast path (hetflow.syntax.lexer + parser.fast_parse) against Lark itself.

For generated and mutated programs both must read the same tokens (types, texts,
offsets, lines and columns), accept or refuse the same programs, and build the same
AST with the same positions and the same diagnostics.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput

from hetflow.errors import DiagnosticError
from hetflow.syntax import ast
from hetflow.syntax.builder import _Builder, build
from hetflow.syntax.lexer import Lines
from hetflow.syntax.parser import _tables, fast_parse, parse_tree, parser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.het"))
sys.path.insert(0, str(ROOT / "bench"))
from bench_frontend import workflow  # noqa: E402

pytestmark = pytest.mark.skipif(
    _tables() is None,
    reason="the fast path is off (HETFLOW_SLOW_PARSE=1, or Lark's tables unreadable): "
    "nothing to compare with Lark",
)

SEEDS = [p.read_text(encoding="utf-8") for p in EXAMPLES] + [workflow(40)]

# Words and marks that stress the contextual lexer: keywords where they are names,
# names that start with a keyword, numbers with units, strings of every kind.
WORDS = [
    "workflow", "schema", "use", "input", "output", "objective", "budget", "deadline",
    "extract", "reason", "zoom", "recurse", "map", "reduce", "prompt", "needs", "using",
    "on", "with", "over", "in", "at", "depth", "task", "root", "sub", "file", "list", "enum",
    "tokens", "token", "items", "item", "prompter", "inx", "on_", "text", "x", "doc",
    "cost", "true", "5", "5k", "2.5M", "30s", "500ms", "5m", "1h", "5mx", "$0.50", "$",
    "3.", '"s"', '"a\\"b"', '""', '"""long\n  text"""', '"""', '"open', "# note\n",
    "{", "}", "(", ")", "[", "]", ":", ",", "=", "~", ">=", ">", "-", "?", "!", "{{", "é",
]  # fmt: skip
SPACES = [" ", "  ", "\n", "\n  ", "\t", "", "\r\n", " # c\n"]


def lark_tokens(text: str):
    """Lark's contextual tokens until it stops, and whether it parsed the whole text."""
    tokens = []
    ip = parser().parse_interactive(text)
    try:
        for tok in ip.iter_parse():
            tokens.append(tok)
        ip.feed_eof()
    except UnexpectedInput:
        return tokens, False
    return tokens, True


def dump(x):
    """Every field of an AST value, positions included (AST equality skips them)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__,) + tuple(
            dump(getattr(x, f.name)) for f in dataclasses.fields(x) if f.name != "source"
        )
    if isinstance(x, (list, tuple)):
        return tuple(dump(v) for v in x)
    if isinstance(x, dict):
        return tuple((k, dump(v)) for k, v in x.items())
    return x


def slow_build(text: str):
    builder = _Builder("t.het", None, text)
    return builder.transform(parse_tree(text, "t.het")), builder.diagnostics


def compare(text: str) -> bool:
    """Assert the fast path reads ``text`` exactly as Lark does; True if it parsed."""
    record: list = []
    builder = _Builder("t.het", None, text)
    fast = fast_parse(text, builder, record)
    tokens, ok = lark_tokens(text)
    deep = text.count("{") + text.count("(") + text.count("[") > 64
    if fast is not None or not deep:
        assert (
            record[: len(tokens)]
            == [(t.type, str(t), t.start_pos, t.end_pos) for t in tokens][: len(record)]
        )
    lines = Lines(text)
    for t in tokens:
        assert lines.at(t.start_pos) == (t.line, t.column)
        assert lines.at(t.end_pos) == (t.end_line, t.end_column)
    if fast is None:
        assert not ok or deep
        with pytest.raises(DiagnosticError):
            parse_tree(text, "t.het")
        return False
    assert ok
    program, diagnostics = slow_build(text)
    assert dump(fast) == dump(program)
    assert builder.diagnostics == diagnostics
    assert [d.pos for d in builder.diagnostics] == [d.pos for d in diagnostics]
    return True


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("text", SEEDS, ids=[p.name for p in EXAMPLES] + ["bench"])
def test_seed_programs_read_alike(text):
    assert compare(text)


@FAST
@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SPACES)), max_size=30))
def test_word_soup_reads_alike(parts):
    compare("".join(w + s for w, s in parts))


@FAST
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(
            st.floats(0, 1),
            st.integers(0, 12),
            st.sampled_from(WORDS + SPACES),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_mutated_programs_read_alike(seed, edits):
    text = seed
    for where, cut, word in edits:
        at = int(where * len(text))
        text = text[:at] + word + text[at + cut :]
    compare(text)


@FAST
@given(st.sampled_from(SEEDS), st.floats(0, 1), st.sampled_from(WORDS))
def test_a_word_in_a_statement_reads_alike(seed, where, word):
    """Insert a whole word between two tokens (a space either side): deeper than soup."""
    at = int(where * len(seed))
    at = seed.rfind(" ", 0, at) + 1
    compare(seed[:at] + word + " " + seed[at:])


def test_nesting_beyond_the_limit_is_still_refused():
    text = "workflow w {\n input x: text\n extract a = f(" + "[" * 70 + "]" * 70 + ")\n}\n"
    with pytest.raises(DiagnosticError, match="nested more than 64"):
        build(text)


def test_keywords_are_names_where_the_grammar_wants_a_name():
    text = (
        "workflow w {\n input prompt: text\n input on: text\n"
        ' reason r = prompt "{{ prompt }} {{ on }}" on cerebras-wse3\n output r\n}\n'
    )
    assert compare(text)
    program, _ = build(text)
    assert [i.name for i in program.workflows[0].inputs] == ["prompt", "on"]
    assert isinstance(program.workflows[0].steps[0], ast.Reason)

"""The builder's less obvious duties: template refs (fast path = Jinja), positions, literals."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hetflow.errors import SourcePosition
from hetflow.syntax import templates
from hetflow.syntax.builder import build
from hetflow.syntax.grammar import parser
from hetflow.syntax.templates import _simple_refs, template_refs

PIECES = [
    "{{ a }}",
    "{{a.b}}",
    "{{ a.b.c }}",
    "{{ true }}",
    "{{",
    "}}",
    "{",
    "}",
    "x",
    " ",
    "\n",
    "{{ a | upper }}",
    "{{ b }}",
    "{{ a. }}",
    "{{ if }}",
    "{{ a.if }}",
    "{{ 1 }}",
    "{{}}",
    "{{ a[0] }}",
    "{% if a %}",
    "{% endif %}",
    "{# c #}",
    "{{- a -}}",
]


def jinja_refs(source: str):
    saved = templates._simple_refs
    templates._simple_refs = lambda s: None
    try:
        return template_refs(source)
    finally:
        templates._simple_refs = saved


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(PIECES), max_size=8))
def test_fast_template_refs_agree_with_jinja(pieces):
    source = "".join(pieces)
    fast = _simple_refs(source)
    if fast is not None:
        assert (fast, None) == jinja_refs(source)
    assert template_refs(source) == jinja_refs(source)


def test_template_ref_positions_point_at_the_name():
    src = 'workflow w {\n input doc: text\n reason a = prompt """\n   x {{ doc }}\n   {{ doc.y }}\n """\n output a\n}\n'
    program, _ = build(src)
    refs = program.workflows[0].steps[0].prompt.refs
    assert [(r.name, r.attrs, r.pos.line, r.pos.column) for r in refs] == [
        ("doc", (), 4, 9),
        ("doc", ("y",), 5, 7),
    ]


def test_literals():
    src = (
        "workflow w {\n input d: text ~ 1.5M tokens\n budget $0.5\n deadline 250ms\n"
        ' extract a = split(d, sep="\\t\\d")\n output a\n}\n'
    )
    program, diags = build(src)
    wf = program.workflows[0]
    assert diags == []
    assert wf.inputs[0].size.value == 1_500_000 and wf.inputs[0].size.unit == "tokens"
    assert wf.budget.value == 0.5 and wf.deadline.value == 0.25
    assert wf.steps[0].call.kwarg("sep").value == "\t\\d"


def test_duration_argument_builds():
    program, diags = build(
        "workflow w {\n input d: text\n extract a = split(d, 30s)\n output a\n}\n"
    )
    assert program.workflows[0].steps[0].call.args[1].value == 30.0


def test_spans_cover_blocks():
    src = 'workflow w {\n input d: text\n map x in d {\n  reason r = prompt "{{ x }}"\n }\n output r\n}\n'
    program, _ = build(src)
    wf = program.workflows[0]
    assert (wf.span.line, wf.span.end_line) == (1, 7)
    assert (wf.steps[0].span.line, wf.steps[0].span.end_line) == (3, 5)
    # End columns too (1-based, end exclusive): just past each closing brace.
    assert (wf.span.end_line, wf.span.end_column) == (7, 2)
    assert (wf.steps[0].span.end_line, wf.steps[0].span.end_column) == (5, 3)


def _positions(node, seen=None):
    """Every SourcePosition in an AST value, depth first."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, SourcePosition):
        yield node
    elif isinstance(node, (list, tuple)):
        for x in node:
            yield from _positions(x, seen)
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            yield from _positions(getattr(node, f.name), seen)


def test_every_multi_line_span_ends_where_a_token_ends():
    checked = 0
    for path in sorted((Path(__file__).parent.parent / "examples").glob("*.het")):
        text = path.read_text()
        ends = {(t.end_line, t.end_column) for t in parser().lex(text)}
        program, _ = build(text, str(path))
        for pos in _positions(program):
            if pos.end_line > pos.line:
                assert (pos.end_line, pos.end_column) in ends, (path.name, pos)
                checked += 1
    assert checked > 10

"""Derived needs (LANGUAGE.md §6): operator, size and the kind of work asked for."""

from __future__ import annotations

import pytest

from hetflow.compiler import compile
from hetflow.estimate.complexity import derive, kind_of


@pytest.mark.parametrize(
    "prompt, kind",
    [
        ("What is the capital mentioned in {{ doc }}?", "lookup"),
        ("How many records are about sports?", "aggregate"),
        ("Count the labels of each line", "aggregate"),
        ("Summarize the document", "aggregate"),
        ("Compare the two contracts and list conflicts", "pairwise"),
        ("Find duplicate entries", "pairwise"),
    ],
)
def test_kinds(prompt, kind):
    assert kind_of(prompt) == kind


def test_levels_grow_with_the_kind_and_the_size():
    lookup = derive("reason", "What is the date?", 1_000, 50)
    linear = derive("reason", "How many items?", 1_000, 50)
    big_linear = derive("reason", "How many items?", 60_000, 50)
    quad = derive("reason", "Compare each pair", 1_000, 50)
    big_quad = derive("reason", "Compare each pair", 20_000, 50)
    levels = [d.needs["reasoning"] for d in (lookup, linear, big_linear, quad, big_quad)]
    assert levels == [2, 3, 4, 4, 5]
    assert big_quad.kind == "pairwise" and "quadratic" in big_quad.why
    assert lookup.needs["context"] == 2_000 and "context >= 2k" in lookup.why


def test_operator_typed_output_code_and_images():
    assert derive("zoom", "the button", 1_500, 40).needs["vision"] == 2
    root = derive("recurse.root", "count", 5_000, 400).needs
    assert root["coding"] >= 3 and root["reasoning"] >= 3
    assert derive("reason", "x", 100, 10, typed=True).needs["extraction"] == 3
    assert derive("reason", "Write python code for x", 100, 10).needs["coding"] == 3
    assert derive("reason", "Describe {{ img }}", 1_600, 10, reads_image=True).needs["vision"] == 2


def test_levels_are_capped_at_five():
    d = derive("recurse.root", "Compare every pair", 100_000, 400)
    assert max(v for k, v in d.needs.items() if k != "context") <= 5


def test_compile_marks_derived_needs_and_keeps_given_ones():
    plan = compile(
        "workflow w {\n input doc: text ~ 40k tokens\n"
        ' reason a = prompt "How many orders in {{ doc }}?"\n'
        ' reason b = prompt "{{ a }}" needs reasoning >= 1\n output b\n}'
    )
    a, b = plan.node("a"), plan.node("b")
    assert a.needs_source == "derived" and a.needs["reasoning"] == 4
    assert a.needs_why.startswith("aggregate (linear) over ~40k tokens a call")
    assert b.needs_source == "given" and b.needs == {"reasoning": 1} and b.needs_why is None

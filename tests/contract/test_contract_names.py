"""LANGUAGE.md §3 "Names": reserved words are refused as names; every other word of the
syntax (and type, skill and builtin names) is a keyword only where the grammar expects it.
"""

from __future__ import annotations

import pytest
from contract_support import _clean, diagnostics, wf

# ---------------------------------------------------------------- §3 names

RESERVED = (
    "workflow schema use input output objective budget deadline "
    "extract reason zoom recurse map reduce"
).split()
SOFT_KEYWORDS = ("prompt file task root sub needs using on with over in at depth enum list").split()
NOT_RESERVED = SOFT_KEYWORDS + [
    "text",
    "number",
    "bool",
    "image",
    "json",
    "reasoning",
    "coding",
    "vision",
    "extraction",
    "context",
    "split",
    "count",
    "grep",
    "cost",
    "latency",
    "balanced",
    "tokens",
    "items",
]


@pytest.mark.parametrize("word", RESERVED)
def test_reserved_word_refused_as_an_input_name(word, tmp_path):
    text = wf('reason a = prompt "x"\noutput a', inputs=f"input doc: text\ninput {word}: text")
    found = diagnostics(text, tmp_path)
    assert [d for d in found if d["severity"] == "error"], (word, found)


@pytest.mark.parametrize("word", RESERVED)
def test_reserved_word_refused_as_a_step_name(word, tmp_path):
    text = wf(f'reason {word} = prompt "{{{{ doc }}}}"\noutput {word}')
    found = diagnostics(text, tmp_path)
    assert [d for d in found if d["severity"] == "error"], (word, found)


@pytest.mark.parametrize("word", NOT_RESERVED)
def test_soft_keyword_usable_as_input_and_step_name(word, tmp_path):
    text = wf(
        f"""
        reason {word}_x = prompt "{{{{ {word} }}}}"
        extract {word}2 = split({word}, lines=2)
        reason {word}_y = prompt "{{{{ {word}2 }}}} {{{{ {word}_x }}}}"
        output {word}_y, {word}
    """,
        inputs=f"input {word}: text",
    )
    _clean(text, tmp_path)


@pytest.mark.parametrize("word", NOT_RESERVED)
def test_soft_keyword_usable_as_a_step_name(word, tmp_path):
    text = wf(f"""
        reason {word} = prompt "{{{{ doc }}}}" needs reasoning >= 1
        reason after = prompt "{{{{ {word} }}}}"
        output after
    """)
    _clean(text, tmp_path)


@pytest.mark.parametrize("word", NOT_RESERVED)
def test_soft_keyword_usable_as_a_schema_field(word, tmp_path):
    text = wf(
        f'reason a: S = prompt "{{{{ doc }}}}"\nreduce b = count(xs, where="{word}")\noutput a, b',
        inputs="input doc: text\ninput xs: list[S]",
        head=f"schema S {{\n  {word}: bool\n  other: text\n}}",
    )
    _clean(text, tmp_path)


def test_field_called_text_of_type_text(tmp_path):
    text = wf(
        'reason a: S = prompt "{{ doc }}"\nextract t = field(a, "text")\noutput t',
        head="schema S { text: text\n list: list[text] }",
    )
    _clean(text, tmp_path)


@pytest.mark.parametrize("word", ["in", "at", "over", "on", "with", "sub", "root", "task"])
def test_soft_keyword_as_map_item_and_over_target(word, tmp_path):
    text = wf(
        f"""
        map {word} in xs {{
          reason s = prompt "{{{{ {word} }}}}"
        }}
        recurse r over {word}_doc {{
          task "Count."
        }}
        reason a = prompt "{{{{ s }}}} {{{{ r }}}}"
        output a
    """,
        inputs=f"input xs: list[text]\ninput {word}_doc: text",
    )
    _clean(text, tmp_path)


def test_names_with_underscores_and_digits(tmp_path):
    text = wf('reason _a1 = prompt "{{ Doc_2 }}"\noutput _a1', inputs="input Doc_2: text")
    _clean(text, tmp_path)

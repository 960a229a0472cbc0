"""LANGUAGE.md §5.1–§5.7: each static rule on a minimal program, at the offending token.

Positions are 1-based line and column of the token the rule is about: the undefined
name (also inside a template), the second definition, the misspelt builtin...
"""

from __future__ import annotations

import re

import pytest
from contract_support import _at, _one, errors, wf

# ---------------------------------------------------------------- 5.1 syntax

SYNTAX = [
    # (program, token where the error is, words the message must hold)
    (wf('frobnicate b = 3\nreason a = prompt "{{ doc }}"\noutput a'), "frobnicate", ["expected"]),
    (wf('reason a = prompt "{{ doc }}"\noutput a\nfoo'), "foo", ["expected"]),
    (wf('reason a = "{{ doc }}"\noutput a'), '"{{ doc }}"', ["expected", "prompt"]),
    (wf('reason a = prompt "{{ doc }}" needs reasoning 3\noutput a'), "3", ["expected"]),
    (wf("input x text\noutput x"), "text\n  output x", ["expected"]),
]


@pytest.mark.parametrize(("text", "token", "words"), SYNTAX)
def test_syntax_error_says_what_was_expected_at_the_spot(text, token, words, tmp_path):
    d = errors(text, tmp_path)[0]
    _at(d, text, token)
    for w in words:
        assert w in d["message"], d
    # Words a user understands, never a parser state dump.
    for raw in (
        "Token(",
        "Expected one of",
        "__ANON",
        "$END",
        "LALR",
        "UnexpectedToken",
        "_NL",
        "RBRACE",
        "LBRACE",
    ):
        assert raw not in d["message"], d


def test_syntax_error_names_the_expected_step_or_output(tmp_path):
    text = wf('frobnicate b = 3\nreason a = prompt "{{ doc }}"\noutput a')
    message = errors(text, tmp_path)[0]["message"]
    assert re.search(r"expected a step or 'output'.* here", message), message


@pytest.mark.parametrize(
    "text",
    [
        'workflow w {\n  input doc: text\n  reason a = prompt "{{ doc }}"\n  output a\n',
        'workflow w {\n  input doc: text\n  reason a = prompt "unterminated\n  output a\n}\n',
        'workflow w {\n  input doc: text\n  reason a = prompt """never closed\n  output a\n}\n',
        "workflow {\n}\n",
        "schema S { a: }\n",
        "workflow w { input doc: text ~ 12 parsecs\n output doc }\n",
        "workflow w { input doc: text\n budget 0.50\n output doc }\n",
        "workflow w { input doc: text\n deadline 5 minutes\n output doc }\n",
    ],
)
def test_syntax_errors_are_positioned_and_readable(text, tmp_path):
    found = errors(text, tmp_path)
    assert found, text
    d = found[0]
    lines = text.count("\n") + 1
    assert 1 <= d["line"] <= lines and d["column"] >= 1, d
    assert d["message"] and "\n" not in d["message"], d
    for raw in ("Token(", "Expected one of", "__ANON", "$END", "UnexpectedToken", "UnexpectedChar"):
        assert raw not in d["message"], d


def test_end_of_file_is_named_in_words(tmp_path):
    text = 'workflow w {\n  input doc: text\n  reason a = prompt "{{ doc }}"\n  output a\n'
    d = errors(text, tmp_path)[0]
    assert re.search(r"end of|ended|before the end", d["message"]), d


# ---------------------------------------------------------------- 5.2 undefined names


def test_undefined_name_in_a_template_points_at_the_name(tmp_path):
    text = wf('reason a = prompt "Read {{ dco }} now"\noutput a')
    d = _one(errors(text, tmp_path))
    _at(d, text, "dco")
    assert "dco" in d["message"] and "did you mean 'doc'?" in d["message"]


def test_undefined_name_in_a_triple_quoted_template_points_at_its_line(tmp_path):
    text = wf(
        '''
        reason a = prompt """
          First line.
          Then {{ questoin }} here.
        """
        output a
    ''',
        inputs="input question: text",
    )
    d = _one(errors(text, tmp_path))
    _at(d, text, "questoin")
    assert "did you mean 'question'?" in d["message"]


def test_undefined_field_of_an_item_in_a_template(tmp_path):
    text = wf(
        """
        map r in rows {
          reason s = prompt "{{ rr.label }}"
        }
        output s
    """,
        inputs="input rows: list[text]",
    )
    d = _one(errors(text, tmp_path))
    _at(d, text, "rr.label")
    assert "did you mean 'r'?" in d["message"]


def test_undefined_name_in_an_argument(tmp_path):
    text = wf(
        "extract clauses = split(contrct, lines=3)\noutput clauses", inputs="input contract: text"
    )
    d = _one(errors(text, tmp_path))
    _at(d, text, "contrct")
    assert "did you mean 'contract'?" in d["message"]


def test_undefined_name_in_a_reduce_argument(tmp_path):
    text = wf("""
        extract clauses = split(doc, lines=3)
        map clause in clauses {
          reason verdict = prompt "{{ clause }}"
        }
        reduce n = count(verdcit)
        output n
    """)
    d = _one(errors(text, tmp_path))
    _at(d, text, "verdcit")
    assert "did you mean 'verdict'?" in d["message"]


def test_undefined_name_after_in(tmp_path):
    text = wf("""
        extract clauses = split(doc, lines=3)
        map clause in claues {
          reason v = prompt "{{ clause }}"
        }
        output v
    """)
    d = _one(errors(text, tmp_path))
    _at(d, text, "claues")
    assert "did you mean 'clauses'?" in d["message"]


def test_undefined_name_after_over(tmp_path):
    text = wf('recurse r over contxt {\n  task "Count."\n}\noutput r', inputs="input context: text")
    d = _one(errors(text, tmp_path))
    _at(d, text, "contxt")
    assert "did you mean 'context'?" in d["message"]


def test_undefined_name_before_at(tmp_path):
    text = wf('zoom z = screenshto at "the button"\noutput z', inputs="input screenshot: image")
    d = _one(errors(text, tmp_path))
    _at(d, text, "screenshto")
    assert "did you mean 'screenshot'?" in d["message"]


def test_undefined_output_name(tmp_path):
    text = wf('reason answer = prompt "{{ doc }}"\noutput answr')
    d = _one(errors(text, tmp_path))
    _at(d, text, "answr")
    assert "did you mean 'answer'?" in d["message"]


def test_no_suggestion_when_nothing_is_close(tmp_path):
    text = wf('reason a = prompt "{{ zzzzqqq }}"\noutput a')
    d = _one(errors(text, tmp_path))
    assert "zzzzqqq" in d["message"] and "did you mean" not in d["message"]


def test_body_name_is_per_item_inside_and_not_visible_before_the_map_defines_it(tmp_path):
    # `clause` (the item) exists only inside the map body.
    text = wf("""
        extract clauses = split(doc, lines=3)
        map clause in clauses {
          reason v = prompt "{{ clause }}"
        }
        reason s = prompt "{{ clause }}"
        output s, v
    """)
    d = _one(errors(text, tmp_path))
    _at(d, text, "clause }}", 2)


# ---------------------------------------------------------------- 5.3 defined twice


def test_step_defined_twice_points_at_the_second(tmp_path):
    text = wf('reason a = prompt "{{ doc }}"\nreason a = prompt "again {{ doc }}"\noutput a')
    d = _one(errors(text, tmp_path))
    _at(d, text, "a =", 2)
    assert "'a'" in d["message"]


def test_step_with_an_input_name(tmp_path):
    text = wf('reason doc = prompt "x"\noutput doc')
    d = _one(errors(text, tmp_path))
    _at(d, text, "doc =")


def test_input_defined_twice(tmp_path):
    text = wf('reason a = prompt "{{ doc }}"\noutput a', inputs="input doc: text\ninput doc: text")
    d = _one(errors(text, tmp_path))
    _at(d, text, "doc", 2)


def test_map_body_name_clashing_with_a_workflow_name(tmp_path):
    text = wf("""
        extract parts = split(doc, lines=3)
        reason v = prompt "{{ doc }}"
        map p in parts {
          reason v = prompt "{{ p }}"
        }
        output v
    """)
    found = errors(text, tmp_path)
    assert found and "'v'" in found[0]["message"], found
    _at(found[0], text, "v =", 2)


def test_schema_defined_twice(tmp_path):
    text = wf(
        'reason a: S = prompt "{{ doc }}"\noutput a',
        head="schema S { a: text }\nschema S { b: text }",
    )
    d = _one(errors(text, tmp_path))
    _at(d, text, "S", 2)


# ---------------------------------------------------------------- 5.4 cycles


def test_two_step_cycle_names_both(tmp_path):
    text = wf('reason a = prompt "{{ b }}"\nreason b = prompt "{{ a }}"\noutput b')
    found = errors(text, tmp_path)
    assert found
    cycle = [d for d in found if "cycle" in d["message"]]
    assert cycle, found
    assert re.search(r"\ba\b", cycle[0]["message"]) and re.search(r"\bb\b", cycle[0]["message"])


def test_three_step_cycle_names_every_step_and_no_bystander(tmp_path):
    text = wf("""
        reason alpha = prompt "{{ gamma }} {{ doc }}"
        reason beta = prompt "{{ alpha }}"
        reason gamma = prompt "{{ beta }}"
        reason bystander = prompt "{{ gamma }}"
        output bystander
    """)
    cycle = [d for d in errors(text, tmp_path) if "cycle" in d["message"]]
    assert cycle
    message = cycle[0]["message"]
    for name in ("alpha", "beta", "gamma"):
        assert name in message, message
    assert "bystander" not in message


def test_self_reference_is_a_cycle(tmp_path):
    text = wf('reason a = prompt "{{ a }} {{ doc }}"\noutput a')
    found = errors(text, tmp_path)
    assert any(re.search("cycle|itself|its own", d["message"]) for d in found), found

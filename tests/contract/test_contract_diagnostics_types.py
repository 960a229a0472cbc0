"""LANGUAGE.md §5.5–§5.7 (types, outputs, unused steps), all diagnostics of a file at once,
§4's structure rules and `use`: each on a minimal program, at the offending token.
"""

from __future__ import annotations

import json
import re

import pytest
from contract_support import _at, _one, cli, diagnostics, errors, locate, wf, write

import hetflow

# ---------------------------------------------------------------- 5.5 types


def test_zoom_on_a_non_image(tmp_path):
    text = wf('zoom z = doc at "the title"\noutput z')
    d = _one(errors(text, tmp_path))
    _at(d, text, "doc at")
    assert "image" in d["message"]


def test_map_over_a_non_list(tmp_path):
    text = wf('map d in doc {\n  reason s = prompt "{{ d }}"\n}\noutput s')
    d = _one(errors(text, tmp_path))
    _at(d, text, "doc {")
    assert "list" in d["message"]


@pytest.mark.parametrize("type_", ["image", "number", "bool"])
def test_recurse_over_a_non_text(type_, tmp_path):
    text = wf('recurse r over x {\n  task "Count."\n}\noutput r', inputs=f"input x: {type_}")
    d = _one(errors(text, tmp_path))
    _at(d, text, "x {")
    assert "text" in d["message"]


def test_field_of_a_field_the_schema_lacks(tmp_path):
    text = wf(
        'extract f = field(v, "lable")\noutput f',
        inputs="input v: S",
        head="schema S { label: text\n count: number }",
    )
    d = _one(errors(text, tmp_path))
    _at(d, text, '"lable"')
    assert "lable" in d["message"] and "did you mean 'label'?" in d["message"]


def test_nested_field_the_schema_lacks(tmp_path):
    text = wf(
        'extract f = field(v, "inner.m")\noutput f',
        inputs="input v: S",
        head="schema I { n: number }\nschema S { inner: I }",
    )
    d = _one(errors(text, tmp_path))
    assert "'m'" in d["message"] or "inner.m" in d["message"], d


def test_template_field_the_schema_lacks(tmp_path):
    text = wf(
        'reason a = prompt "{{ v.lable }}"\noutput a',
        inputs="input v: S",
        head="schema S { label: text }",
    )
    d = _one(errors(text, tmp_path))
    assert "lable" in d["message"], d
    assert d["line"] == locate(text, "v.lable")[0]


def test_unknown_schema(tmp_path):
    text = wf(
        'reason a: Verdcit = prompt "{{ doc }}"\noutput a', head="schema Verdict { risky: bool }"
    )
    d = _one(errors(text, tmp_path))
    _at(d, text, "Verdcit")
    assert "did you mean 'Verdict'?" in d["message"]


def test_unknown_type_in_a_schema_field(tmp_path):
    text = wf('reason a: S = prompt "{{ doc }}"\noutput a', head="schema S { a: txet }")
    d = _one(errors(text, tmp_path))
    _at(d, text, "txet")
    assert "did you mean 'text'?" in d["message"]


def test_unknown_builtin(tmp_path):
    text = wf("extract parts = splt(doc, lines=3)\noutput parts")
    d = _one(errors(text, tmp_path))
    _at(d, text, "splt")
    assert "did you mean 'split'?" in d["message"]


def test_extract_builtin_used_in_reduce_or_the_reverse(tmp_path):
    text = wf("""
        extract parts = split(doc, lines=3)
        extract n = count(parts)
        reduce g = grep(doc, "x")
        reason a = prompt "{{ n }} {{ g }}"
        output a
    """)
    found = errors(text, tmp_path)
    assert len(found) == 2, found
    _at(found[0], text, "count")
    _at(found[1], text, "grep")


BAD_ARGS = [
    ("extract e = split(doc)", "split|lines|tokens|sep"),
    ("extract e = split(doc, lines=3, tokens=100)", "split|lines|tokens"),
    ('extract e = split(doc, lines="three")', "lines"),
    ("extract e = grep(doc)", "grep|regex|pattern"),
    ('extract e = slice(doc, "a", 3)', "start|slice"),
    ('extract e = window(doc, ["kw"], lines="x")', "lines"),
    ('extract e = split(doc, lines=3, colour="red")', "colour"),
    ("extract e = split(doc, sep=3)", "sep"),
    ("extract e = split(nope_list, lines=3)", "nope_list"),
]


@pytest.mark.parametrize(("step", "word"), BAD_ARGS)
def test_builtin_wrong_arguments(step, word, tmp_path):
    text = wf(f'{step}\nreason a = prompt "{{{{ e }}}}"\noutput a')
    found = errors(text, tmp_path)
    assert found, step
    assert re.search(word, found[0]["message"]), found
    assert found[0]["line"] == locate(text, step)[0]


REDUCE_BAD = [
    ("reduce r = count(doc)", "list"),  # count of a text
    ("reduce r = tally(xs)", "by"),
    ('reduce r = tally(xs, by="colour")', "colour"),
    ('reduce r = sum(xs, field="label")', "number"),
    ("reduce r = merge(ts)", "list"),  # a list of texts is not a list of lists
]


@pytest.mark.parametrize(("step", "word"), REDUCE_BAD)
def test_reduce_wrong_arguments(step, word, tmp_path):
    text = wf(
        f'{step}\nreason a = prompt "{{{{ r }}}}"\noutput a',
        inputs="input doc: text\ninput xs: list[S]\ninput ts: list[text]",
        head="schema S { label: text\n n: number }",
    )
    found = errors(text, tmp_path)
    assert found, step
    assert re.search(word, found[0]["message"]), found


# ---------------------------------------------------------------- 5.6 output


def test_workflow_without_output(tmp_path):
    text = wf('reason a = prompt "{{ doc }}"')
    d = _one(errors(text, tmp_path))
    assert "output" in d["message"]
    assert d["line"] in (1, text.count("\n")), d  # the workflow, or where output should be


def test_two_output_lines(tmp_path):
    text = wf('reason a = prompt "{{ doc }}"\noutput a\noutput a')
    found = errors(text, tmp_path)
    assert found and "output" in found[0]["message"], found


# ---------------------------------------------------------------- 5.7 unused


def test_step_no_output_depends_on_is_a_warning(tmp_path):
    text = wf('reason a = prompt "{{ doc }}"\nreason lost = prompt "{{ doc }}"\noutput a')
    found = diagnostics(text, tmp_path)
    assert [d for d in found if d["severity"] == "error"] == []
    w = _one(found, "warning")
    _at(w, text, "lost")
    assert "lost" in w["message"]


def test_chain_feeding_only_an_unused_step_warns_for_each(tmp_path):
    text = wf("""
        extract parts = split(doc, lines=3)
        reason lost = prompt "{{ parts }}"
        reason a = prompt "{{ doc }}"
        output a
    """)
    warned = {d["message"] for d in diagnostics(text, tmp_path) if d["severity"] == "warning"}
    assert any("lost" in m for m in warned) and any("parts" in m for m in warned), warned


def test_warnings_only_exit_zero_and_errors_exit_one(tmp_path):
    warn = write(
        tmp_path, wf('reason a = prompt "{{ doc }}"\nreason b = prompt "x"\noutput a'), "warn.het"
    )
    ran = cli("check", warn)
    assert ran.code == 0, ran.text
    assert re.search(r"warn\.het:4:\d+: warning: ", ran.text), ran.text
    bad = write(tmp_path, wf('reason a = prompt "{{ dco }}"\noutput a'), "bad.het")
    assert cli("check", bad).code == 1
    assert cli("check", warn, bad).code == 1


# ---------------------------------------------------------------- all together


def test_every_diagnostic_of_a_file_is_reported_together(tmp_path):
    text = wf("""
        extract parts = splt(doc, lines=3)
        reason a = prompt "{{ dco }}"
        reason a = prompt "{{ doc }}"
        zoom z = doc at "title"
        reason lost = prompt "{{ doc }}"
        output a, z, missing
    """)
    found = diagnostics(text, tmp_path)
    messages = " | ".join(d["message"] for d in found)
    assert len([d for d in found if d["severity"] == "error"]) >= 5, messages
    for word in ("splt", "dco", "'a'", "image", "missing", "lost"):
        assert word in messages, (word, messages)
    # Ordered by position, as a compiler prints them.
    keys = [(d["line"], d["column"]) for d in found]
    assert keys == sorted(keys)


def test_errors_in_two_files_are_all_reported(tmp_path):
    one = write(tmp_path, wf('reason a = prompt "{{ dco }}"\noutput a'), "one.het")
    two = write(tmp_path, wf('reason a = prompt "{{ doc }}"\noutput b'), "two.het")
    ran = cli("check", "--format", "json", one, two)
    assert ran.code == 1
    files = {d["file"] for d in json.loads(ran.out)}
    assert len(files) == 2 and any("one.het" in f for f in files), files


def test_python_check_returns_every_diagnostic(tmp_path):
    text = wf('reason a = prompt "{{ dco }}"\nreason b = prompt "{{ a }}"\noutput c')
    found = hetflow.check(write(tmp_path, text))
    assert len([d for d in found if d.is_error]) == 2
    assert len([d for d in found if d.severity == "warning"]) >= 1


def test_python_parse_raises_a_diagnostic_error_with_positions(tmp_path):
    with pytest.raises(hetflow.DiagnosticError) as info:
        hetflow.parse(write(tmp_path, wf("frobnicate\noutput doc")))
    assert info.value.diagnostics and info.value.diagnostics[0].pos.line == 3


def test_count_where_a_field_the_schema_lacks(tmp_path):
    text = wf(
        'reduce n = count(xs, where="riksy")\noutput n',
        inputs="input xs: list[V]",
        head="schema V { risky: bool\n why: text }",
    )
    d = _one(errors(text, tmp_path))
    assert "riksy" in d["message"] and "did you mean 'risky'?" in d["message"], d
    _at(d, text, '"riksy"')


def test_a_schema_defined_here_and_in_a_used_file_is_defined_twice(tmp_path):
    write(tmp_path, "schema Verdict { risky: bool }\n", "lib.het")
    text = 'use "lib.het"\n' + wf(
        'reason v: Verdict = prompt "{{ doc }}"\noutput v', head="schema Verdict { why: text }"
    )
    found = diagnostics(text, tmp_path)
    assert any("Verdict" in d["message"] for d in found), found


def test_a_file_used_twice_through_two_paths_is_not_a_clash(tmp_path):
    write(tmp_path, "schema Base { a: text }\n", "base.het")
    write(tmp_path, 'use "base.het"\nschema Left { b: Base }\n', "left.het")
    write(tmp_path, 'use "base.het"\nschema Right { c: Base }\n', "right.het")
    text = 'use "left.het"\nuse "right.het"\n' + wf(
        'reason l: Left = prompt "{{ doc }}"\nreason r: Right = prompt "{{ l }}"\noutput r'
    )
    assert diagnostics(text, tmp_path) == []


# ---------------------------------------------------------------- §4 structure


def test_a_workflow_needs_one_or_more_steps(tmp_path):
    text = "workflow w {\n  input x: text\n  output x\n}\n"
    found = diagnostics(text, tmp_path)
    assert found and found[0]["line"] in (1, 2, 3, 4), found  # STEP ... one or more


def test_a_workflow_needs_one_or_more_inputs(tmp_path):
    text = 'workflow w {\n  reason a = prompt "hi"\n  output a\n}\n'
    found = diagnostics(text, tmp_path)
    assert found and found[0]["line"] in (1, 2, 3, 4), found  # input ... one or more


@pytest.mark.parametrize("line", ["objective cost", "budget $1", "deadline 5m"])
def test_optional_settings_at_most_once(line, tmp_path):
    text = wf(f'{line}\n{line}\nreason a = prompt "{{{{ doc }}}}"\noutput a')
    d = _one(errors(text, tmp_path))
    _at(d, text, line, 2)


def test_unknown_objective(tmp_path):
    text = wf('objective fastest\nreason a = prompt "{{ doc }}"\noutput a')
    d = _one(errors(text, tmp_path))
    _at(d, text, "fastest")


def test_unknown_skill_and_level_out_of_range(tmp_path):
    text = wf('reason a = prompt "{{ doc }}" needs reasonin >= 3, coding >= 7\noutput a')
    found = errors(text, tmp_path)
    assert len(found) == 2, found
    _at(found[0], text, "reasonin")
    assert "did you mean 'reasoning'?" in found[0]["message"]
    assert found[1]["line"] == 3 and found[1]["column"] > found[0]["column"]


def test_invalid_template_is_positioned(tmp_path):
    text = wf('reason a = prompt "{{ doc "\noutput a')
    d = _one(errors(text, tmp_path))
    assert d["line"] == 3, d


def test_errors_in_a_used_file_point_into_that_file(tmp_path):
    lib = 'workflow helper {\n  input x: text\n  reason y = prompt "{{ xx }}"\n  output y\n}\n'
    write(tmp_path, lib, "lib.het")
    text = 'use "lib.het"\n' + wf('reason a = prompt "{{ doc }}"\noutput a')
    found = errors(text, tmp_path)
    assert len(found) == 1 and found[0]["file"].endswith("lib.het"), found
    _at(found[0], lib, "xx")

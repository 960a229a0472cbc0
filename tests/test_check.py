"""The static checks of LANGUAGE.md §5.2–§5.7, each pinned by a tiny program."""

from __future__ import annotations

import json
import textwrap

import pytest

from hetflow.checks.checker import check, check_program, infer_types
from hetflow.commands.main import main
from hetflow.syntax import ast
from hetflow.syntax.loader import load


def diags(src: str):
    return check(src)


def errors(src: str) -> list[str]:
    return [d.message for d in diags(src) if d.is_error]


def warnings(src: str) -> list[str]:
    return [d.message for d in diags(src) if d.severity == "warning"]


def wf(body: str, schemas: str = "") -> str:
    return schemas + "\nworkflow w {\n" + textwrap.dedent(body) + "\n}\n"


def test_examples_are_clean():
    for name in ("oolong", "web_step", "contract_review"):
        assert check(f"examples/{name}.het") == []


def test_undefined_name_in_template_points_at_it_and_suggests():
    (d,) = diags(wf('input doc: text\nreason a = prompt "see {{ dco }}"\noutput a'))
    assert d.message == "name 'dco' is not defined; did you mean 'doc'?"
    assert (d.pos.line, d.pos.column, d.pos.end_column) == (4, 27, 30)


@pytest.mark.parametrize(
    "step",
    [
        "extract a = split(dox, lines=3)",
        'zoom a = dox at "x"',
        'recurse a over dox { task "t" }',
    ],
)
def test_undefined_names_in_arguments_over_and_at(step):
    msgs = errors(wf(f"input doc: text\n{step}\noutput a"))
    assert msgs[0].startswith("name 'dox' is not defined; did you mean 'doc'?")


def test_undefined_map_list():
    msgs = errors(
        wf(
            "input doc: text\nextract parts = split(doc, lines=2)\n"
            'map p in partz { reason r = prompt "{{ p }}" }\noutput r'
        )
    )
    assert msgs == ["name 'partz' is not defined; did you mean 'parts'?"]


def test_names_defined_twice():
    src = wf(
        'input a: text\ninput a: text\nreason b = prompt "{{ a }}"\n'
        'reason b = prompt "x"\nmap a in b { reason c = prompt "x" }\noutput b, c'
    )
    msgs = errors(src)
    assert msgs.count("name 'a' is defined twice (first at line 3)") == 2
    assert "name 'b' is defined twice (first at line 5)" in msgs


def test_schema_workflow_field_twice():
    src = (
        "schema S { a: text\n a: number }\nschema S { b: text }\n"
        + wf("input x: S\noutput x")
        + wf("input x: S\noutput x")
    )
    msgs = errors(src)
    assert "field 'a' is defined twice (first at line 1)" in msgs
    assert "schema 'S' is defined twice (first at line 1)" in msgs
    assert any(m.startswith("workflow 'w' is defined twice") for m in msgs)


def test_cycle_names_every_step():
    src = wf(
        'input q: text\nreason a = prompt "{{ c }} {{ q }}"\n'
        'reason b = prompt "{{ a }}"\nreason c = prompt "{{ b }}"\noutput c'
    )
    (d,) = [d for d in diags(src) if d.is_error]
    assert "'a' uses 'c'" in d.message and "'c' uses 'b'" in d.message
    assert "'b' uses 'a'" in d.message
    assert d.pos.line == 4  # the use in 'a', the first step of the cycle


def test_self_use_is_a_cycle():
    assert errors(wf('input q: text\nreason a = prompt "{{ a }}"\noutput a')) == [
        "step 'a' uses its own result"
    ]


def test_later_defined_step_is_fine():
    src = wf('input q: text\nreason b = prompt "{{ a }}"\nreason a = prompt "{{ q }}"\noutput b')
    assert diags(src) == []


def test_type_errors():
    src = wf(
        """
        input doc: text
        input pic: image
        input n: number
        zoom z = doc at "x"
        map m in doc { reason r = prompt "{{ m }}" }
        recurse k over n { task "x" }
        extract f = field(pic, "a")
        extract bad = splat(doc)
        extract w = count(doc)
        output z, r, k, f, bad, w
        """
    )
    msgs = errors(src)
    assert "zoom needs an image, but 'doc' is text" in msgs
    assert any(m.startswith("map works over a list, but 'doc' is text") for m in msgs)
    assert "recurse works over text, but 'n' is a number" in msgs
    assert "'pic' is an image, which has no fields" in msgs
    assert "unknown builtin 'splat'; did you mean 'split'?" in msgs
    assert "'count' is a reduce builtin: write `reduce w = count(...)`" in msgs


def test_field_of_missing_schema_field_and_template_field():
    schemas = "schema V { risky: bool\n why: text }\n"
    src = wf(
        'input xs: list[V]\nextract f = field(xs, "riskyy")\n'
        'map x in xs { reason r = prompt "{{ x.whyy }}" }\noutput f, r',
        schemas,
    )
    msgs = errors(src)
    assert "schema 'V' has no field 'riskyy'; did you mean 'risky'?" in msgs
    assert "schema 'V' has no field 'whyy'; did you mean 'why'?" in msgs


def test_unknown_types_and_builtin_arguments():
    src = wf(
        'input doc: Documnt\nextract a = split(doc)\nextract b = grep(doc, "[")\n'
        'extract c = split(doc, lines=2, sep=",")\noutput a, b, c',
        "schema Document { t: text }\n",
    )
    msgs = errors(src)
    assert "unknown type 'Documnt'; did you mean 'Document'?" in msgs
    assert 'split() takes exactly one of lines=N, tokens=N or sep="..."' in msgs
    assert any(m.startswith("this regular expression is not valid") for m in msgs)


def test_outputs():
    assert errors(wf('input a: text\nreason b = prompt "{{ a }}"')) == [
        "workflow 'w' has no output line; add `output NAME` naming what it returns"
    ]
    assert errors("workflow w {\n output x\n}\n") == [
        "workflow 'w' has no input; declare one or more with `input NAME: TYPE`",
        "workflow 'w' has no step; add one or more (extract, reason, zoom, recurse, map or reduce)",
        "name 'x' is not defined",
    ]
    msgs = errors(wf("input a: text\nextract b = slice(a, 0, 1)\noutput b\noutput b"))
    assert msgs[0].startswith("a workflow has one output line")
    assert errors(wf("input a: text\nextract c = slice(a, 0, 1)\noutput b, c")) == [
        "name 'b' is not defined"
    ]


def test_map_scoping():
    base = (
        "input doc: text\nextract ps = split(doc, lines=2)\n"
        'map p in ps { reason r = prompt "{{ p }}" }\n'
    )
    assert diags(wf(base + "reduce all = concat(r)\noutput all")) == []
    msgs = errors(wf(base + 'reason s = prompt "{{ p }}"\noutput s, r'))
    assert msgs == ["'p' is the item of the map at line 5; it exists only inside that map's { }"]


def test_unused_step_is_a_warning():
    src = wf('input q: text\nreason a = prompt "{{ q }}"\nreason b = prompt "{{ q }}"\noutput a')
    assert errors(src) == []
    assert warnings(src) == ["step 'b' is never used: no output depends on it"]


def test_needs_and_options():
    src = wf(
        'input q: text\nreason a = prompt "{{ q }}" needs reasonin >= 3, coding >= 9, '
        "context >= 64k with temprature=0, max_tokens=0\noutput a"
    )
    ds = diags(src)
    msgs = [d.message for d in ds if d.is_error]
    assert msgs[0].startswith("unknown requirement 'reasonin'; did you mean 'reasoning'?")
    assert "a skill level is a whole number from 0 to 5, not 9" in msgs
    assert "max_tokens must be 1 or more, not 0" in msgs
    assert [d.message for d in ds if d.severity == "warning"] == [
        "unknown option 'temprature'; did you mean 'temperature'? (it is passed to the model as is)"
    ]


def test_infer_types():
    program, _, _ = load("examples/contract_review.het")
    types = {k: str(v) for k, v in infer_types(program, "contract_review").items()}
    assert types == {
        "contract": "text",
        "clauses": "list[text]",
        "clause": "text",
        "hits": "list[text]",
        "verdict": "list[Verdict]",
        "risky": "number",
        "summary": "text",
    }


def test_check_program_equals_check():
    program, _, _ = load("examples/oolong.het")
    assert check_program(program) == []
    assert isinstance(program.workflows[0], ast.Workflow)


def test_syntax_error_is_a_diagnostic_not_an_exception():
    (d,) = check("workflow w {\n input x text\n}\n")
    assert d.is_error and d.pos.line == 2


def test_command_text_and_json(tmp_path, capsys):
    bad = tmp_path / "bad.het"
    bad.write_text(wf('input doc: text\nreason a = prompt "{{ dco }}"\noutput a'))
    assert main(["check", str(bad)]) == 1
    out = capsys.readouterr()
    assert f"{bad}:4:23: error: name 'dco' is not defined" in out.out
    assert "^~~" in out.out and "1 error, 0 warnings in 1 file" in out.out
    assert main(["check", "--format", "json", str(bad)]) == 1
    (obj,) = json.loads(capsys.readouterr().out)
    assert obj == {
        "file": str(bad),
        "line": 4,
        "column": 23,
        "end_line": 4,
        "end_column": 26,
        "severity": "error",
        "message": "name 'dco' is not defined; did you mean 'doc'?",
    }


def test_command_warnings_only_exit_0_and_unreadable_exit_1(tmp_path, capsys):
    ok = tmp_path / "ok.het"
    ok.write_text(wf('input q: text\nreason a = prompt "{{ q }}"\nreason b = prompt "x"\noutput a'))
    assert main(["check", str(ok)]) == 0
    assert main(["check", str(tmp_path / "missing.het")]) == 1
    err = capsys.readouterr().err
    assert "missing.het: no such file" in err and "Traceback" not in err


def test_use_problems_are_positioned_diagnostics(tmp_path):
    (tmp_path / "a.het").write_text(
        'use "b.het"\nuse "nope.het"\nworkflow w {\n input x: S\n'
        ' extract y = field(x, "a")\n output y\n}\n'
    )
    (tmp_path / "b.het").write_text('use "a.het"\nschema S { a: text }\n')
    found = {
        (d.pos.file.rsplit("/", 1)[-1], d.pos.line, d.message) for d in check(tmp_path / "a.het")
    }
    assert found == {
        ("b.het", 1, "'use' cycle: a.het -> b.het -> a.het"),
        ("a.het", 2, "cannot use 'nope.het': no such file"),
    }


def test_units_in_needs_and_sizes():
    src = wf(
        "input d: text ~ 40 items\n"
        'reason r = prompt "{{ d }}" needs reasoning >= 3 tokens, context >= 3 items\noutput r'
    )
    assert errors(src) == [
        "a skill level has no unit: write reasoning >= 3",
        "context is a number of tokens, not items",
    ]
    assert warnings(src) == ["'d' is not a list: give its size in tokens (~ 40 tokens)"]


def test_a_map_item_never_read_is_a_warning_and_its_list_still_counts_as_used():
    src = wf(
        'input d: text\nextract ps = split(d, lines=2)\nmap p in ps { reason r = prompt "{{ d }}" }'
        "\noutput r"
    )
    assert errors(src) == []
    assert warnings(src) == [
        "the map's item 'p' is never used in its body: every item would do the same work"
    ]

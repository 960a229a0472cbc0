"""Syntax errors: wording a user understands, several per file, no cascades."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hetflow.errors import DiagnosticError
from hetflow.syntax.parser import expected_phrase, parse_tree

ROOT = Path(__file__).resolve().parent.parent


def syntax_errors(text: str) -> list[str]:
    with pytest.raises(DiagnosticError) as info:
        parse_tree(text, "t.het")
    return [f"{d.pos.line}:{d.pos.column} {d.message}" for d in info.value.diagnostics]


def test_expected_phrase_groups_terminals():
    steps = {"EXTRACT", "REASON", "ZOOM", "RECURSE", "MAP", "REDUCE", "OUTPUT", "RBRACE"}
    assert expected_phrase(steps) == "a step or 'output'"
    assert expected_phrase({"SCHEMA", "WORKFLOW", "USE", "$END"}) == "'workflow' or 'schema'"


def test_common_mistakes_read_well():
    wf = "workflow w {\n  input doc: text\n  %s\n  output doc\n}\n"
    assert syntax_errors(wf % "foo bar") == [
        "3:3 expected a step or 'output' here, found 'foo' (a step starts with extract, "
        "reason, zoom, recurse, map or reduce)"
    ]
    assert syntax_errors(wf % 'reasn a = prompt "x"')[0].endswith("did you mean 'reason'?")
    assert syntax_errors(wf % 'reason a prompt "x"') == ["3:12 expected '=' here, found 'prompt'"]
    assert syntax_errors(wf % 'reason a = "x"')[0].startswith("3:14 expected 'prompt' before")
    assert "'>='" in syntax_errors(wf % 'reason a = prompt "x" needs reasoning > 3')[0]
    assert syntax_errors(wf % 'reason a = prompt "x') == [
        "3:21 this string is not closed before the end of the line"
    ]
    assert syntax_errors(wf % 'reason a = prompt """x') == ['3:21 this """ string is never closed']
    assert syntax_errors("workflow w {\n input x: text\n output x\n") == [
        "3:10 a '{' is never closed: expected '}' before the end of the file"
    ]


def test_several_independent_errors_are_all_reported():
    text = (
        'workflow w {\n  input doc text\n  reason a = prompt "x" needs reasoning > 3\n'
        '  reason c prompt "y"\n  output a, c\n}\nschema S {\n  a text\n}\n'
    )
    assert [e.split()[0] for e in syntax_errors(text)] == ["2:13", "3:41", "4:12", "8:5"]


def test_check_imports_no_heavy_stage():
    code = (
        "import sys, glob\nfrom hetflow.commands.main import main\n"
        "main(['check'] + sorted(glob.glob('examples/*.het')))\n"
        "print(sorted(m for m in ('litellm', 'networkx', 'jinja2', 'scipy') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_fast_path_is_on_unless_asked_off():
    """With the Lark we pin, the fast path reads its tables (test_lexer compares it)."""
    import os

    from hetflow.syntax.parser import _tables

    if os.environ.get("HETFLOW_SLOW_PARSE") == "1":
        assert _tables() is None
    else:
        assert _tables() is not None, "the fast path could not read Lark's parse tables"

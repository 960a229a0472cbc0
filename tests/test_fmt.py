"""`hetflow fmt`: canonical, idempotent, comment-keeping, and never changes meaning."""

from __future__ import annotations

import textwrap

from hypothesis import HealthCheck, given, settings
from test_fuzz import EXAMPLES, programs

from hetflow.commands.main import main
from hetflow.syntax.builder import build
from hetflow.syntax.fmt import comments, duration, format_source, number, string


@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(programs())
def test_fmt_keeps_meaning_and_is_idempotent(text):
    program, diagnostics = build(text)
    if any(d.is_error for d in diagnostics):
        return
    once = format_source(text)
    assert build(once)[0] == program
    assert format_source(once) == once
    assert [c[1] for c in comments(once)] == [c[1] for c in comments(text)]


def test_examples_are_stable():
    for path in EXAMPLES:
        text = path.read_text()
        once = format_source(text, str(path), path.parent)
        assert build(once, str(path), path.parent)[0] == build(text, str(path), path.parent)[0]
        assert format_source(once, str(path), path.parent) == once
        # and they are written canonically already: `hetflow fmt --check examples/` passes
        assert once == text, f"{path.name} is not in canonical form; run hetflow fmt on it"


def test_layout():
    messy = textwrap.dedent('''\
        # top comment
        workflow   w{input doc:text~128000 tokens
        objective cost budget $0.5 deadline 90s
           # about the split
        extract parts=split(doc,sep="\\n\\n")

        map p in parts{reason r:text=prompt """
                  Read: {{ p }}
                    indented
               """ with max_tokens=10 needs reasoning>=2 on cerebras-wse3 using "m"}
        reduce all=concat(r)   # joined
        output all}
        schema S{a:text,b:enum(x,"y z")?}
        ''')
    assert format_source(messy) == textwrap.dedent('''\
        # top comment
        workflow w {
          input doc: text ~ 128k tokens
          objective cost
          budget $0.50
          deadline 90s
          # about the split
          extract parts = split(doc, sep="\\n\\n")

          map p in parts {
            reason r: text = prompt """
              Read: {{ p }}
                indented
            """ needs reasoning >= 2 using "m" on cerebras-wse3 with max_tokens=10
          }
          reduce all = concat(r)  # joined
          output all
        }

        schema S {
          a: text
          b: enum(x, "y z")?
        }
        ''')


def test_literals_round_trip():
    assert number(0.00001) == "0.00001" and number(3.0) == "3"
    assert [duration(x) for x in (0.25, 90.0, 3600.0, 1.5)] == ["250ms", "90s", "1h", "1500ms"]
    assert string('a"b\\d\\n') == '"a\\"b\\d\\\\n"'


def test_command_check_and_write(tmp_path, capsys):
    f = tmp_path / "x.het"
    f.write_text("workflow w {\n    input a: text\n output a }\n")
    assert main(["fmt", "--check", str(f)]) == 1
    assert f"would reformat {f}" in capsys.readouterr().out
    assert main(["fmt", str(f)]) == 0
    assert f.read_text() == "workflow w {\n  input a: text\n  output a\n}\n"
    assert main(["fmt", "--check", str(f)]) == 0
    bad = tmp_path / "bad.het"
    bad.write_text("workflow {\n")
    assert main(["fmt", str(bad)]) == 1
    assert "error" in capsys.readouterr().err


def test_a_missing_prompt_file_does_not_stop_formatting():
    text = 'workflow w {\ninput x: text\nreason a = prompt file "nope.txt"\noutput a}\n'
    assert 'reason a = prompt file "nope.txt"' in format_source(text)

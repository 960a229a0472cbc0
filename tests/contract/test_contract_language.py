"""LANGUAGE.md §2–§4 as an outside tester reads it: every example and construct checks clean.

A construct "parses" here when `hetflow check` reports no error for it: the check runs
the parser, the builder and every static rule, so a construct the language promises
must come through all of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from contract_support import EXAMPLES, FIXTURES, _clean, cli, diagnostics, strings_in, wf, write

import hetflow

LANGUAGE_MD = Path(__file__).resolve().parents[3] / "shared" / "LANGUAGE.md"


# ---------------------------------------------------------------- §2 examples


def test_fixture_examples_are_the_contract_text_verbatim():
    if not LANGUAGE_MD.exists():
        pytest.skip("shared/LANGUAGE.md is not beside the repository")
    blocks = re.findall(r"```het\n(.*?)```", LANGUAGE_MD.read_text(encoding="utf-8"), re.S)
    assert [(FIXTURES / n).read_text(encoding="utf-8") for n in EXAMPLES] == blocks


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_checks_clean(name):
    ran = cli("check", FIXTURES / name)
    assert ran.code == 0, ran.text
    assert "error" not in ran.text and "warning" not in ran.text, ran.text


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_checks_clean_as_json(name):
    ran = cli("check", "--format", "json", FIXTURES / name)
    assert ran.code == 0, ran.text
    import json

    assert json.loads(ran.out) == []


@pytest.mark.parametrize("name", EXAMPLES)
def test_python_api_parse_and_check_examples(name):
    path = FIXTURES / name
    assert hetflow.check(path) == []
    program = hetflow.parse(path)
    workflow = name.removeprefix("example_").removesuffix(".het")
    assert workflow in strings_in(program)


def test_check_accepts_several_files_at_once():
    ran = cli("check", *(FIXTURES / n for n in EXAMPLES))
    assert ran.code == 0, ran.text


# ---------------------------------------------------------------- §3 lexical

SIZE_HINTS = ["128k tokens", "2M tokens", "4000 tokens", "64k", "1 token"]


@pytest.mark.parametrize("size", ["128k tokens", "2M tokens", "4000 tokens"])
def test_input_size_hints(size, tmp_path):
    _clean(
        wf('reason a = prompt "{{ doc }}"\noutput a', inputs=f"input doc: text ~ {size}"), tmp_path
    )


def test_items_size_hint_on_a_list(tmp_path):
    text = wf(
        """
        map d in docs {
          reason s = prompt "Summarize {{ d }}"
        }
        reduce all = concat(s)
        output all
    """,
        inputs="input docs: list[text] ~ 40 items",
    )
    _clean(text, tmp_path)


@pytest.mark.parametrize("money", ["$0.50", "$2", "$0.0001", "$100"])
def test_money(money, tmp_path):
    _clean(wf(f'budget {money}\nreason a = prompt "{{{{ doc }}}}"\noutput a'), tmp_path)


@pytest.mark.parametrize("duration", ["500ms", "30s", "5m", "1h"])
def test_durations(duration, tmp_path):
    _clean(wf(f'deadline {duration}\nreason a = prompt "{{{{ doc }}}}"\noutput a'), tmp_path)


@pytest.mark.parametrize(
    "req", ["context >= 64k", "context >= 64k tokens", "context >= 200000", "context >= 1M"]
)
def test_context_size_with_or_without_unit(req, tmp_path):
    _clean(wf(f'reason a = prompt "{{{{ doc }}}}" needs {req}\noutput a'), tmp_path)


def test_comments_everywhere(tmp_path):
    text = """# leading comment
schema S { # after a brace
  a: text # after a field
}
# between declarations
workflow w { # here
  input doc: text # an input
  # a whole line
  reason a = prompt "has a # inside the string: {{ doc }}" # after a step
  output a # last
} # after the workflow
"""
    _clean(text, tmp_path)
    assert "has a # inside the string: {{ doc }}" in strings_in(hetflow.parse(text))


def test_triple_quoted_prompt_is_dedented_and_stripped(tmp_path):
    text = wf('''
        reason a = prompt """
            First line {{ doc }}
              indented two more
            Last line
        """
        output a
    ''')
    _clean(text, tmp_path)
    expected = "First line {{ doc }}\n  indented two more\nLast line"
    assert expected in strings_in(hetflow.parse(text))


def test_triple_quoted_task_is_dedented_and_stripped(tmp_path):
    text = wf('''
        recurse r over doc {
          task """
              Count the records.
                Then answer.
          """
        }
        output r
    ''')
    _clean(text, tmp_path)
    assert "Count the records.\n  Then answer." in strings_in(hetflow.parse(text))


def test_string_escapes(tmp_path):
    text = wf(r"""
        reason a = prompt "tab\there \"quoted\" back\\slash nl\n{{ doc }}"
        output a
    """)
    _clean(text, tmp_path)
    assert 'tab\there "quoted" back\\slash nl\n{{ doc }}' in strings_in(hetflow.parse(text))


def test_escape_in_builtin_argument(tmp_path):
    text = wf(r"""
        extract parts = split(doc, sep="\n\n")
        reduce all = concat(parts, sep="\t")
        output all
    """)
    _clean(text, tmp_path)
    found = strings_in(hetflow.parse(text))
    assert "\n\n" in found and "\t" in found


def test_numbers_integer_and_decimal(tmp_path):
    text = wf('reason a = prompt "{{ doc }}" with temperature=0.5, max_tokens=12\noutput a')
    _clean(text, tmp_path)


# ---------------------------------------------------------------- §4 structure


def test_schema_and_workflow_in_any_order_and_many_workflows(tmp_path):
    text = """
workflow first { input x: S
  reason a = prompt "{{ x }}"
  output a }
schema S { a: text }
workflow second { input y: text
  reason b: S = prompt "{{ y }}"
  output b }
"""
    _clean(text, tmp_path)


@pytest.mark.parametrize("objective", ["cost", "latency", "balanced", None])
def test_objectives(objective, tmp_path):
    line = f"objective {objective}\n" if objective else ""
    _clean(wf(line + 'reason a = prompt "{{ doc }}"\noutput a'), tmp_path)


@pytest.mark.parametrize(
    "type_",
    ["text", "number", "bool", "image", "json", "list[text]", "list[list[number]]", "S", "list[S]"],
)
def test_input_types(type_, tmp_path):
    text = wf(
        'reason a = prompt "{{ x }}"\noutput a',
        inputs=f"input x: {type_}",
        head="schema S { a: text }",
    )
    _clean(text, tmp_path)


def test_schema_field_types_enum_optional_list(tmp_path):
    head = """
        schema Inner { n: number }
        schema S {
          label: enum(a, b, c)
          quoted: enum("x y", "z")
          note: text?
          tags: list[text]
          maybe_tags: list[text]?
          inner: Inner
          inners: list[Inner]
          flag: bool
          blob: json
          picture: image
          picked: enum(p, q)?
        }
    """
    text = wf('reason a: S = prompt "{{ doc }}"\noutput a', head=head)
    _clean(text, tmp_path)


def test_schema_fields_separated_by_commas(tmp_path):
    text = wf('reason a: S = prompt "{{ doc }}"\noutput a', head="schema S { a: text, b: number }")
    _clean(text, tmp_path)


@pytest.mark.parametrize(
    "ann", ["", ": text", ": number", ": bool", ": json", ": list[text]", ": S", ": list[S]"]
)
def test_reason_type_annotations(ann, tmp_path):
    text = wf(f'reason a{ann} = prompt "{{{{ doc }}}}"\noutput a', head="schema S { a: text }")
    _clean(text, tmp_path)


def test_prompt_file_and_task_file(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "ask.txt").write_text("Answer about {{ doc }}\n")
    (tmp_path / "task.txt").write_text("Count the lines of the context.\n")
    text = wf("""
        reason a = prompt file "prompts/ask.txt"
        recurse r over doc {
          task file "task.txt"
        }
        reason both = prompt "{{ a }} {{ r }}"
        output both
    """)
    _clean(text, tmp_path)


def test_prompt_file_reference_counts_as_an_edge(tmp_path):
    (tmp_path / "ask.txt").write_text("Answer about {{ missing_name }}\n")
    text = wf('reason a = prompt file "ask.txt"\noutput a')
    found = diagnostics(text, tmp_path)
    assert any("missing_name" in d["message"] and d["severity"] == "error" for d in found)


def test_use_brings_schemas_and_workflows(tmp_path):
    write(
        tmp_path,
        "schema Verdict { risky: bool\n why: text }\n"
        'workflow helper { input x: text\n reason y = prompt "{{ x }}"\n output y }\n',
        "lib.het",
    )
    text = 'use "lib.het"\n' + wf(
        """
        map d in docs {
          reason v: Verdict = prompt "{{ d }}"
        }
        reduce n = count(v, where="risky")
        output n
    """,
        inputs="input docs: list[text]",
    )
    _clean(text, tmp_path)
    program = hetflow.parse(tmp_path / "flow.het")
    assert "helper" in strings_in(program) and "Verdict" in strings_in(program)


def test_use_of_a_subdirectory_file(tmp_path):
    (tmp_path / "lib").mkdir()
    write(tmp_path / "lib", "schema T { a: text }\n", "types.het")
    text = 'use "lib/types.het"\n' + wf('reason a: T = prompt "{{ doc }}"\noutput a')
    _clean(text, tmp_path)


def test_windows_line_endings_read_like_unix_ones(tmp_path):
    text = wf('''
        reason a = prompt """
            First line {{ doc }}
              indented two more
            Last line
        """
        reason b = prompt "{{ a }}"
        output b
    ''')
    path = tmp_path / "crlf.het"
    path.write_bytes(text.replace("\n", "\r\n").encode())
    assert [d for d in hetflow.check(path) if d.is_error] == []
    found = [s.replace("\r\n", "\n") for s in strings_in(hetflow.parse(path))]
    assert "First line {{ doc }}\n  indented two more\nLast line" in found


def test_columns_count_characters_not_bytes(tmp_path):
    text = wf('reason a = prompt "héllo wörld — {{ dco }}"\noutput a')
    found = diagnostics(text, tmp_path)
    line = text.splitlines()[2]
    assert (found[0]["line"], found[0]["column"]) == (3, line.index("dco") + 1)

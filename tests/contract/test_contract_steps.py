"""LANGUAGE.md §4 "Steps": needs, pins, `with`, zoom, recurse and map in every form the
contract writes them, checking clean without a catalog.
"""

from __future__ import annotations

import pytest
from contract_support import _clean, wf


@pytest.mark.parametrize(
    "pin",
    [
        'using "cerebras/llama3.1-8b"',
        'using "gpt-oss-120b"',
        'using "gpt-oss-120b" on cerebras-wse3',
        'using "gpt-oss-120b" on "cerebras-wse3"',
        "on cerebras-wse3",
        "on nvidia-h100",
        "on aws-trainium2",
        'on "nvidia-h100"',
        "on cpu",
        "on my_chip-2",
    ],
)
def test_pins_check_without_a_catalog(pin, tmp_path):
    _clean(wf(f'reason a = prompt "{{{{ doc }}}}" {pin}\noutput a'), tmp_path)


def test_needs_pin_with_together_in_order(tmp_path):
    text = wf("""
        reason a = prompt "{{ doc }}" needs reasoning >= 3, coding >= 2, extraction >= 1, vision >= 0, context >= 64k using "gpt-oss-120b" on cerebras-wse3 with temperature=0, max_tokens=200, retries=3, timeout=30
        output a
    """)
    _clean(text, tmp_path)


def test_clauses_may_span_lines(tmp_path):
    text = wf('''
        reason a = prompt """
          Read {{ doc }}
        """
          needs reasoning >= 2
          on groq-lpu
          with temperature=0
        reason b = prompt "{{ a }}"
        output b
    ''')
    _clean(text, tmp_path)


@pytest.mark.parametrize("skill", ["reasoning", "coding", "extraction", "vision"])
@pytest.mark.parametrize("level", [0, 5])
def test_every_skill_and_level_bound(skill, level, tmp_path):
    _clean(wf(f'reason a = prompt "{{{{ doc }}}}" needs {skill} >= {level}\noutput a'), tmp_path)


def test_zoom_with_needs_pin_with(tmp_path):
    text = wf(
        """
        zoom z = shot at "the login button" needs vision >= 2 on groq-lpu with max_tokens=50
        zoom y = shot at "the part that matters for {{ goal }}"
        reason a = prompt "{{ z }} {{ y }}" needs vision >= 1
        output a
    """,
        inputs="input shot: image\ninput goal: text",
    )
    _clean(text, tmp_path)


def test_recurse_forms(tmp_path):
    text = wf(
        '''
        recurse plain over doc {
          task "Count the lines."
        }
        recurse deep: list[Tally] over doc depth 3 {
          task """
            Tally the labels of {{ question }}.
          """
          root needs coding >= 4, reasoning >= 4
          sub needs reasoning >= 2
        } with max_iterations=10, temperature=0
        recurse pinned: number over doc depth 1 {
          sub using "cerebras/llama3.1-8b"
          task "How many?"
          root on cerebras-wse3
        }
        reason a = prompt "{{ plain }} {{ deep }} {{ pinned }}"
        output a
    ''',
        inputs="input doc: text ~ 2M tokens\ninput question: text",
        head="schema Tally { label: text\n count: number }",
    )
    _clean(text, tmp_path)


def test_nested_map_and_body_names_as_lists_after(tmp_path):
    text = wf(
        """
        map d in docs {
          extract parts = split(d, lines=50)
          map p in parts {
            reason s: Tally = prompt "Label {{ p }} of {{ d }} for {{ q }}"
          }
          reduce per_doc = count(s)
        }
        reduce flat = merge(s)
        reduce totals = sum(per_doc)
        reduce by_label = tally(flat, by="label")
        reason answer = prompt "{{ by_label }} {{ totals }} {{ per_doc }} {{ parts }}"
        output answer
    """,
        inputs="input docs: list[text]\ninput q: text",
        head="schema Tally { label: text\n count: number }",
    )
    _clean(text, tmp_path)


def test_map_item_field_in_template(tmp_path):
    text = wf(
        """
        map r in rows {
          reason s = prompt "{{ r.label }} and {{ r.inner.n }}"
        }
        output s
    """,
        inputs="input rows: list[S]",
        head="schema Inner { n: number }\nschema S { label: text  inner: Inner }",
    )
    _clean(text, tmp_path)


def test_several_outputs(tmp_path):
    text = wf("""
        reason a = prompt "{{ doc }}"
        reason b = prompt "{{ doc }}"
        output a, b
    """)
    _clean(text, tmp_path)


def test_an_input_may_be_an_output(tmp_path):
    _clean(wf('reason a = prompt "{{ doc }}"\noutput a, doc'), tmp_path)


def test_steps_may_come_in_any_order(tmp_path):
    text = wf("""
        reason b = prompt "{{ a }}"
        reason a = prompt "{{ doc }}"
        output b
    """)
    _clean(text, tmp_path)

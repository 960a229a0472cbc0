"""Every syntax error of a file at once, with a did-you-mean for keywords and type names
(issue 14, item 12): a user fixes a file in one pass, not one error per run."""

from __future__ import annotations

import pytest

from hetflow.checks.checker import check


def messages(src: str) -> list[tuple[int, str]]:
    return [(d.pos.line, d.message) for d in check(src) if d.is_error]


def test_the_issues_file_shows_all_three_errors_at_once():
    found = messages(
        "workflow w {\n"
        "  input q: txt\n"
        "  input r: text\n"
        '  reason a = promt "hi {{ q }}"\n'
        "  extrct b = split(r)\n"
        '  reason c = prompt "x {{ b }}" needs reasoning >= 2\n'
        "  output a, c\n"
        "}\n"
    )
    assert found == [
        (2, "unknown type 'txt'; did you mean 'text'?"),
        (4, "expected 'prompt' here, found 'promt'; did you mean 'prompt'?"),
        (5, "expected a step or 'output' here, found 'extrct'; did you mean 'extract'?"),
    ]


def test_misspelt_keywords_clauses_and_types_each_get_a_did_you_mean():
    found = messages(
        "schema V {\n"
        "  ok: boool\n"
        "}\n"
        "workflow w {\n"
        "  inptu q: text\n"
        "  input d: list[txt]\n"
        '  reason a: V = prompt "{{ q }}" neds reasoning >= 2\n'
        "  extrct b = split(q)\n"
        '  reason c = prompt "{{ b }}" needs reasoning >= 2\n'
        "  redcue z = count(b)\n"
        "  output a, c\n"
        "}\n"
    )
    assert [line for line, _ in found] == [2, 5, 6, 7, 8, 10]
    hints = [m.rsplit("did you mean ", 1)[-1] for _, m in found]
    assert hints == ["'bool'?", "'input'?", "'text'?", "'needs'?", "'extract'?", "'reduce'?"]


def test_a_schema_the_file_defines_is_a_known_type_despite_errors():
    found = messages(
        "schema Verdict { risky: bool }\n"
        "workflow w {\n"
        "  input q: Verdict\n"
        '  reason a = promt "{{ q }}"\n'
        "  output a\n"
        "}\n"
    )
    assert [m for _, m in found] == [
        "expected 'prompt' here, found 'promt'; did you mean 'prompt'?"
    ]


def test_debris_of_an_error_is_not_reported_as_more_errors():
    """Continuation lines after an error (a call's arguments) are not new errors."""
    found = messages(
        "workflow w {\n"
        "  input q: text\n"
        "  extract b = split q,\n"
        '    sep="x")\n'
        '  reason a = prompt "{{ b }}"\n'
        "  output a\n"
        "}\n"
    )
    assert len(found) == 1 and found[0][0] == 3


@pytest.mark.parametrize(
    "line, hint",
    [
        ('reason a = prompt "x" wiht temperature=0', "'with'?"),
        ('reason a = prompt "x" usign "gpt-5"', "'using'?"),
    ],
)
def test_a_misspelt_clause_gets_a_did_you_mean(line, hint):
    (found,) = messages(f"workflow w {{\n  input q: text\n  {line}\n  output a\n}}\n")
    assert found[1].endswith(f"did you mean {hint}")

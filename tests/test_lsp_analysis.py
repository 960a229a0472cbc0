"""What the language server knows about a text (hetflow.lsp.analysis), without a client."""

from __future__ import annotations

from pathlib import Path

from hetflow.checks.checker import check_source
from hetflow.lsp.analysis import analyze, completions, definition, span_of, symbols

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _at(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    at = text.index(needle) + offset
    return text.count("\n", 0, at), at - (text.rfind("\n", 0, at) + 1)


def test_the_diagnostics_are_checks(tmp_path):
    for path in sorted(EXAMPLES.glob("*.het")):
        a = analyze(path.read_text(), str(path))
        want, _ = check_source(path)
        assert [(d.message, d.pos) for d in a.diagnostics] == [(d.message, d.pos) for d in want]
    broken = (EXAMPLES / "contract_review.het").read_text().replace("reduce risky", "reduc risky")
    f = tmp_path / "b.het"
    f.write_text(broken)
    a = analyze(broken, str(f))
    want, _ = check_source(f)
    assert [(d.message, d.pos) for d in a.diagnostics] == [(d.message, d.pos) for d in want]


def test_syntax_errors_leave_the_rest_answering():
    src = (EXAMPLES / "contract_review.het").read_text()
    broken = src.replace("extract hits", "extrat hits").replace('"Summarize', '"Summarize {{ x')
    a = analyze(broken, "cr.het")
    assert a.partial and a.program is not None
    assert {d.pos.line for d in a.diagnostics} >= {8}
    e = a.at(*_at(broken, "verdict: Verdict"))
    assert e is not None and e.kind == "def" and e.name == "verdict"
    assert [s.name for s in symbols(a)] == ["contract_review", "Verdict"]


def test_a_block_still_being_typed_still_answers():
    src = 'workflow w {\n  input x: text\n  reason a = prompt "{{ x }}"\n  output a\n'
    a = analyze(src, "w.het")
    assert [d.message for d in a.diagnostics][0].startswith("a '{' is never closed")
    assert a.program is not None and "a" in a.workflows["w"].scope.defs
    assert [i.label for i in completions(a, 3, 9) if i.kind == "variable"] == ["x", "a"]


def test_completion_of_fields_after_a_dot():
    src = (EXAMPLES / "contract_review.het").read_text()
    a = analyze(src, "cr.het")
    # inside the map a body name is one item: a Verdict, with fields
    text = src.replace("{{ hits }}", "{{ hits }} {{ verdict. }}")
    line, char = _at(text, "{{ verdict. }}", len("{{ verdict."))
    assert [i.label for i in completions(a, line, char, text)] == ["risky", "why"]
    # after the map it is a list[Verdict]: no fields to offer
    text = src.replace("{{ verdict }}", "{{ verdict. }}")
    line, char = _at(text, "{{ verdict. }}", len("{{ verdict."))
    assert completions(a, line, char, text) == []


def test_completion_of_fields_of_a_record(tmp_path):
    src = (
        "schema Verdict {\n  risky: bool\n  why: text\n}\n\nworkflow w {\n  input q: text\n"
        '  reason v: Verdict = prompt "{{ q }}"\n  reason s = prompt "{{ v.why }}"\n'
        "  output s\n}\n"
    )
    a = analyze(src, str(tmp_path / "w.het"))
    line, char = _at(src, "{{ v.why", len("{{ v."))
    items = completions(a, line, char)
    assert [(i.label, i.detail) for i in items] == [("risky", "bool"), ("why", "text")]


def test_definition_across_use():
    path = EXAMPLES / "paper_qa.het"
    src = path.read_text()
    a = analyze(src, str(path))
    t = definition(a, *_at(src, "list[Finding]", 6))
    assert t is not None and Path(t.file).resolve() == (EXAMPLES / "lib" / "papers.het").resolve()
    lib = (EXAMPLES / "lib" / "papers.het").read_text()
    assert t.span[:2] == _at(lib, "Finding {")
    t = definition(a, *_at(src, "{{ abstract }}", 3))
    assert t is not None and t.span == span_of(
        a.workflows["paper_qa"].scope.defs["abstract"][0].pos
    )


def test_the_hover_worker_never_writes_to_the_protocol(capfd):
    """The compile worker inherits the server's stdout, the protocol's channel: whatever it
    prints must go to stderr."""
    from hetflow.lsp.placement import Placements

    p = Placements()
    try:
        fut = p.pool().submit(print, "a stray line")
        fut.result(timeout=60)
    finally:
        p.close()
    out, err = capfd.readouterr()
    assert "a stray line" not in out
    assert "a stray line" in err

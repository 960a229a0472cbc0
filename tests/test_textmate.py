"""The TextMate grammar (editors/textmate/het.tmLanguage.json) against the examples,
tokenized by vscode-textmate + vscode-oniguruma (the engine VS Code uses) under node.

Skipped where node is absent; .ci/run installs node and the two npm packages
(``npm ci`` in editors/textmate/test).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "editors" / "textmate"
NODE = shutil.which("node")

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
pytestmark = needs_node


def _tokens(*files: Path) -> list[dict]:
    if not (HERE / "test" / "node_modules" / "vscode-textmate").is_dir():
        message = "run `npm ci` in editors/textmate/test (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.run(
        [NODE, str(HERE / "test" / "tokenize.js"), str(HERE / "het.tmLanguage.json")]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def tokens() -> list[dict]:
    return _tokens(*sorted((ROOT / "examples").rglob("*.het")))


def _scope(t: dict) -> str:
    return t["scopes"][-1]


def test_every_token_class_appears_in_the_examples(tokens):
    seen = {s for t in tokens for s in t["scopes"]}
    for scope in (
        "comment.line.number-sign.het",
        "keyword.declaration.workflow.het",
        "keyword.declaration.schema.het",
        "keyword.declaration.input.het",
        "keyword.declaration.het",
        "keyword.other.setting.het",
        "keyword.control.step.het",
        "keyword.other.clause.het",
        "entity.name.function.workflow.het",
        "entity.name.type.schema.het",
        "entity.name.type.het",
        "variable.other.definition.step.het",
        "variable.other.definition.item.het",
        "string.quoted.double.het",
        "string.quoted.triple.het",
        "meta.template.expression.het",
        "constant.character.escape.het",
        "constant.numeric.size.het",
        "constant.numeric.money.het",
        "constant.numeric.duration.het",
        "constant.numeric.het",
        "constant.language.objective.het",
        "support.function.builtin.het",
        "support.type.primitive.het",
        "support.constant.skill.het",
        "keyword.operator.comparison.het",
    ):
        assert scope in seen, scope


def test_tokens_are_scoped_as_expected(tokens):
    by_text: dict[str, set[str]] = defaultdict(set)
    for t in tokens:
        by_text[t["text"]].add(_scope(t))
    assert by_text["workflow"] == {"keyword.declaration.workflow.het"}
    assert "entity.name.function.workflow.het" in by_text["contract_review"]
    assert by_text["split"] == {"support.function.builtin.het"}
    assert "keyword.control.step.het" in by_text["reason"]
    assert "constant.numeric.money.het" in by_text["0.20"]
    assert "support.constant.skill.het" in by_text["reasoning"]
    # a size, a duration and money are one literal each, units marked
    oolong = [t for t in tokens if t["file"].endswith("oolong.het")]
    line8 = [(t["text"], _scope(t)) for t in oolong if t["line"] == 8]
    assert ("128", "constant.numeric.size.het") in line8
    assert ("tokens", "keyword.other.unit.het") in line8
    line13 = [(t["text"], t["scopes"]) for t in oolong if t["line"] == 13]
    assert all("constant.numeric.duration.het" in s for text, s in line13 if text in ("5", "m"))


def test_template_spans_inside_prompts(tokens):
    """`{{ name }}` in a prompt is a template span, its name a variable, inside the string."""
    refs = [
        t for t in tokens if t["text"] == "clause" and "meta.template.expression.het" in t["scopes"]
    ]
    assert refs, "no {{ clause }} span found in contract_review.het"
    for t in refs:
        assert t["scopes"][-1] == "variable.other.het"
        assert any(s.startswith("string.quoted.") for s in t["scopes"])
    opens = [t for t in tokens if t["text"].startswith("{{")]
    assert opens and all("punctuation.section.embedded.begin.het" in t["scopes"] for t in opens)
    # text around a span stays string
    words = [t for t in tokens if t["text"].strip().startswith("Clause:")]
    assert words and _scope(words[0]) == "string.quoted.triple.het"


def test_a_string_ends_a_comment_does_not_start_in_it(tmp_path):
    f = tmp_path / "x.het"
    f.write_text(
        'workflow w {\n  input d: text\n  extract g = grep(d, "a#b \\d+")  # real comment\n'
        "  output g\n}\n"
    )
    toks = [(t["text"], _scope(t)) for t in _tokens(f) if t["line"] == 3]
    # the # in the string is text, and \d is no escape (the language keeps it as written)
    assert ("a#b \\d+", "string.quoted.double.het") in toks
    assert (" real comment", "comment.line.number-sign.het") in toks


def test_the_vscode_extension_uses_this_grammar_and_starts_the_server():
    ext = ROOT / "editors" / "vscode"
    manifest = json.loads((ext / "package.json").read_text())
    (lang,) = manifest["contributes"]["languages"]
    assert lang["extensions"] == [".het"]
    (grammar,) = manifest["contributes"]["grammars"]
    # the extension ships a copy (a package holds its own files): it must be this grammar
    assert (ext / grammar["path"]).read_text() == (HERE / "het.tmLanguage.json").read_text()
    assert json.loads((ext / lang["configuration"]).read_text())["comments"]["lineComment"] == "#"
    props = manifest["contributes"]["configuration"]["properties"]
    assert props["hetflow.command"]["default"] == ["hetflow", "lsp"]
    proc = subprocess.run([NODE, "--check", str(ext / manifest["main"])], capture_output=True)
    assert proc.returncode == 0, proc.stderr

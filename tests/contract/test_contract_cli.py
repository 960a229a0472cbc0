"""The command line's contract: spellings, output formats, exit codes, never a traceback.

DESIGN.md: exit codes 0 ok, 1 diagnostics/user error, 2 usage error; `hetflow check
FILE [--format json]` prints like a compiler; `hetflow compile` and `hetflow --help`
never import litellm.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from contract_support import (
    CATALOG,
    FIXTURES,
    cli,
    cli_process,
    locate,
    wf,
    write,
)

JSON_KEYS = {"file", "line", "column", "end_line", "end_column", "severity", "message"}


# ---------------------------------------------------------------- check: text


def test_check_text_is_file_line_col_severity_message_source_caret(tmp_path):
    text = wf('reason a = prompt "Read {{ dco }} now"\noutput a')
    path = write(tmp_path, text)
    ran = cli("check", path)
    assert ran.code == 1
    lines = ran.text.splitlines()
    line, column = locate(text, "dco")
    header = f"{path}:{line}:{column}: error: "
    at = next(i for i, x in enumerate(lines) if x.startswith(header))
    assert "dco" in lines[at] and "did you mean 'doc'?" in lines[at]
    source_line = text.splitlines()[line - 1]
    printed = lines[at + 1]
    assert source_line.strip() in printed
    offset = printed.index(source_line.lstrip()) - (len(source_line) - len(source_line.lstrip()))
    caret = lines[at + 2]
    assert caret.strip().startswith("^"), caret
    assert caret.index("^") == offset + column - 1, (printed, caret)


def test_check_text_reports_every_error_each_with_a_caret(tmp_path):
    text = wf('extract p = splt(doc, lines=2)\nreason a = prompt "{{ dco }}"\noutput a, p')
    path = write(tmp_path, text)
    ran = cli("check", path)
    headers = re.findall(rf"^{re.escape(str(path))}:(\d+):(\d+): error: ", ran.text, re.M)
    assert [int(h[0]) for h in headers] == [3, 4], ran.text
    assert ran.text.count("^") >= 2


def test_check_names_the_file_as_given(tmp_path):
    write(tmp_path, wf('reason a = prompt "{{ dco }}"\noutput a'), "rel.het")
    ran = cli("check", "rel.het", cwd=tmp_path)
    assert re.search(r"^rel\.het:3:\d+: error: ", ran.text, re.M), ran.text


def test_check_clean_file_exits_zero(tmp_path):
    ran = cli("check", FIXTURES / "example_oolong.het")
    assert ran.code == 0 and "error" not in ran.text


# ---------------------------------------------------------------- check: json


def test_check_json_objects_for_editors(tmp_path):
    text = wf('reason a = prompt "{{ dco }}"\nreason lost = prompt "{{ doc }}"\noutput a')
    path = write(tmp_path, text)
    ran = cli("check", path, "--format", "json")
    assert ran.code == 1
    found = json.loads(ran.out)
    assert isinstance(found, list) and len(found) == 2
    for d in found:
        assert JSON_KEYS <= set(d), d
        assert d["file"] == str(path)
        for k in ("line", "column", "end_line", "end_column"):
            assert isinstance(d[k], int) and d[k] >= 1, d
        assert isinstance(d["message"], str) and d["message"]
    assert sorted(d["severity"] for d in found) == ["error", "warning"]


def test_check_json_on_a_syntax_error(tmp_path):
    ran = cli("check", "--format", "json", write(tmp_path, "workflow w {\n  input\n}\n"))
    assert ran.code == 1
    found = json.loads(ran.out)
    assert len(found) == 1 and found[0]["severity"] == "error" and found[0]["line"] == 3


def test_check_json_warnings_only_exit_zero(tmp_path):
    path = write(tmp_path, wf('reason a = prompt "{{ doc }}"\nreason b = prompt "x"\noutput a'))
    ran = cli("check", "--format", "json", path)
    assert ran.code == 0
    assert [d["severity"] for d in json.loads(ran.out)] == ["warning"]


def test_check_json_stdout_is_only_json(tmp_path):
    path = write(tmp_path, wf('reason a = prompt "{{ dco }}"\noutput a'))
    ran = cli("check", "--format", "json", path)
    json.loads(ran.out)  # no summary line mixed in


# ---------------------------------------------------------------- usage errors: exit 2


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["check"],
        ["check", "--format", "xml", "x.het"],
        ["compile"],
        ["compile", "x.het", "--objective", "fastest"],
        ["check", "--no-such-flag", "x.het"],
    ],
)
def test_usage_errors_exit_two(args):
    ran = cli(*args)
    assert ran.code == 2, (args, ran.text)
    assert "Traceback" not in ran.text
    assert "usage" in ran.text.lower()


def test_help_exits_zero_and_lists_the_commands():
    ran = cli("--help")
    assert ran.code == 0
    for command in ("check", "compile"):
        assert command in ran.out


# ---------------------------------------------------------------- litellm stays unimported

PROBE = """
import sys
from hetflow.commands.main import main
try:
    code = main({args!r})
except SystemExit as exc:
    code = exc.code
print("LITELLM_IMPORTED" if any(m == "litellm" or m.startswith("litellm.")
      for m in sys.modules) else "LITELLM_NOT_IMPORTED", code)
"""


def _probe(args: list[str], cwd) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.stdout


@pytest.mark.parametrize("catalog", ["mine", "default"])
def test_compile_does_not_import_litellm(catalog, tmp_path):
    args = [
        "compile",
        str(FIXTURES / "example_contract_review.het"),
        "-o",
        str(tmp_path / "p.json"),
    ]
    if catalog == "mine":
        args += ["--catalog", str(CATALOG)]
    out = _probe(args, tmp_path)
    assert "LITELLM_NOT_IMPORTED 0" in out, out


def test_help_does_not_import_litellm(tmp_path):
    out = _probe(["--help"], tmp_path)
    assert "LITELLM_NOT_IMPORTED 0" in out, out
    out = _probe(["compile", "--help"], tmp_path)
    assert "LITELLM_NOT_IMPORTED 0" in out, out


def test_check_does_not_import_litellm(tmp_path):
    out = _probe(["check", str(FIXTURES / "example_oolong.het")], tmp_path)
    assert "LITELLM_NOT_IMPORTED 0" in out, out


def test_the_installed_command_runs(tmp_path):
    ran = cli_process("check", FIXTURES / "example_web_step.het")
    assert ran.code == 0, ran.text
    ran = cli_process("--version")
    assert ran.code == 0 and re.search(r"\d+\.\d+", ran.text)

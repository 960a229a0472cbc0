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
import tempfile
from pathlib import Path

import pytest
from contract_support import (
    CATALOG,
    FIXTURES,
    assert_no_traceback,
    cli,
    cli_process,
    locate,
    wf,
    write,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hetflow

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


# ---------------------------------------------------------------- bad files: exit 1, one line


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "dir.het").mkdir()
    files = {
        "missing": tmp_path / "missing.het",
        "directory": tmp_path / "dir.het",
        "empty": write(tmp_path, "", "empty.het"),
        "blank": write(tmp_path, "  \n\n# only a comment\n", "blank.het"),
        "binary": tmp_path / "binary.het",
        "latin1": tmp_path / "latin1.het",
        "garbage": write(tmp_path, '}{ ]] $$$ """ ~~~ >= >= 12k tokens', "garbage.het"),
        "plan_json": write(tmp_path, '{"plan_version": 1}', "plan.het"),
        "bad_use": write(
            tmp_path, 'use "nowhere.het"\n' + wf('reason a = prompt "x"\noutput a'), "bad_use.het"
        ),
        "use_cycle": write(tmp_path, 'use "use_cycle.het"\n', "use_cycle.het"),
        "prompt_file_missing": write(
            tmp_path, wf('reason a = prompt file "no.txt"\noutput a'), "pfile.het"
        ),
        "deep": write(
            tmp_path,
            'workflow w { input doc: text\n reason a = prompt "x" '
            + "with k="
            + "[" * 500
            + "]" * 500
            + "\n output a }",
            "deep.het",
        ),
    }
    files["binary"].write_bytes(b"\x00\x01\x02\xff\xfeworkflow\x00")
    files["latin1"].write_bytes("workflow caf\xe9 {}".encode("latin-1"))
    return files


BAD = [
    "missing",
    "directory",
    "empty",
    "blank",
    "binary",
    "latin1",
    "garbage",
    "plan_json",
    "bad_use",
    "use_cycle",
    "prompt_file_missing",
    "deep",
]


# A file of comments only is a file with no declarations, which the language allows;
# formatting does not need the files a `use` or a `prompt file` names; a value nested
# 500 deep may be refused or accepted, but never with a traceback.
MAY_PASS = {
    ("check", "blank"),
    ("fmt", "blank"),
    ("graph", "blank"),
    ("fmt", "bad_use"),
    ("fmt", "use_cycle"),
    ("fmt", "prompt_file_missing"),
    ("check", "deep"),
    ("compile", "deep"),
    ("fmt", "deep"),
    ("graph", "deep"),
}


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("command", ["check", "compile", "fmt", "graph"])
def test_bad_files_are_user_errors_in_every_command(kind, command, tmp_path):
    path = _bad_files(tmp_path)[kind]
    args = [command, path]
    if command == "compile":
        args += ["-o", tmp_path / "out.plan.json", "--catalog", CATALOG]
    ran = cli(*args)
    assert_no_traceback(ran)
    if ran.code == 2 and "invalid choice" in ran.text:
        pytest.skip(f"`hetflow {command}` is not there yet")
    if (command, kind) in MAY_PASS:
        assert ran.code in (0, 1), (kind, command, ran.text)
        return
    assert ran.code == 1, (kind, command, ran.text)
    assert "error" in ran.text, ran.text
    if command == "compile":
        assert not (tmp_path / "out.plan.json").exists()


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "binary", "latin1"])
def test_unreadable_files_are_one_line(kind, tmp_path):
    path = _bad_files(tmp_path)[kind]
    ran = cli("check", path)
    assert ran.code == 1
    lines = [x for x in ran.err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("hetflow: error:"), ran.err
    assert path.name in lines[0]


def test_a_bad_file_does_not_stop_the_others(tmp_path):
    good = write(tmp_path, wf('reason a = prompt "{{ dco }}"\noutput a'), "good.het")
    ran = cli("check", tmp_path / "missing.het", good)
    assert ran.code == 1
    assert "missing.het" in ran.err and re.search(r"good\.het:3:\d+: error", ran.text)


def test_bad_files_through_the_real_program(tmp_path):
    files = _bad_files(tmp_path)
    for args in (["check", files["binary"]], ["compile", files["garbage"], "-o", tmp_path / "p"]):
        ran = cli_process(*args)
        assert_no_traceback(ran)
        assert ran.code == 1, ran.text


def test_bad_catalogs_are_user_errors(tmp_path):
    bad = {
        "not_toml": "this is [not toml",
        "wrong_type": CATALOG.read_text().replace("output_tps = 100000", 'output_tps = "fast"'),
        "unknown_model": CATALOG.read_text().replace('model = "eye"', 'model = "ey"'),
        "negative": CATALOG.read_text().replace("input_per_mtok = 10.0", "input_per_mtok = -1.0"),
        "binary": "\x00\x01",
    }
    for name, content in bad.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(content)
        ran = cli(
            "compile", FIXTURES / "one_step.het", "-o", tmp_path / "p.json", "--catalog", path
        )
        assert_no_traceback(ran)
        assert ran.code == 1, (name, ran.text)
        assert path.name in ran.err or name == "binary", (name, ran.err)


# ---------------------------------------------------------------- fuzz: never a traceback

TOKENS = [
    "workflow",
    "schema",
    "use",
    "input",
    "output",
    "objective",
    "budget",
    "deadline",
    "extract",
    "reason",
    "zoom",
    "recurse",
    "map",
    "reduce",
    "prompt",
    "file",
    "task",
    "root",
    "sub",
    "needs",
    "using",
    "on",
    "with",
    "over",
    "in",
    "at",
    "depth",
    "enum",
    "list",
    "text",
    "image",
    "number",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "=",
    ",",
    "~",
    ">=",
    "?",
    "$0.5",
    "5m",
    "128k",
    "tokens",
    "items",
    "3",
    '"x {{ a }}"',
    '"""\n y\n"""',
    "a",
    "b",
    "doc",
    "split",
    "count",
    "field",
    "\n",
    " ",
    "#c\n",
    "{{",
    "}}",
    "'",
    "\\",
    "cost",
    "reasoning",
    ">= 4",
    "-",
    "cerebras-wse3",
    "\t",
    "é",
    "\x00",
]

program_text = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join),
    st.text(max_size=200),
    st.lists(st.sampled_from(TOKENS), max_size=40).map(
        lambda ts: wf(" ".join(ts) + '\nreason a = prompt "{{ doc }}"\noutput a')
    ),
)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(program_text)
def test_fuzz_check_never_raises_but_het_errors(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.het"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            found = hetflow.check(path)
        except hetflow.HetError as exc:
            assert "\n" not in str(exc).strip() or isinstance(exc, hetflow.DiagnosticError)
            return
        for d in found:
            assert d.pos.line >= 0 and d.message


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(program_text)
def test_fuzz_every_command_exits_cleanly(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.het"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        for args in (
            ["check", path],
            ["check", "--format", "json", path],
            ["compile", path, "-o", Path(tmp) / "p.json", "--catalog", CATALOG],
        ):
            ran = cli(*args)
            assert_no_traceback(ran)
            assert ran.code in (0, 1), (args, ran.text)


# ---------------------------------------------------------------- litellm stays unimported

PROBE = """
import sys
from hetflow.cli import main
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


# ---------------------------------------------------------------- bad plans and catalogs

BAD_PLANS = {
    "not_json": "[1, 2",
    "a_list": "[1, 2, 3]",
    "no_version": '{"workflow": "w", "nodes": [], "edges": []}',
    "newer": '{"plan_version": 999, "workflow": "w", "nodes": [], "edges": []}',
    "bad_op": '{"plan_version": 1, "workflow": "w", "nodes": [{"id": "a", "op": "teleport",'
    ' "step": "a"}], "edges": []}',
    "binary": "\x00\x01\x02",
    "deep": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("kind", sorted(BAD_PLANS))
@pytest.mark.parametrize("command", ["run", "explain", "simulate", "graph"])
def test_bad_plan_files_are_one_line_user_errors(kind, command, tmp_path):
    path = tmp_path / f"{kind}.plan.json"
    path.write_text(BAD_PLANS[kind])
    ran = cli(command, path)
    assert_no_traceback(ran)
    if ran.code == 2 and "invalid choice" in ran.text:
        pytest.skip(f"`hetflow {command}` is not there yet")
    assert ran.code == 1, (kind, command, ran.text)
    assert ran.err.strip().startswith("hetflow: error:") and path.name in ran.err, ran.err


@pytest.mark.parametrize(
    "content",
    [
        "x = " + "[" * 100_000 + "]" * 100_000,
        "[catalog]\nname = 'n'\n" + "".join(f"[t{i}]\n" for i in range(3)) + "a = {" * 2000,
    ],
)
def test_pathological_catalogs_are_user_errors(content, tmp_path):
    path = tmp_path / "odd.toml"
    path.write_text(content)
    for args in (
        ["catalog", "validate", path],
        ["compile", FIXTURES / "one_step.het", "-o", tmp_path / "p.json", "--catalog", path],
    ):
        ran = cli(*args)
        assert_no_traceback(ran)
        assert ran.code == 1, ran.text

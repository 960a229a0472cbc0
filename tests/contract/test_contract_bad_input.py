"""No input makes any command print a Python traceback (DESIGN.md: "never a Python
traceback for a user's mistake"): missing, empty, binary, garbage and pathological .het,
plan and catalog files, and fuzzed programs, through every command.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from contract_support import (
    CATALOG,
    FIXTURES,
    assert_no_traceback,
    cli,
    cli_process,
    wf,
    write,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hetflow

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

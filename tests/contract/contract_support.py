"""Helpers for the contract tests: run the CLI, build small programs, read results.

The contract tests read hetflow only through what LANGUAGE.md and DESIGN.md promise:
the `hetflow` command, `import hetflow`, the plan's JSON and the catalog's keys.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = ("example_oolong.het", "example_web_step.het", "example_contract_review.het")
CATALOG = FIXTURES / "two_chips.toml"
ONE = FIXTURES / "one_step.het"  # one model step: slow chip for cost, fast for latency


@dataclasses.dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def cli(*args: str | os.PathLike, cwd: str | os.PathLike | None = None) -> Ran:
    """Run `hetflow ARGS` in this process (fast); SystemExit becomes the exit code."""
    from hetflow.commands.main import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse usage errors and --help
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        os.chdir(old)
    return Ran(int(code or 0), out.getvalue(), err.getvalue())


def cli_process(*args: str | os.PathLike, cwd=None, env=None, stdin: bytes = b"") -> Ran:
    """Run `python -m hetflow ARGS` as a real program, as a user's shell would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "hetflow", *map(str, args)],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        timeout=120,
    )
    return Ran(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def assert_no_traceback(ran: Ran) -> None:
    assert "Traceback" not in ran.text, ran.text
    assert ran.code in (0, 1, 2), (ran.code, ran.text)


def wf(body: str, *, inputs: str = "input doc: text", head: str = "", name: str = "w") -> str:
    """A one-workflow program: `head` (schemas, uses) then `workflow NAME { inputs body }`."""
    body = textwrap.dedent(body).strip("\n")
    inner = textwrap.indent(textwrap.dedent(inputs).strip("\n") + "\n" + body, "  ")
    return f"{textwrap.dedent(head).strip()}\nworkflow {name} {{\n{inner}\n}}\n".lstrip()


def write(tmp_path: Path, text: str, name: str = "flow.het") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def diagnostics(text: str, tmp_path: Path, name: str = "flow.het") -> list[dict]:
    """`hetflow check --format json` on the text, as a list of dicts."""
    path = write(tmp_path, text, name)
    ran = cli("check", "--format", "json", path)
    assert_no_traceback(ran)
    found = json.loads(ran.out)
    assert isinstance(found, list), ran.out
    return found


def errors(text: str, tmp_path: Path) -> list[dict]:
    return [d for d in diagnostics(text, tmp_path) if d["severity"] == "error"]


def locate(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the n-th occurrence of needle in text."""
    at = -1
    for _ in range(occurrence):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return line, column


def strings_in(obj, seen=None) -> list[str]:
    """Every str held anywhere in a parsed program (dataclasses, tuples, dicts)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, str):
        return [obj]
    found: list[str] = []
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            found += strings_in(getattr(obj, f.name), seen)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            found += strings_in(k, seen) + strings_in(v, seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            found += strings_in(v, seen)
    elif hasattr(obj, "__dict__") and not callable(obj):
        for v in vars(obj).values():
            found += strings_in(v, seen)
    return found


def compile_json(het: Path, *options: str, tmp_path: Path) -> tuple[Ran, dict | None]:
    """`hetflow compile HET -o PLAN --catalog ... OPTIONS`: the run and the plan's JSON."""
    plan_path = tmp_path / f"{het.stem}.plan.json"
    if plan_path.exists():
        plan_path.unlink()
    args = ["compile", het, "-o", plan_path]
    if "--catalog" not in options:
        args += ["--catalog", CATALOG]
    ran = cli(*args, *options)
    assert_no_traceback(ran)
    plan = json.loads(plan_path.read_text()) if ran.code == 0 and plan_path.exists() else None
    return ran, plan


def node(plan: dict, node_id: str) -> dict:
    for n in plan["nodes"]:
        if n["id"] == node_id:
            return n
    raise AssertionError(f"no node {node_id!r} in {[n['id'] for n in plan['nodes']]}")


def _offer(assignment: dict) -> str:
    """`MODEL@CHIP` of an assignment or alternative."""
    return f"{assignment['model']}@{assignment['chip']}"


def _chip(plan: dict, node_id: str = "answer") -> str:
    return node(plan, node_id)["assignment"]["chip"]


def _clean(text: str, tmp_path: Path, name: str = "flow.het") -> list[dict]:
    """`hetflow check --format json` found no error in the text; every diagnostic it found."""
    found = diagnostics(text, tmp_path, name)
    assert [d for d in found if d["severity"] == "error"] == [], (text, found)
    return found


def _one(found: list[dict], severity: str = "error") -> dict:
    """The one diagnostic of that severity."""
    picked = [d for d in found if d["severity"] == severity]
    assert len(picked) == 1, found
    return picked[0]


def _at(d: dict, text: str, needle: str, occurrence: int = 1) -> None:
    """The diagnostic starts at the n-th occurrence of needle in text."""
    line, column = locate(text, needle, occurrence)
    assert (d["line"], d["column"]) == (line, column), (d, needle)
    assert d["end_line"] >= d["line"]
    if d["end_line"] == d["line"]:
        assert d["end_column"] >= d["column"]

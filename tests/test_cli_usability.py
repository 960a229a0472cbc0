"""What a new user trips over (issue 14): each item seen, pinned by a test.

These run the real command (``main``) and read what it prints, as a user would.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.fixtures import *  # noqa: F403  (the server and home fixtures)

from hetflow.commands.main import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOOD = 'workflow w {\n  input x: text\n  reason a = prompt "{{ x }}"\n  output a\n}\n'


# ---- item 10: a mistyped flag -------------------------------------------------------


def test_a_mistyped_flag_shows_the_subcommands_usage_and_a_did_you_mean(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compile", "x.het", "--budjet", "0.1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: hetflow compile ")
    assert "hetflow compile: error: unrecognized arguments: --budjet 0.1" in err
    assert "did you mean '--budget'?" in err


def test_a_mistyped_command_gets_a_did_you_mean(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compil", "x.het"])
    assert exc.value.code == 2
    assert "did you mean 'compile'?" in capsys.readouterr().err


def test_an_option_is_never_silently_abbreviated(capsys):
    """``--input`` on a command without it must not quietly mean ``--input-size``."""
    with pytest.raises(SystemExit):
        main(["graph", "x.het", "--work", "w"])
    assert "did you mean '--workflow'?" in capsys.readouterr().err


def test_a_mistyped_flag_of_a_nested_command_shows_that_command(capsys):
    with pytest.raises(SystemExit):
        main(["catalog", "list", "--formt", "json"])
    err = capsys.readouterr().err
    assert err.startswith("usage: hetflow catalog list ") and "'--format'" in err


# ---- item 4: check --format json holds every error ----------------------------------


def test_check_json_holds_file_level_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.het").write_text("")
    assert main(["check", "--format", "json", "nonexist.het", "empty.het"]) == 1
    out = capsys.readouterr()
    found = json.loads(out.out)
    assert [(d["file"], d["line"], d["severity"]) for d in found] == [
        ("nonexist.het", 1, "error"),
        ("empty.het", 1, "error"),
    ]
    assert found[0]["message"] == "no such file"
    assert "is empty" in found[1]["message"]
    assert out.err == ""


def test_check_text_counts_unreadable_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["check", "nonexist.het"]) == 1
    out = capsys.readouterr()
    assert out.err.strip() == "hetflow: error: nonexist.het: no such file"
    assert out.out.strip() == "1 error, 0 warnings in 1 file"


# ---- item 14: check DIR, fmt - -----------------------------------------------------


def test_check_a_directory_checks_the_het_files_under_it(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.het").write_text(GOOD)
    (tmp_path / "sub" / "b.het").write_text(GOOD.replace("text", "txt"))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.het").write_text("nonsense")
    (tmp_path / "notes.txt").write_text("nonsense")
    assert main(["check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "b.het:2:12: error: unknown type 'txt'" in out
    assert "1 error, 0 warnings in 2 files" in out


def test_check_an_empty_directory_says_so(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 1
    assert "no .het file under it" in capsys.readouterr().err


def test_check_examples_directory_is_clean(capsys):
    assert main(["check", str(EXAMPLES)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_check_and_fmt_read_standard_input(capsys, monkeypatch):
    messy = GOOD.replace("  input", "input")
    monkeypatch.setattr(sys, "stdin", io.StringIO(messy))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == GOOD
    monkeypatch.setattr(sys, "stdin", io.StringIO(messy))
    assert main(["fmt", "--check", "-"]) == 1
    assert capsys.readouterr().out == "would reformat -\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(GOOD.replace("{{ x }}", "{{ y }}")))
    assert main(["check", "--format", "json", "-"]) == 1
    (d,) = json.loads(capsys.readouterr().out)
    assert d["file"] == "<stdin>" and "name 'y' is not defined" in d["message"]


# ---- colour: on a terminal only -----------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_diagnostics_are_coloured_on_a_terminal_only(monkeypatch):
    from hetflow.commands.output import paint

    text = "a.het:2:3: error: name 'x' is not defined\n  foo = x\n        ^"
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    coloured = paint(text, _Tty())
    assert "\033[1;31merror:" in coloured and "\033[32m^" in coloured
    assert paint(text, io.StringIO()) == text  # a pipe
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint(text, _Tty()) == text


def test_check_in_a_pipe_prints_no_escape_codes(tmp_path):
    bad = tmp_path / "bad.het"
    bad.write_text(GOOD.replace("text", "txt"))
    out = subprocess.run(
        [sys.executable, "-m", "hetflow.commands.main", "check", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 1 and "unknown type 'txt'" in out.stdout
    assert "\033[" not in out.stdout + out.stderr


# ---- help text and completion ---------------------------------------------------------


def _parsers(parser, path=()):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                assert helps.get(name), f"hetflow {' '.join(path + (name,))} has no help"
                yield from _parsers(sub, path + (name,))


def test_every_subcommand_and_positional_has_help():
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings and action.dest != "help":
                assert action.help, f"hetflow {' '.join(path)}: {action.dest} has no help"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_name_every_command(shell, capsys):
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for name in ("check", "compile", "explain", "simulate", "run", "catalog", "validate"):
        assert name in script
    assert "--objective" in script or "-l objective" in script


def test_bash_completion_completes_commands_options_and_choices(capsys, tmp_path):
    import shutil

    if not shutil.which("bash"):
        pytest.skip("no bash")
    main(["completion", "bash"])
    script = tmp_path / "c.bash"
    script.write_text(capsys.readouterr().out)

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        out = subprocess.run(
            [
                "bash",
                "-c",
                f"source {script}; COMP_WORDS=(hetflow {line}); COMP_CWORD={len(words)}; "
                '_hetflow; echo "${COMPREPLY[@]}"',
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert complete("comp") == ["compile", "completion"]
    assert complete("catalog", "v") == ["validate"]
    assert complete("compile", "--obj") == ["--objective"]
    assert complete("compile", "--objective", "") == ["cost", "latency", "balanced"]


# ---- consistency: the same options on compile, explain, simulate and run -------------

SHARED = (
    "--objective",
    "--budget",
    "--deadline",
    "--catalog",
    "--workflow",
    "--input",
    "-i",
    "--calibrate",
    "--quality",
    "--min-quality",
    "--learn-from",
)


@pytest.mark.parametrize("command", ["compile", "explain", "simulate", "run"])
def test_the_plan_options_are_on_every_command_that_makes_a_plan(command):
    sub = _command_parser(command)
    flags = {s for a in sub._actions for s in a.option_strings}
    assert set(SHARED) <= flags, set(SHARED) - flags
    if command != "run":  # run is sized by its real inputs
        assert "--input-size" in flags
    budget = next(a for a in sub._actions if "--budget" in a.option_strings)
    assert budget.type("$0.50") == 0.5  # one spelling of money everywhere


def _command_parser(name: str):
    import argparse

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def test_compile_explain_and_simulate_size_the_plan_by_real_inputs(tmp_path, capsys):
    contract = tmp_path / "contract.txt"
    contract.write_text("\n\n".join(f"Clause {i}: the buyer shall indemnify." for i in range(30)))
    het = str(EXAMPLES / "contract_review.het")
    main(["compile", het, "-o", str(tmp_path / "p.json"), "--format", "json"])
    few = json.loads(capsys.readouterr().out)
    main(["compile", het, "-o", str(tmp_path / "p.json"), "-i", f"contract=@{contract}",
          "--format", "json"])  # fmt: skip
    many = json.loads(capsys.readouterr().out)
    calls = {s["id"]: s["calls"] for s in many["steps"]}
    assert calls["verdict"] == 30 != {s["id"]: s["calls"] for s in few["steps"]}["verdict"]
    assert main(["explain", het, "-i", f"contract=@{contract}", "--format", "json"]) == 0
    explained = json.loads(capsys.readouterr().out)
    verdict = next(s for s in explained["steps"] if s["id"] == "verdict")
    assert verdict["work"]["parallel"] == 30
    assert main(["simulate", het, "-i", f"contract=@{contract}", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["workflow"] == "contract_review"


def test_plan_shaping_options_on_a_plan_file_say_to_recompile(tmp_path, capsys):
    plan = tmp_path / "p.json"
    assert main(["compile", str(EXAMPLES / "oolong.het"), "-o", str(plan)]) == 0
    capsys.readouterr()
    for command in ("explain", "simulate", "run"):
        assert main([command, str(plan), "--objective", "cost"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("hetflow: error: --objective needs a .het FILE"), err


# ---- --format json: compile's table, explain, catalog show ----------------------------


def test_compile_format_json_is_the_table_as_data(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["compile", str(EXAMPLES / "oolong.het"), "-o", str(out), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"workflow", "objective", "steps", "total", "baseline", "plan"}
    assert data["plan"] == str(out) and out.exists()
    step = data["steps"][0]
    assert set(step) >= {"id", "model", "chip", "calls", "input_tokens", "cost_usd", "latency_s"}
    assert data["total"]["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in data["steps"]))
    # hidden reasoning is in the data as in the text table's "tokens in/out"
    reasoning = sum(s["reasoning_tokens"] for s in data["steps"])
    assert data["total"]["reasoning_tokens"] == pytest.approx(reasoning)
    assert data["baseline"]["reasoning_tokens"] > 0  # the baseline is a reasoning model


def test_explain_format_json_lists_candidates_and_the_winner(capsys):
    assert main(["explain", str(EXAMPLES / "oolong.het"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    model_steps = [s for s in data["steps"] if s["model"]]
    assert model_steps
    for s in model_steps:
        chosen = [c["offer"] for c in s["candidates"] if c["chosen"]]
        assert chosen == [s["chosen"]]


# ---- item 3: an --input that is a directory ------------------------------------------


def test_an_input_naming_a_directory_says_so(capsys):
    code = main(["run", str(EXAMPLES / "contract_review.het"), "-i", f"contract=@{EXAMPLES}"])
    assert code == 1
    assert "is a directory; give a file" in capsys.readouterr().err


def test_a_plain_value_naming_a_file_warns_that_at_reads_it(tmp_path, capsys):
    """Seen: `-i contract=examples/data/contract.txt` ran on the path's text, silently."""
    path = EXAMPLES / "data" / "contract.txt"
    argv = ["compile", str(EXAMPLES / "contract_triage.het"), "--catalog", "local"]
    assert main([*argv, "-o", str(tmp_path / "p.json"), "-i", f"contract={path}"]) == 0
    err = capsys.readouterr().err
    assert (
        f"hetflow: warning: --input contract={path} passes the text '{path}'; "
        f"to pass the file's contents write contract=@{path}"
    ) in err
    assert main([*argv, "-o", str(tmp_path / "p.json"), "-i", f"contract=@{path}"]) == 0
    assert "warning: --input" not in capsys.readouterr().err


# ---- item 1: run_sync's error is not chained to asyncio's -----------------------------


def test_run_sync_error_has_no_chained_traceback(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if "KEY" not in k and "TOKEN" not in k}
    env["PYTHONPATH"] = str(ROOT)
    code = (
        "import hetflow\n"
        "plan = hetflow.compile('examples/contract_review.het', objective='cost')\n"
        "hetflow.run_sync(plan, inputs={'contract': 'a clause'})\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert out.returncode == 1
    assert "missing API key" in out.stderr
    assert 'the local catalog runs on this machine: --catalog local, or catalog="local"' in (
        out.stderr
    )  # a new user without keys learns how to run anyway
    assert "During handling of the above exception" not in out.stderr
    assert "no running event loop" not in out.stderr


# ---- items 5 and 6: catalog validate, every error at once, in the file's words --------

BAD_CATALOG = """[catalog]
name = "lab"

[chips.groq-lpu]
vendor = "Groq"

[models.m]
reasoning = 3
context = "lots"

[[offers]]
model = "m"
chip = "grok-lpu"
litellm = "openai/m"
output_tps = 100
prefill_tps = 1000
ttft_ms = 100
input_per_mtok = 1.0
output_per_mtok = 1.0
api_key_env = "sk-abcdefabcdefabcdefabcdef"
"""


def test_catalog_validate_reports_every_error_at_once(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(BAD_CATALOG)
    assert main(["catalog", "validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert 'models.m.context: takes a number of tokens, like 131072 or "128k"' in err
    assert '(got "lots")' in err and "Input should be" not in err
    assert "api_key_env: must name an environment variable" in err
    assert "sk-abcdef" not in err
    assert "unknown chip 'grok-lpu'; did you mean 'groq-lpu'?" in err
    assert err.strip().endswith("bad.toml: 3 errors")


def test_catalog_context_takes_a_size_as_the_language_does(tmp_path, capsys):
    path = tmp_path / "ok.toml"
    path.write_text(
        BAD_CATALOG.replace('"lots"', '"128k"')
        .replace("grok-lpu", "groq-lpu")
        .replace('"sk-abcdefabcdefabcdefabcdef"', '"LAB_KEY"')
    )
    assert main(["catalog", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 chips, 1 model, 1 offer" in out  # not '1 models, 1 offers'
    from hetflow.catalog import load_catalog

    assert load_catalog(path).models["m"].context == 128_000


def test_catalog_validate_of_a_missing_file_says_it_once(capsys):
    assert main(["catalog", "validate", "nope.toml"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "hetflow: error: catalog file 'nope.toml' not found "
        "(the shipped catalogs are 'default' and 'local')\n"
    )


def test_a_misspelt_shipped_catalog_gets_a_did_you_mean(capsys):
    assert main(["compile", str(EXAMPLES / "contract_triage.het"), "--catalog", "lcoal"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "hetflow: error: catalog file 'lcoal' not found; "
        "did you mean the shipped catalog 'local'?\n"
    )


def test_catalog_help_names_the_shipped_catalogs(capsys):
    for argv in (["compile", "--help"], ["run", "--help"], ["catalog", "show", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = " ".join(capsys.readouterr().out.split())
        assert "'default'" in text and "'local'" in text, argv


def test_show_names_the_shipped_catalog_that_has_the_entry(capsys):
    assert main(["catalog", "show", "smollm2-135m"]) == 1
    assert capsys.readouterr().err == (
        "hetflow: error: catalog 'default' has no model, chip or offer 'smollm2-135m'; "
        "the shipped catalog 'local' has it (--catalog local)\n"
    )
    assert main(["catalog", "show", "smollm2-135m", "--catalog", "local"]) == 0


def test_catalog_show_format_json(capsys):
    assert main(["catalog", "show", "groq-lpu", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "chip" and data["chip"]["name"] == "groq-lpu"
    assert all(o["chip"] == "groq-lpu" and "@" in o["id"] for o in data["offers"])
    offer = data["offers"][0]["id"]
    assert main(["catalog", "show", offer, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "offer" and data["offer"]["id"] == offer
    assert {"model", "chip"} <= set(data)
    assert main(["catalog", "show", "grok-lpu", "--format", "json"]) == 1
    assert "did you mean 'groq-lpu'?" in capsys.readouterr().err


# ---- item 14: small things ------------------------------------------------------------


def test_the_missing_keys_message_asks_only_for_keys_the_plan_needs():
    import re

    import hetflow
    from hetflow.errors import HetError
    from hetflow.runtime.keys import check_keys

    for example in ("oolong.het", "contract_review.het"):
        plan = hetflow.compile(str(EXAMPLES / example))
        with pytest.raises(HetError) as caught:
            check_keys(plan, env={})
        named = re.findall(r"\b([A-Z][A-Z0-9_]*_KEY)\b", str(caught.value))
        assert named
        check_keys(plan, env=dict.fromkeys(named, "x"))  # those keys are enough
        for var in named:  # and each of them is needed
            with pytest.raises(HetError):
                check_keys(plan, env={v: "x" for v in named if v != var})


@pytest.mark.parametrize(
    "cheaper, faster, said",
    [
        (1.0, 1.0, "the same cost and speed as all on m @ c"),
        (2.0, 1.02, "2.0x cheaper than all on m @ c, at the same speed"),
        (0.98, 3.0, "3.0x faster than all on m @ c, at the same cost"),
        (6.8, 4.9, "6.8x cheaper, 4.9x faster than all on m @ c"),
    ],
)
def test_a_ratio_of_one_is_said_as_the_same(cheaper, faster, said):
    from hetflow.plan.model import Plan

    plan = Plan.load(_plan_file())
    baseline = plan.baseline.model_copy(
        update={
            "model": "m",
            "chip": "c",
            "cheaper_x": cheaper,
            "faster_x": faster,
            "reasoning_effort": None,
        }
    )
    assert plan.model_copy(update={"baseline": baseline}).comparison() == said


def _plan_file() -> Path:
    import tempfile

    import hetflow

    path = Path(tempfile.mkdtemp()) / "p.json"
    hetflow.compile(str(EXAMPLES / "oolong.het")).save(path)
    return path


def test_generated_files_are_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "*.plan.json" in ignored  # compile's default output, next to the .het
    assert "/run.jsonl" in ignored  # README's trace


def test_run_says_it_is_starting_on_a_terminal(monkeypatch, capsys):
    from hetflow.commands import run as command

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    command.starting("reading flow.het")
    assert err.getvalue() == "hetflow run: reading flow.het ...\n"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    command.starting("reading flow.het")
    assert sys.stderr.getvalue() == ""  # not in a pipe or a log


def test_the_progress_line_never_counts_past_its_total(server, home, monkeypatch):
    """Item 7: a map's items are results of one step, not more steps than the plan has."""
    from support.catalogs import local_catalog
    from support.replies import contract, contract_model

    import hetflow
    import hetflow.runtime.orchestrate as orchestrate
    from hetflow.runtime import progress as progress_module
    from hetflow.runtime import run_sync

    server.script("coder", reply=contract_model)
    plan = hetflow.compile(
        str(EXAMPLES / "contract_review.het"), catalog=str(local_catalog(home, server.url))
    )
    lines: list[str] = []

    class Watched(progress_module.Progress):
        def __init__(self, enabled: bool, total: int):
            super().__init__(enabled, total)
            self.enabled = True  # as on a terminal, without drawing

        def __enter__(self):
            return self

        def _refresh(self) -> None:
            lines.append(self.line())

    monkeypatch.setattr(orchestrate, "Progress", Watched)
    run_sync(plan, {"contract": contract(9)}, progress=True, cache=False)
    assert lines
    last = lines[-1]
    assert last.startswith("hetflow run: 5/5 steps · "), last
    for line in lines:
        done, total = line.split(" steps")[0].rsplit(" ", 1)[-1].split("/")
        assert int(done) <= int(total) == 5


def test_fmt_a_directory_formats_the_het_files_under_it(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.het").write_text(GOOD.replace("  input", "input"))
    (tmp_path / "b.het").write_text(GOOD)
    assert main(["fmt", "--check", str(tmp_path)]) == 1
    said = capsys.readouterr()
    assert said.out == f"would reformat {tmp_path / 'sub' / 'a.het'}\n"
    assert said.err == "1 file would be reformatted, 1 file already formatted\n"
    assert main(["fmt", str(tmp_path)]) == 0
    assert (tmp_path / "sub" / "a.het").read_text() == GOOD
    assert capsys.readouterr().err == "1 file reformatted, 1 file already formatted\n"
    assert main(["fmt", str(tmp_path)]) == 0
    assert capsys.readouterr().err == "2 files already formatted\n"


@pytest.mark.parametrize("shell, check", [("zsh", ["zsh", "-n"]), ("fish", ["fish", "-n"])])
def test_zsh_and_fish_completion_scripts_are_valid(shell, check, tmp_path, capsys):
    import shutil

    if not shutil.which(check[0]):
        pytest.skip(f"no {shell}")
    main(["completion", shell])
    script = tmp_path / f"hetflow.{shell}"
    script.write_text(capsys.readouterr().out)
    out = subprocess.run([*check, str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    if shell == "fish":
        got = subprocess.run(
            ["fish", "-c", f"source {script}; complete -C 'hetflow catalog '"],
            capture_output=True,
            text=True,
        ).stdout
        assert [line.split("\t")[0] for line in got.splitlines()] == [
            "list",
            "measure",
            "show",
            "validate",
        ]


def test_an_input_with_no_size_is_said_to_be_assumed(tmp_path, capsys):
    """Seen: compile without -i estimated 15 calls where the real contract made 8, and
    said nothing of having assumed the contract's size."""
    source = str(EXAMPLES / "contract_triage.het")
    argv = ["compile", source, "--catalog", "local", "-o", str(tmp_path / "p.json")]
    assert main(argv) == 0
    err = capsys.readouterr().out  # the table's trailer
    assert (
        f"{source}:4:9: input 'contract' has no size, so its estimate assumes 2,000 tokens: "
        "give the real input (-i contract=@FILE), a size (e.g. --input-size contract=8k) or "
        "a hint (input contract: text ~ 8k tokens)"
    ) in err
    for sized in (["-i", "contract=short"], ["--input-size", "contract=8k"]):
        assert main([*argv, *sized]) == 0
        assert "has no size" not in capsys.readouterr().out
    support = ["compile", str(EXAMPLES / "support_triage.het"), "-o", str(tmp_path / "s.json")]
    assert main(support) == 0
    assert "has no size" not in capsys.readouterr().out  # `input tickets: text ~ 200k tokens`

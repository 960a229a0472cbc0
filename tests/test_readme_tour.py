"""README's commands run as written, in README's order, from a fresh directory.

tests/test_docs_commands.py checks that every documented command parses; this one runs
README's: its first command's `hetflow` part and the tour, one after another (the tour's
later lines read what its earlier ones wrote: `oolong.plan.json`, `run.jsonl`).  A
command on hosted models runs with no provider key set, and must then stop before any
call, naming the keys to set — what README promises.  The commands that run the local
model are marked `local` (skipped without it, unless HETFLOW_REQUIRE_LOCAL=1).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from test_docs_commands import commands

from hetflow.commands.main import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Commands README shows that are not one-shot: `hetflow lsp` serves an editor on
# standard input until it closes (tests/test_lsp*.py drive it).
SERVES = {"lsp"}
# Variables a provider's key may be in: none is set while the tour runs.
KEY = re.compile(r"_(API_KEY|TOKEN|KEY)$")


def _readme_commands() -> list[tuple[int, str]]:
    """The first command's `hetflow` parts (`... && hetflow models pull && hetflow
    run ...`), then every `hetflow` line of README's code blocks."""
    text = README.read_text(encoding="utf-8")
    first = next(line for line in text.splitlines() if 'pip install ".[local]"' in line)
    number = text.splitlines().index(first) + 1
    parts = [p.strip() for p in first.split("&&")]
    out = [(number, p) for p in parts if p.startswith("hetflow ")]
    out += [(n, t) for n, t in commands(README) if (n, t) not in out]
    return out


def _local(text: str) -> bool:
    """A command that runs the local model (or fetches it)."""
    return (
        "--catalog local" in text
        and text.split()[1] in ("run", "models")
        or (text.split()[1:3] == ["catalog", "measure"] or text.startswith("hetflow models"))
    )


def _hosted_run(text: str) -> bool:
    return text.split()[1] == "run" and "--catalog local" not in text


def test_readme_shows_the_tour_and_its_first_command():
    said = [t for _, t in _readme_commands()]
    assert any(t.startswith("hetflow run") and "--catalog local" in t for t in said)
    assert len(said) >= 15


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A directory holding only the examples (linked), with empty journal and call
    cache, no provider key, and no Ray cluster to join."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    models = os.environ.get("HETFLOW_MODELS_DIR")
    if not models:  # the pulled weights stay where `hetflow models pull` put them
        from hetflow.runtime.local.weights import models_dir

        models = str(models_dir())
    monkeypatch.setenv("HETFLOW_MODELS_DIR", models)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path))  # `completion bash > ~/.local/...`
    for name in list(os.environ):
        if KEY.search(name) or name == "RAY_ADDRESS":
            monkeypatch.delenv(name)
    return tmp_path


def _argv(text: str) -> tuple[list[str], str | None]:
    """A README line as a shell would split it, and the file `>` sends its output to."""
    words = shlex.split(text, comments=True)[1:]
    if ">" in words:
        at = words.index(">")
        return words[:at], os.path.expanduser(words[at + 1])
    return words, None


def _run_the_tour(fresh, capsys, with_local: bool) -> list[str]:
    ran = []
    for number, text in _readme_commands():
        argv, into = _argv(text)
        if argv[0] in SERVES or (_local(text) and not with_local):
            continue
        if not with_local and "run.jsonl" in argv and argv[0] == "compile":
            continue  # it calibrates from the local run's trace
        code = main(argv)
        said = capsys.readouterr()
        where = f"README.md:{number}: `{text}`"
        if _hosted_run(text):
            assert code == 1, f"{where} ran without keys"
            assert "hetflow: error: missing API key" in said.err, f"{where}\n{said.err}"
            assert "no call was made" in said.err, f"{where}\n{said.err}"
        else:
            assert code == 0, f"{where} exited {code}\n{said.err}"
            assert "Traceback" not in said.err, f"{where}\n{said.err}"
        if into:
            Path(into).parent.mkdir(parents=True, exist_ok=True)
            Path(into).write_text(said.out)
        ran.append(text)
    return ran


def test_the_tour_runs_as_written_without_the_local_model(fresh, capsys):
    ran = _run_the_tour(fresh, capsys, with_local=False)
    assert any(t.startswith("hetflow compile examples/oolong.het -o") for t in ran)
    assert (fresh / "oolong.plan.json").exists() and (fresh / "oolong.html").exists()
    assert any("--backend ray" in t for t in ran)  # refused for want of keys, before Ray


@pytest.mark.local
@pytest.mark.slow
def test_the_tour_runs_as_written_on_the_local_model(fresh, capsys):
    from hetflow.runtime.local import server as local_server

    if local_server.xllamacpp() is None and os.environ.get("HETFLOW_REQUIRE_LOCAL") != "1":
        pytest.skip('the local extra is not installed (pip install ".[local]")')
    ran = _run_the_tour(fresh, capsys, with_local=True)
    assert any("--calibrate run.jsonl" in t for t in ran)
    assert (fresh / "run.jsonl").read_text().strip()  # the local run's trace
    # `catalog measure` wrote figures that agree with each other: one request's output
    # speed is measured twice (output_tps, throughput at 1 in flight), the same way
    from hetflow.catalog import load_catalog
    from hetflow.runtime.local.measure import levels

    measured = load_catalog(fresh / "measured.toml").offers[0]
    assert measured.source.startswith("measured by hetflow catalog measure on ")
    assert measured.prefill_tps > 0 and measured.output_tps > 0 and measured.ttft_ms >= 0
    assert sorted(measured.throughput) == levels(measured.concurrency)
    assert measured.throughput[1] == pytest.approx(measured.output_tps, rel=0.35)


@pytest.mark.local
@pytest.mark.slow
def test_the_python_example_runs_as_written_on_the_local_model(fresh, capsys):
    from hetflow.runtime.local import server as local_server

    if local_server.xllamacpp() is None and os.environ.get("HETFLOW_REQUIRE_LOCAL") != "1":
        pytest.skip('the local extra is not installed (pip install ".[local]")')
    text = README.read_text(encoding="utf-8")
    code = text.split("From Python:", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md (From Python)", "exec"), {})
    printed = capsys.readouterr().out.strip()
    assert printed and printed.endswith(" 0.0")  # the summary, then $0 on this machine
    assert (fresh / "plan.json").exists()

"""Every file hetflow reads besides `.het` sources, fuzzed through the real commands.

Catalogs (TOML), plans (JSON), traces (JSON lines, for ``--calibrate``) and ``--input``
values are mutated from valid ones — lines deleted, duplicated and swapped, values
replaced by other kinds of value, keys dropped — and handed to the commands that read
them.  Each must either work or end with a user error (exit 1 or 2, a one-line
message or positioned diagnostics); never an internal error (exit 70) or a traceback.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.catalogs import local_catalog
from support.openai_server import OpenAIServer

import hetflow
from hetflow.catalog.load import default_catalog_bytes
from hetflow.commands.main import main

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "examples" / "contract_review.het"
OOLONG = ROOT / "examples" / "oolong.het"
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def exits_cleanly(argv: list[str], capsys) -> int:
    """Run a command; it must end as a user error at worst, never as a crash."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (0, 1, 2), (code, err)
    assert "internal error" not in err and "Traceback" not in err, err
    if code:
        assert err.strip(), "a failing command says why"
    return code


@st.composite
def line_mutants(draw, text: str):
    """A text with a few of its lines deleted, duplicated, swapped or garbled."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["delete", "duplicate", "swap", "garble", "value"]))
        if how == "delete":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, lines[i])
        elif how == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif how == "garble":
            lines[i] = draw(st.text(max_size=20))
        elif "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            value = draw(st.sampled_from(['"x"', "-1", "0", "1e999", "[]", "{}", "true", '""']))
            lines[i] = f"{key}= {value}"
    return "\n".join(lines) + "\n"


DEFAULT_TOML = default_catalog_bytes().decode("utf-8")


@FUZZ
@given(line_mutants(DEFAULT_TOML))
def test_mutated_catalogs_validate_or_say_what_is_wrong(tmp_path_factory, capsys, text):
    path = tmp_path_factory.mktemp("cat") / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    exits_cleanly(["catalog", "validate", "--catalog", str(path)], capsys)
    exits_cleanly(["compile", str(FLOW), "--catalog", str(path), "-o", "-"], capsys)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A local server behind every offer, and a compiled plan (as a dict) that uses it."""
    home = tmp_path_factory.mktemp("served")
    with OpenAIServer() as server:
        for name in ("small", "coder", "big"):
            server.script(name, reply=json.dumps({"risky": False, "why": "fine"}))
        plan = hetflow.compile(str(FLOW), catalog=str(local_catalog(home, server.url)))
        yield home, json.loads(plan.to_json())


def mutate(data, rng: random.Random, value) -> None:
    """Drop a key or replace a value somewhere in a JSON document, in place."""
    node = data
    for _ in range(rng.randint(1, 4)):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        children = [(k, v) for k, v in children if isinstance(v, (dict, list)) and v]
        if not children or rng.random() < 0.3:
            break
        node = rng.choice(children)[1]
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    if not keys:
        return
    key = rng.choice(keys)
    if isinstance(node, dict) and rng.random() < 0.4:
        del node[key]
    else:
        node[key] = value


@FUZZ
@given(st.randoms(use_true_random=False), st.lists(JSON_VALUES, min_size=1, max_size=3))
def test_mutated_plans_run_explain_and_simulate_or_say_what_is_wrong(
    served, capsys, monkeypatch, rng, values
):
    home, plan = served
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    data = json.loads(json.dumps(plan))
    for value in values:
        mutate(data, rng, value)
    path = home / "plan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    exits_cleanly(["explain", str(path)], capsys)
    exits_cleanly(["simulate", str(path)], capsys)
    contract = home / "contract.txt"
    contract.write_text("Clause 1: pay.\n\nClause 2: indemnify.", encoding="utf-8")
    exits_cleanly(["run", str(path), "--input", f"contract=@{contract}", "--no-cache"], capsys)


TRACE_RECORD = {
    "node": "tallies.root",
    "step": "tallies",
    "item": "",
    "model": "m",
    "chip": "c",
    "litellm": "openai/m",
    "retries": 0,
    "retry_reason": None,
    "fallback": 0,
    "tokens_in": 3000,
    "tokens_out": 400,
    "cost_usd": 0.001,
    "latency_s": 0.5,
    "started": 0.0,
    "ended": 0.5,
    "cached": False,
    "error": None,
    "run": "abcd1234",
}


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(list(TRACE_RECORD)), JSON_VALUES), max_size=4))
def test_mutated_traces_calibrate_or_say_what_is_wrong(tmp_path_factory, capsys, changes):
    lines = []
    for change in changes:
        record = {**TRACE_RECORD, **change}
        lines.append(json.dumps(record))
    path = tmp_path_factory.mktemp("trace") / "trace.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exits_cleanly(["compile", str(OOLONG), "--calibrate", str(path), "-o", "-"], capsys)


@FUZZ
@given(st.text(max_size=30), st.sampled_from(["contract", "contrat", "", "=", "contract=@"]))
def test_any_input_value_runs_or_says_what_is_wrong(served, capsys, monkeypatch, value, name):
    home, plan = served
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    path = home / "good-plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    exits_cleanly(["run", str(path), "--input", f"{name}={value}", "--no-cache"], capsys)

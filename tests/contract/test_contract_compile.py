"""`hetflow compile` and `hetflow.compile` as used (DESIGN.md "The command line", "The
Python API"; LANGUAGE.md §5.8): the option spellings and that they override the file,
pins and needs against the catalog, the summary table and the baseline line, the
default catalog's plans, no secrets.  See test_contract_plan.py for the catalog.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from contract_support import (
    CATALOG,
    EXAMPLES,
    FIXTURES,
    ONE,
    _chip,
    _offer,
    cli,
    compile_json,
    node,
    write,
)

import hetflow

# ---------------------------------------------------------------- options override the file


def test_command_line_budget_overrides_the_file(tmp_path):
    ran, plan = compile_json(
        FIXTURES / "budget_too_small.het", "--budget", "1.00", tmp_path=tmp_path
    )
    assert ran.code == 0, ran.text
    assert _chip(plan) == "fast"  # the file's objective is latency


def test_command_line_deadline_overrides_the_file(tmp_path):
    ran, plan = compile_json(
        FIXTURES / "deadline_too_short.het", "--deadline", "5m", tmp_path=tmp_path
    )
    assert ran.code == 0, ran.text
    assert _chip(plan) == "slow"  # the file's objective is cost


def test_command_line_input_size_overrides_the_hint(tmp_path):
    _, small = compile_json(ONE, tmp_path=tmp_path)
    assert node(small, "answer")["estimate"]["input_tokens"] < 20_000
    _, large = compile_json(ONE, "--input-size", "doc=128k", tmp_path=tmp_path)
    assert node(large, "answer")["estimate"]["input_tokens"] >= 128_000


def test_input_sizes_flow_to_token_estimates(tmp_path):
    text = (FIXTURES / "one_step.het").read_text().replace("10k tokens", "500k tokens")
    _, plan = compile_json(write(tmp_path, text, "big_input.het"), tmp_path=tmp_path)
    assert node(plan, "answer")["estimate"]["input_tokens"] >= 500_000


def test_workflow_option_picks_the_workflow(tmp_path):
    ran, plan = compile_json(
        FIXTURES / "two_workflows.het", "--workflow", "second", tmp_path=tmp_path
    )
    assert ran.code == 0, ran.text
    assert plan["workflow"] == "second"
    assert [n["id"] for n in plan["nodes"]] == ["b"]


def test_unknown_workflow_is_a_one_line_error(tmp_path):
    ran, _ = compile_json(FIXTURES / "two_workflows.het", "--workflow", "secnod", tmp_path=tmp_path)
    assert ran.code == 1
    assert "secnod" in ran.err and "second" in ran.err  # did you mean


def test_every_spelling_at_once(tmp_path):
    plan_path = tmp_path / "PLAN.json"
    ran = cli(
        "compile",
        ONE,
        "-o",
        plan_path,
        "--catalog",
        CATALOG,
        "--objective",
        "cost",
        "--budget",
        "0.50",
        "--deadline",
        "30s",
        "--input-size",
        "doc=20k",
        "--workflow",
        "one_step",
    )
    assert ran.code == 0, ran.text
    plan = json.loads(plan_path.read_text())
    assert plan["workflow"] == "one_step" and plan["objective"] == "cost"
    assert plan["estimate"]["cost_usd"] <= 0.50 and plan["estimate"]["latency_s"] <= 30
    # slow takes 1 + 20 + 30 s > 30 s; fast costs ~ $0.20 <= $0.50
    assert _chip(plan) == "fast"
    assert node(plan, "answer")["estimate"]["input_tokens"] >= 20_000


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--objective", "fastest"], 2),
        (["--budget", "lots"], (1, 2)),
        (["--deadline", "soon"], (1, 2)),
        (["--input-size", "doc"], (1, 2)),
        (["--input-size", "nope=10k"], 1),
        (["--catalog", "/no/such/catalog.toml"], 1),
    ],
)
def test_bad_option_values_are_user_errors_not_tracebacks(args, code, tmp_path):
    ran = cli("compile", ONE, "-o", tmp_path / "p.json", *args)
    assert ran.code in (code if isinstance(code, tuple) else (code,)), ran.text
    assert "Traceback" not in ran.text and ran.err.strip(), ran.text


# ---------------------------------------------------------------- pins and needs (§5.8)


@pytest.mark.parametrize(
    ("pin", "objective", "offer"),
    [
        ('using "openai/m-fast"', "cost", "m@fast"),
        ('using "big"', "cost", "big@bigchip"),
        ('using "m" on fast', "cost", "m@fast"),
        ('using "m" on "fast"', "cost", "m@fast"),
        ("on fast", "cost", "m@fast"),
        ('on "slow"', "latency", "m@slow"),
    ],
)
def test_pins_take_the_choice_away(pin, objective, offer, tmp_path):
    text = ONE.read_text().replace("needs reasoning >= 2", f"needs reasoning >= 2 {pin}")
    ran, plan = compile_json(
        write(tmp_path, text, "pinned.het"), "--objective", objective, tmp_path=tmp_path
    )
    assert ran.code == 0, ran.text
    assert _offer(node(plan, "answer")["assignment"]) == offer


@pytest.mark.parametrize(
    ("pin", "word"),
    [
        ('using "openai/m-fsat"', "m-fsat"),
        ('using "m" on quick', "quick"),
        ("on flast", "flast"),
    ],
)
def test_a_pin_naming_an_unknown_model_or_chip(pin, word, tmp_path):
    text = ONE.read_text().replace("needs reasoning >= 2", f"needs reasoning >= 2 {pin}")
    path = write(tmp_path, text, "badpin.het")
    ran, plan = compile_json(path, tmp_path=tmp_path)
    assert ran.code == 1 and plan is None, ran.text
    line = text.splitlines().index(next(x for x in text.splitlines() if word in x)) + 1
    assert re.search(rf"badpin\.het:{line}:\d+: error: .*{word}", ran.err), ran.err


@pytest.mark.parametrize("needs", ["vision >= 5", "reasoning >= 5, vision >= 1", "context >= 2M"])
def test_needs_no_offer_can_meet(needs, tmp_path):
    text = ONE.read_text().replace("needs reasoning >= 2", f"needs {needs}")
    path = write(tmp_path, text, "needy.het")
    ran, plan = compile_json(path, tmp_path=tmp_path)
    assert ran.code == 1 and plan is None, ran.text
    assert re.search(r"needy\.het:6:\d+: error: ", ran.err), ran.err


def test_a_step_whose_input_fits_no_context_window(tmp_path):
    text = ONE.read_text().replace("10k tokens", "3M tokens")  # every window is 1M or less
    ran, plan = compile_json(write(tmp_path, text, "huge.het"), tmp_path=tmp_path)
    assert ran.code == 1 and plan is None, ran.text
    assert "answer" in ran.err


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_compiles_with_the_default_catalog(name, tmp_path):
    plan_path = tmp_path / "p.json"
    ran = cli("compile", FIXTURES / name, "-o", plan_path)
    assert ran.code == 0, ran.text
    plan = json.loads(plan_path.read_text())
    assert plan["baseline"]["model"] and plan["baseline"]["chip"]
    assert plan["estimate"]["cost_usd"] > 0


def test_compile_prints_the_comparison_line(tmp_path):
    ran, plan = compile_json(ONE, "--objective", "latency", tmp_path=tmp_path)
    m = re.search(r"(\d+\.\d)x cheaper, (\d+\.\d)x faster than all on big @ bigchip", ran.out)
    assert m, ran.out
    assert m.group(1) == "5.0"  # the same tokens at 50 instead of 10 dollars per million
    faster = plan["baseline"]["latency_s"] / plan["estimate"]["latency_s"]
    assert float(m.group(2)) == pytest.approx(faster, abs=0.051)


def test_compile_prints_a_table_with_each_step(tmp_path):
    ran, _ = compile_json(FIXTURES / "example_contract_review.het", tmp_path=tmp_path)
    for word in ("verdict", "summary", "clauses", "risky"):
        assert word in ran.out, ran.out


# ---------------------------------------------------------------- secrets


def test_no_key_value_in_the_plan_or_the_output(tmp_path, monkeypatch):
    secret = "sk-contract-0123456789-SECRET"
    for var in ("CONTRACT_FAST_KEY", "CONTRACT_SLOW_KEY", "CONTRACT_BIG_KEY"):
        monkeypatch.setenv(var, secret)
    ran, plan = compile_json(ONE, tmp_path=tmp_path)
    assert ran.code == 0
    assert secret not in json.dumps(plan) and secret not in ran.text


# ---------------------------------------------------------------- the Python API


def test_python_compile_save_load_round_trip(tmp_path):
    plan = hetflow.compile(str(ONE), catalog=str(CATALOG), objective="latency")
    assert plan.workflow == "one_step"
    first = tmp_path / "plan.json"
    plan.save(str(first))
    again = hetflow.Plan.load(str(first))
    second = tmp_path / "again.json"
    again.save(str(second))
    assert json.loads(first.read_text()) == json.loads(second.read_text())
    data = json.loads(first.read_text())
    assert node(data, "answer")["assignment"]["chip"] == "fast"


def test_python_compile_objective_cost(tmp_path):
    plan = hetflow.compile(ONE, catalog=CATALOG, objective="cost")
    data = json.loads(plan.model_dump_json()) if hasattr(plan, "model_dump_json") else None
    if data is None:
        plan.save(tmp_path / "p.json")
        data = json.loads((tmp_path / "p.json").read_text())
    assert node(data, "answer")["assignment"]["chip"] == "slow"


def test_python_compile_raises_diagnostics_not_tracebacks(tmp_path):
    bad = write(tmp_path, ONE.read_text().replace("{{ doc }}", "{{ dco }}"), "bad.het")
    with pytest.raises(hetflow.HetError) as info:
        hetflow.compile(bad, catalog=CATALOG)
    assert "dco" in str(info.value)


def test_a_plan_is_self_contained(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    het = shutil.copy(ONE, work / "flow.het")
    plan_path = tmp_path / "plan.json"
    assert cli("compile", het, "-o", plan_path, "--catalog", CATALOG).code == 0
    shutil.rmtree(work)
    plan = hetflow.Plan.load(plan_path)
    assert plan.workflow == "one_step"


# ---------------------------------------------------------------- the default catalog

EXAMPLE_NEEDS = {
    "example_oolong.het": {
        "tallies.root": {"coding": 4, "reasoning": 4},
        "tallies.sub": {"reasoning": 2},
        "answer": {"reasoning": 3},
    },
    "example_web_step.het": {"focus": {"vision": 2}, "action": {"reasoning": 4, "vision": 3}},
    "example_contract_review.het": {"verdict": {"reasoning": 2}, "summary": {"reasoning": 4}},
}


@pytest.fixture(scope="module")
def default_listing():
    ran = cli("catalog", "list", "--format", "json")
    assert ran.code == 0, ran.text
    return json.loads(ran.out)


@pytest.mark.parametrize("name", sorted(EXAMPLE_NEEDS))
def test_every_offer_in_a_plan_meets_the_steps_needs(name, default_listing, tmp_path):
    plan_path = tmp_path / "p.json"
    ran = cli("compile", FIXTURES / name, "-o", plan_path)
    assert ran.code == 0, ran.text
    plan = json.loads(plan_path.read_text())
    models = default_listing["models"]
    for node_id, needs in EXAMPLE_NEEDS[name].items():
        n = node(plan, node_id)
        assert n["assignment"] is not None, node_id
        for offer in [n["assignment"], *n["alternatives"]]:
            model = models[offer["model"]]
            for skill, level in needs.items():
                assert model[skill] >= level, (node_id, offer["model"], skill)
            per_call = n["estimate"]["input_tokens"] / max(n["estimate"]["calls"], 1)
            assert model["context"] >= per_call, (node_id, offer["model"])


def test_the_baseline_model_is_the_catalogs_strongest(default_listing, tmp_path):
    plan_path = tmp_path / "p.json"
    assert cli("compile", FIXTURES / "example_contract_review.het", "-o", plan_path).code == 0
    base = json.loads(plan_path.read_text())["baseline"]
    skills = ("reasoning", "coding", "extraction", "vision")
    models = default_listing["models"]
    mine = models[base["model"]]
    assert any(
        o["model"] == base["model"] and o["chip"] == base["chip"] for o in default_listing["offers"]
    )
    for name, other in models.items():
        stronger = all(other[s] >= mine[s] for s in skills) and any(
            other[s] > mine[s] for s in skills
        )
        assert not stronger, f"{name} is stronger than the baseline {base['model']}"


def test_the_summary_table_has_each_steps_model_chip_cost_latency(tmp_path):
    ran, plan = compile_json(ONE, "--objective", "latency", tmp_path=tmp_path)
    row = next(x for x in ran.out.splitlines() if x.split()[:1] == ["answer"])
    cells = row.split()
    assert "m" in cells and "fast" in cells, row
    assert re.search(r"\$0\.10\d*\b", row), row  # $0.103, maybe rounded
    assert re.search(r"113 ?ms|0\.11\d? ?s", row), row

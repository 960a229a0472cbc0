"""compile(): the pipeline, its options, its errors, the plan's JSON contract, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hetflow.commands.main import main
from hetflow.compiler import compile, parse_duration, parse_money, parse_size
from hetflow.errors import DiagnosticError, HetError
from hetflow.plan.model import Plan, json_schema

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.het"))
LAB = ROOT / "tests" / "golden" / "compile" / "lab.toml"

FLOW = """
workflow w {
  input doc: text ~ 20k tokens
  objective cost
  budget $0.50
  deadline 30s
  reason notes = prompt "Notes on {{ doc }}" needs reasoning >= 4
  reason title = prompt "Title for {{ notes }}" needs reasoning >= 2
  output title
}
"""


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_compiles_to_the_contract(path):
    plan = compile(path)
    data = json.loads(plan.to_json())
    for key in ("plan_version", "workflow", "objective", "nodes", "edges", "estimate", "baseline"):
        assert key in data
    ids = {n["id"] for n in data["nodes"]}
    for n in data["nodes"]:
        assert {"id", "op", "assignment", "alternatives", "estimate"} <= set(n)
        assert {"calls", "input_tokens", "output_tokens", "cost_usd", "latency_s"} <= set(
            n["estimate"]
        )
        if n["op"] in ("extract", "reduce", "recurse.repl"):
            assert n["assignment"] is None
        else:
            assert {"model", "chip", "litellm"} <= set(n["assignment"])
            for alt in n["alternatives"]:
                assert {"model", "chip", "litellm"} <= set(alt)
                assert alt["cost_usd"] is not None and alt["latency_s"] is not None
    assert all(u in ids and v in ids for u, v in data["edges"])
    assert {"cost_usd", "latency_s", "critical_path"} <= set(data["estimate"])
    assert set(data["estimate"]["critical_path"]) <= ids
    assert {"model", "chip", "cost_usd", "latency_s"} <= set(data["baseline"])
    assert data["source"]["sha256"] and data["catalog"]["sha256"]
    assert data["optimizer"]["exact"] is True
    assert Plan.from_dict(data).nodes[0].id == plan.nodes[0].id


def test_plan_totals_add_up_and_beat_the_baseline():
    plan = compile(ROOT / "examples" / "contract_review.het")
    assert plan.estimate.cost_usd == pytest.approx(sum(n.estimate.cost_usd for n in plan.nodes))
    path = plan.estimate.critical_path
    assert plan.estimate.latency_s >= sum(plan.node(i).estimate.latency_s for i in path)
    assert plan.baseline.model == "gpt-5"
    assert plan.baseline.cheaper_x > 1 and plan.baseline.faster_x > 1
    assert "cheaper" in plan.comparison() and "gpt-5" in plan.comparison()


def test_plan_nodes_carry_what_the_runtime_needs():
    plan = compile(ROOT / "examples" / "contract_review.het")
    clauses = plan.node("clauses")
    assert clauses.builtin == {
        "name": "split",
        "args": [{"ref": "contract"}],
        "kwargs": {"sep": {"value": "\n\n"}},
    }
    verdict = plan.node("verdict")
    assert verdict.maps == ["clause"] and verdict.options["max_tokens"] == 200
    assert verdict.output_schema["properties"]["risky"] == {"type": "boolean"}
    assert verdict.type == "Verdict" and "Clause:" in verdict.prompt
    assert plan.map_scope("clause").cardinality > 1
    assert plan.schemas["Verdict"]["required"] == ["risky", "why"]
    rec = compile(ROOT / "examples" / "oolong.het")
    root = rec.node("tallies.root")
    assert root.input == "context" and root.depth == 2 and "Label each record" in root.prompt
    assert root.output_schema["type"] == "array"
    assert [n.id for n in rec.nodes][:4] == [
        "tallies.root",
        "tallies.repl",
        "tallies.sub",
        "tallies.sub2",
    ]
    assert rec.inputs[0].size_tokens == 128_000


def test_options_override_the_file():
    plan = compile(FLOW, objective="latency", budget="$2", deadline="1m")
    assert (plan.objective, plan.budget_usd, plan.deadline_s) == ("latency", 2.0, 60.0)
    small = compile(FLOW, input_sizes={"doc": "1k"})
    big = compile(FLOW, input_sizes={"doc": "100k tokens"})
    assert small.node("notes").estimate.input_tokens < 2_000
    assert big.node("notes").estimate.input_tokens > 100_000
    real = compile(FLOW, inputs={"doc": "word " * 800})
    assert real.inputs[0].size_tokens == 1_000


def test_a_workflow_by_name_and_a_catalog_file():
    two = FLOW + FLOW.replace("workflow w", "workflow other")
    assert compile(two, workflow="other").workflow == "other"
    with pytest.raises(HetError, match="did you mean 'other'"):
        compile(two, workflow="othr")
    plan = compile(FLOW, catalog=LAB)
    assert plan.catalog["name"] == "lab"
    assert {n.assignment.chip for n in plan.nodes} <= {"fastchip", "midchip", "slowgpu"}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"objective": "fast"}, "unknown objective 'fast'"),
        ({"budget": "lots"}, "is not an amount of dollars"),
        ({"deadline": "soon"}, "is not a duration"),
        ({"input_sizes": {"dco": "1k"}}, "has no input 'dco'; did you mean 'doc'"),
        ({"input_sizes": {"doc": "big"}}, "is not a size"),
        ({"budget": 0.0001}, r"budget \$0.0001 cannot be met: the cheapest plan costs"),
        ({"deadline": "100ms"}, "deadline 100ms cannot be met: the fastest plan takes"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(HetError, match=message) as info:
        compile(FLOW, **options)
    assert not isinstance(info.value, DiagnosticError)
    assert "\n" not in str(info.value)


def test_check_errors_are_diagnostics():
    with pytest.raises(DiagnosticError) as info:
        compile('workflow w {\n input doc: text\n reason a = prompt "{{ dco }}"\n output a\n}')
    assert "did you mean 'doc'" in info.value.render()


def _diagnostic(text: str, **options):
    with pytest.raises(DiagnosticError) as info:
        compile(text, **options)
    d = info.value.diagnostics[0]
    return d, text.splitlines()[d.pos.line - 1][d.pos.column - 1 : d.pos.end_column - 1]


def test_budget_and_deadline_diagnostics_point_at_the_file():
    d, spot = _diagnostic(FLOW.replace("$0.50", "$0.0001"))
    assert spot == "budget $0.0001"
    assert "the most expensive step is 'notes'" in d.message and "over)" in d.message
    d, spot = _diagnostic(FLOW.replace("30s", "200ms"))
    assert spot == "deadline 200ms" and "the slowest step on its critical path" in d.message
    # Each alone can be met, not both together.
    both = FLOW.replace("$0.50", "$0.005").replace("30s", "4s")
    d, spot = _diagnostic(both, catalog=LAB)
    assert "cannot both be met" in d.message


def test_needs_and_pin_diagnostics_point_at_the_clause():
    d, spot = _diagnostic(
        FLOW.replace("reasoning >= 4", "reasoning >= 5, vision >= 5"), catalog=LAB
    )
    assert spot == "reasoning >= 5, vision >= 5"
    assert "no offer in catalog 'lab' meets needs" in d.message and "big" in d.message
    d, spot = _diagnostic(FLOW.replace("reasoning >= 4", 'reasoning >= 4 using "bgi"'), catalog=LAB)
    assert spot == 'using "bgi"' and "did you mean 'big'" in d.message
    d, _ = _diagnostic(FLOW.replace("reasoning >= 4", "reasoning >= 4 on fastchp"), catalog=LAB)
    assert "no chip 'fastchp'; did you mean 'fastchip'" in d.message
    d, _ = _diagnostic(FLOW.replace("reasoning >= 4", 'reasoning >= 4 using "small"'), catalog=LAB)
    assert "pinned model 'small' does not meet the needs reasoning >= 4" in d.message
    d, _ = _diagnostic(FLOW.replace("reasoning >= 4", 'reasoning >= 4 using "small"'), catalog=LAB)
    d, _ = _diagnostic(FLOW.replace("~ 20k tokens", "~ 300k tokens"), catalog=LAB)
    assert "window" in d.message


def test_no_secret_in_the_plan(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-value-123")
    plan = compile(ROOT / "examples" / "web_step.het")
    text = plan.to_json()
    assert "sk-test-SECRET-value-123" not in text
    assert "OPENAI_API_KEY" in text  # the variable's name, never its value


def test_compile_never_imports_litellm():
    code = (
        "import sys; from hetflow.commands.main import main; "
        f"rc = main(['compile', {str(ROOT / 'examples' / 'oolong.het')!r}, '-o', '-']); "
        "sys.stderr.write(str('litellm' in sys.modules)); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stderr.endswith("False")
    assert json.loads(out.stdout)["workflow"] == "oolong"


def test_cli_writes_the_plan_and_prints_the_table(tmp_path, capsys):
    src = tmp_path / "flow.het"
    src.write_text(FLOW)
    assert main(["compile", str(src)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "flow.plan.json").exists()
    for word in ("step", "model", "chip", "calls", "cost", "latency", "notes", "total"):
        assert word in out
    assert "than all on gpt-5 @ nvidia-h100" in out
    target = tmp_path / "p.json"
    assert (
        main(
            [
                "compile",
                str(src),
                "-o",
                str(target),
                "--objective",
                "latency",
                "--budget",
                "1",
                "--deadline",
                "45s",
                "--input-size",
                "doc=2k",
            ]
        )
        == 0
    )
    plan = Plan.load(target)
    assert (plan.objective, plan.budget_usd, plan.deadline_s) == ("latency", 1.0, 45.0)


def test_cli_errors(tmp_path, capsys):
    src = tmp_path / "flow.het"
    src.write_text(FLOW)
    assert main(["compile", str(src), "--budget", "0.00001"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hetflow: error: budget") and err.count("\n") == 1
    assert main(["compile", str(src), "--input-size", "doc"]) == 1
    assert "NAME=VALUE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["compile", str(src), "--objective", "fastest"])
    assert info.value.code == 2
    assert main(["compile", str(tmp_path / "missing.het")]) == 1


def test_parsers():
    assert parse_size("40 items") == (40.0, "items")
    assert parse_money("$0.50") == 0.5
    assert parse_duration("1h") == 3600.0


def test_plan_schema_file_is_current():
    """docs/plan.schema.json is Plan.model_json_schema(); HETFLOW_REGEN=1 rewrites it."""
    path = ROOT / "docs" / "plan.schema.json"
    if os.environ.get("HETFLOW_REGEN"):
        path.write_text(json.dumps(json_schema(), indent=2) + "\n")
    assert json.loads(path.read_text()) == json_schema(), (
        "stale: HETFLOW_REGEN=1 pytest tests/test_compile.py -k schema"
    )


def test_a_larger_graph_goes_through_the_milp_and_stdout_holds_only_the_plan(tmp_path):
    steps = "\n".join(
        f'  reason s{i} = prompt "Step {i}: {{{{ {"doc" if i == 0 else f"s{i - 1}"} }}}}"'
        f" needs reasoning >= 2"
        for i in range(30)
    )
    src = tmp_path / "chain.het"
    src.write_text(
        f"workflow chain {{\n  input doc: text ~ 3k tokens\n  objective latency\n"
        f"  budget $0.05\n{steps}\n  output s29\n}}\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "hetflow", "compile", str(src), "-o", "-"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)  # nothing but the plan on stdout
    assert plan["optimizer"]["method"] == "milp" and plan["optimizer"]["exact"] is True
    assert plan["estimate"]["cost_usd"] <= 0.05


def test_the_table_writes_money_and_calls_for_people(tmp_path, capsys):
    """A budget as the user wrote it, no e-notation, fractional calls to one decimal."""
    src = tmp_path / "flow.het"
    src.write_text(
        FLOW.replace(
            "input doc: text ~ 20k tokens", "input docs: list[text] ~ 2000 tokens"
        ).replace(
            'reason notes = prompt "Notes on {{ doc }}"',
            "map d in docs {\n"
            '    reason note = prompt "Notes on {{ d }}"\n'
            "  }\n"
            '  reason notes = prompt "Join {{ note }}"',
        )
    )
    assert main(["compile", str(src), "-o", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "w: objective cost, budget $0.50, deadline 30s"
    plan = Plan.load(tmp_path / "p.json")
    calls = next(n for n in plan.nodes if n.step == "note").estimate.calls
    assert not calls.is_integer()  # 2,000 tokens of items of about 150 tokens each
    note = next(line for line in out.splitlines() if line.startswith("note "))
    assert f" {calls:.1f} " in note, note
    assert f"{calls:.3f}" not in out and "e-0" not in out
    assert main(["compile", str(src), "--budget", "0.000001"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hetflow: error: budget $0.000001 cannot be met"), err
    assert "e-0" not in err


def test_a_list_input_is_sized_in_items_unless_it_says_tokens():
    text = """
workflow w {
  input docs: list[text] ~ 10
  map d in docs {
    reason s = prompt "Summarize {{ d }}"
  }
  output s
}
"""

    def calls(**options) -> float:
        plan = compile(text, **options)
        assert plan.warnings == []
        return next(n for n in plan.nodes if n.step == "s").estimate.calls

    assert calls() == 10
    assert calls(input_sizes={"docs": "25"}) == 25
    assert calls(input_sizes={"docs": "25 items"}) == 25
    assert 1 < calls(input_sizes={"docs": "2000 tokens"}) < 25  # items of ~150 tokens


def test_a_model_step_pinned_to_a_chip_without_models():
    d, spot = _diagnostic(FLOW.replace("reasoning >= 4", "reasoning >= 4 on cpu"))
    assert spot == "on cpu"
    assert d.message.startswith(
        "no model is served on chip 'cpu' in catalog 'default', so a model step cannot run there"
    )


def test_real_inputs_run_the_extracts_that_read_them_so_fan_outs_are_measured():
    text = "\n\n".join(f"Clause {i}: the buyer shall indemnify item {i}." for i in range(7))
    example = ROOT / "examples" / "contract_review.het"

    def calls(**options) -> float:
        plan = compile(example, **options)
        return next(n for n in plan.nodes if n.step == "verdict").estimate.calls

    assert calls(inputs={"contract": text}) == 7  # split(contract, sep="\n\n"), run for real
    assert calls(inputs={"contract": text + "\n\nClause 7: pay."}) == 8
    assert calls() != 7  # without real inputs: the size model's guess
    flow = """
workflow w {
  input docs: list[text]
  extract some = slice(docs, 0, 3)
  map d in some {
    reason s = prompt "Summarize {{ d }}"
  }
  output s
}
"""
    plan = compile(flow, inputs={"docs": ["a", "b", "c", "d", "e"]})
    assert next(n for n in plan.nodes if n.step == "s").estimate.calls == 3
    # A list given as JSON text, as `hetflow run --input` gives it, is read as a list.
    plan = compile(
        flow.replace("slice(docs, 0, 3)", "slice(docs, 0, 9)"), inputs={"docs": '["a", "b"]'}
    )
    assert next(n for n in plan.nodes if n.step == "s").estimate.calls == 2


def test_the_solver_gets_a_time_limit_by_default(monkeypatch):
    """docs/optimizer.md: compile stops the solver at 30 s unless told otherwise."""
    from hetflow.compiler import DEFAULT_TIME_LIMIT_S

    assign_pass = sys.modules["hetflow.optimize.assign"]  # the module, not the pass

    limits = []
    real = assign_pass.solve

    def spy(*args, **kw):
        limits.append(kw.get("time_limit"))
        return real(*args, **kw)

    monkeypatch.setattr(assign_pass, "solve", spy)
    example = str(Path(__file__).parent.parent / "examples" / "contract_review.het")
    compile(example)
    compile(example, time_limit=2.5)
    assert limits == [DEFAULT_TIME_LIMIT_S, 2.5] and DEFAULT_TIME_LIMIT_S == 30.0

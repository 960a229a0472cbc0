"""`hetflow simulate`: the text report, the JSON report, and one-line user errors."""

import json
from pathlib import Path

import pytest

from hetflow.commands.main import main
from hetflow.compiler import compile as compile_plan
from hetflow.plan.model import Plan
from hetflow.simulate.engine import simulate

EXAMPLES = Path(__file__).parent / "fixtures" / "graph_examples"

OFFER = dict(
    model="small",
    chip="groq-lpu",
    litellm="groq/small",
    offer="small@groq-lpu",
    output_tps=500.0,
    prefill_tps=20000.0,
    ttft_ms=250.0,
    concurrency=8,
    handoff_ms=40.0,
    input_per_mtok=0.15,
    output_per_mtok=0.6,
)


@pytest.fixture
def plan_file(tmp_path):
    plan = Plan(
        workflow="review",
        maps=[dict(item="c", over="parts", body=["verdict"], cardinality=20)],
        nodes=[
            dict(id="parts", op="extract", step="parts"),
            dict(
                id="verdict",
                op="reason",
                step="verdict",
                maps=["c"],
                assignment=OFFER,
                estimate=dict(calls=20, input_tokens=20 * 800, output_tokens=20 * 60),
            ),
            dict(id="risky", op="reduce", step="risky"),
        ],
        edges=[("parts", "verdict"), ("verdict", "risky")],
        estimate=dict(cost_usd=0.004, latency_s=1.5, critical_path=["parts", "verdict", "risky"]),
    )
    path = tmp_path / "plan.json"
    plan.save(path)
    return path


def test_text_report(plan_file, capsys):
    assert main(["simulate", str(plan_file)]) == 0
    out = capsys.readouterr().out
    sim = simulate(Plan.load(plan_file))
    for node in ("parts", "verdict", "risky"):
        assert node in out
    assert "small@groq-lpu" in out and "\u2588" in out  # the Gantt bars
    assert f"makespan  {sim.makespan_s:.3f} s" in out
    assert "plan estimate 1.500 s" in out
    assert f"${sim.cost_usd:.4f}" in out
    assert "groq-lpu" in out and "peak in flight" in out
    assert "critical path observed: parts -> verdict -> risky" in out


def test_json_report_matches_the_api(plan_file, capsys):
    assert main(["simulate", str(plan_file), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    sim = simulate(Plan.load(plan_file))
    assert data["workflow"] == "review"
    assert data["makespan_s"] == pytest.approx(sim.makespan_s)
    assert data["cost_usd"] == pytest.approx(sim.cost_usd)
    assert data["estimate"] == {
        "latency_s": 1.5,
        "cost_usd": 0.004,
        "critical_path": ["parts", "verdict", "risky"],
    }
    assert data["nodes"]["verdict"]["calls"] == 20
    assert data["nodes"]["verdict"]["chip"] == "groq-lpu"
    chip = data["chips"]["groq-lpu"]
    assert chip["calls"] == 20 and chip["peak_in_flight"] == 8 and chip["slots"] == 8
    assert data["critical_path"] == ["parts", "verdict", "risky"]


def test_jitter_runs_report_a_spread(plan_file, capsys):
    args = ["simulate", str(plan_file), "--jitter", "0.3", "--seed", "3", "--runs", "12"]
    assert main(args + ["--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    spread = data["spread"]
    assert spread["runs"] == 12
    assert spread["min_s"] <= spread["p50_s"] <= spread["p90_s"] <= spread["max_s"]
    assert spread["min_s"] < spread["max_s"]
    assert data["seed"] == 3 and data["jitter"] == 0.3
    assert main(args) == 0
    assert "makespan over 12 runs" in capsys.readouterr().out


def test_plan_with_a_catalog_takes_its_figures(tmp_path, capsys):
    from hetflow.catalog import load_catalog

    offer = load_catalog(None).offer("llama-3.1-8b@groq-lpu")
    node = dict(
        id="a",
        op="reason",
        step="a",
        assignment=dict(
            model=offer.model,
            chip=offer.chip,
            litellm=offer.litellm,
            offer=offer.id,
            output_tps=1.0,
            prefill_tps=1.0,
        ),
        estimate=dict(calls=1, input_tokens=5000, output_tokens=500),
    )
    path = tmp_path / "plan.json"
    Plan(workflow="w", nodes=[node], edges=[]).save(path)
    assert main(["simulate", str(path), "--format", "json", "--catalog", "no-such.toml"]) == 1
    capsys.readouterr()
    cat = tmp_path / "cat.toml"
    from hetflow.catalog.load import default_catalog_bytes

    cat.write_bytes(default_catalog_bytes())
    assert main(["simulate", str(path), "--format", "json", "--catalog", str(cat)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["makespan_s"] == pytest.approx(offer.call_latency_s(5000, 500))


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--input-size", "context"], 1, "NAME=VALUE"),  # as compile says it
        (["--input-size", "context=128k"], 1, "--input-size needs a .het FILE"),
        (["--objective", "cost"], 1, "--objective needs a .het FILE"),
        (["--jitter", "-1"], 2, "--jitter must be >= 0"),
        (["--workflow", "other"], 1, "plan of workflow 'review'"),
    ],
)
def test_user_errors_are_one_line(plan_file, capsys, argv, code, message):
    assert main(["simulate", str(plan_file), *argv]) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_plan(capsys):
    assert main(["simulate", "no-such.plan.json"]) == 1
    assert "no such plan file" in capsys.readouterr().err


def test_simulate_compiles_a_het_file(capsys):
    path = EXAMPLES / "contract_review.het"
    assert main(["simulate", str(path), "--format", "json", "--input-size", "contract=20k"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["workflow"] == "contract_review"
    assert data["makespan_s"] > 0
    assert {"clauses", "verdict", "summary"} <= set(data["nodes"])


def test_compile_options_reach_the_compiler(capsys):
    path = str(EXAMPLES / "contract_review.het")
    assert main(["simulate", path, "--format", "json", "--objective", "cost"]) == 0
    cheap = json.loads(capsys.readouterr().out)
    assert main(["simulate", path, "--format", "json", "--objective", "latency"]) == 0
    fast = json.loads(capsys.readouterr().out)
    assert cheap["cost_usd"] <= fast["cost_usd"] + 1e-12
    assert fast["estimate"]["latency_s"] <= cheap["estimate"]["latency_s"] + 1e-9
    assert main(["simulate", path, "--budget", "0.0000001"]) == 1
    assert "budget" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["oolong", "web_step"])
def test_without_maps_or_contention_simulation_and_estimate_agree(name):
    """The optimizer's wave model and the simulator are one model when nothing
    runs per item and no two nodes compete for an offer: a cross-check of both."""
    plan = compile_plan(str(EXAMPLES / f"{name}.het"))
    sim = simulate(plan)
    assert sim.makespan_s == pytest.approx(plan.estimate.latency_s, rel=1e-9)
    assert sim.cost_usd == pytest.approx(plan.estimate.cost_usd, rel=1e-9)
    assert sim.critical_path == plan.estimate.critical_path


def test_per_item_flow_is_never_slower_than_waves_on_contract_review():
    plan = compile_plan(str(EXAMPLES / "contract_review.het"), input_sizes={"contract": "60k"})
    sim = simulate(plan)
    assert sim.makespan_s <= plan.estimate.latency_s + 1e-9
    assert sim.cost_usd == pytest.approx(plan.estimate.cost_usd, rel=1e-9)


def test_a_local_model_on_the_cpu_counts_as_model_calls_with_its_slots(capsys):
    """Seen: with --catalog local the header said "0 model calls" beside a table of 15,
    and the cpu chip showed no slots: a local model runs on the chip code steps use."""
    shipped = Path(__file__).parent.parent / "examples" / "contract_triage.het"
    assert main(["simulate", str(shipped), "--catalog", "local", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    cpu = data["chips"]["cpu"]
    assert cpu["slots"] >= 1 and 0 < cpu["utilization"] <= 1
    assert main(["simulate", str(shipped), "--catalog", "local"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    model_calls = sum(r["calls"] for r in data["nodes"].values() if "@" in r["offer"])
    assert model_calls > 0 and f": {model_calls} model calls, none made" in first


def test_runs_without_jitter_is_an_error_and_a_drawn_seed_is_printed(plan_file, capsys):
    assert main(["simulate", str(plan_file), "--runs", "3"]) == 2
    assert "--runs 3 needs --jitter SIGMA" in capsys.readouterr().err
    assert main(["simulate", str(plan_file), "--jitter", "0.3"]) == 0
    first = capsys.readouterr().out
    seed = int(first.split("(seed ")[1].split(")")[0])  # drawn, and said
    assert main(["simulate", str(plan_file), "--jitter", "0.3", "--seed", str(seed)]) == 0
    again = capsys.readouterr().out

    def makespan(text: str) -> str:
        return next(line for line in text.splitlines() if line.startswith("makespan"))

    assert makespan(again) == makespan(first)  # the printed seed repeats the run

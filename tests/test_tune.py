"""hetflow tune and placement to a quality target (docs/quality.md), against a local
OpenAI-compatible server whose models answer correctly at known, different rates.

Each model's answer to a question is right or wrong deterministically (a hash of the
model and the question), so the fraction of right answers on any set of samples is
known exactly and tune's scores can be checked to the digit.
"""

from __future__ import annotations

import json
import re
import zlib

import pytest

import hetflow
from hetflow.catalog import load_catalog
from hetflow.commands.main import main
from hetflow.errors import HetError
from hetflow.estimate.quality import load_quality
from hetflow.optimize.context import work_of
from hetflow.optimize.model import node_cost
from hetflow.tune.runner import sub_plan
from tests.support.catalogs import local_catalog
from tests.support.fixtures import home, server  # noqa: F401

RATES = {"small": 0.4, "coder": 0.8, "big": 1.0}
OFFERS = {"small": "small@groq-lpu", "coder": "coder@cerebras-wse3", "big": "big@nvidia-h100"}
N = 30

WORKFLOW = """workflow qa {
  input question: text
  reason answer: Answer = prompt "Answer yes or no. {{ question }}"
  output answer
}

schema Answer {
  label: enum(yes, no)
}
"""


def truth(question: str) -> str:
    return "yes" if int(re.search(r"number (\d+)", question).group(1)) % 2 == 0 else "no"


def right(model: str, question: str) -> bool:
    return zlib.crc32(f"{model}|{question}".encode()) % 1000 < RATES[model] * 1000


def question_of(body: dict) -> str:
    text = " ".join(str(m.get("content")) for m in body["messages"])
    return re.search(r"Is number \d+ even\?", text).group(0)


def answerer(model: str):
    def reply(body: dict) -> dict:
        q = question_of(body)
        good = truth(q)
        return {"label": good if right(model, q) else ("no" if good == "yes" else "yes")}

    return reply


def questions() -> list[str]:
    return [f"Is number {i} even?" for i in range(N)]


@pytest.fixture
def setup(tmp_path, server, home):  # noqa: F811
    for model in RATES:
        server.script(model, reply=answerer(model))
    het = tmp_path / "qa.het"
    het.write_text(WORKFLOW)
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        "".join(
            json.dumps({"inputs": {"question": q}, "expect": {"answer": {"label": truth(q)}}})
            + "\n"
            for q in questions()
        )
    )
    catalog = local_catalog(tmp_path, server.url)
    return het, samples, catalog, server


def run_tune(het, samples, catalog, out, *extra) -> int:
    return main(
        ["tune", str(het), "--samples", str(samples), "--catalog", str(catalog), "-o", str(out)]
        + list(extra)
    )


def test_tune_measures_each_candidate_at_its_true_rate(setup, tmp_path, capsys):
    het, samples, catalog, srv = setup
    out = tmp_path / "quality.json"
    assert run_tune(het, samples, catalog, out) == 0
    q = load_quality(out)
    step = q.steps["answer"]
    assert step.against == "expect" and step.typed
    by_model = {c.model: c for c in step.candidates}
    assert set(by_model) == set(RATES)
    for model, c in by_model.items():
        # scored on the first n samples (fewer when pruned): the exact fraction right
        expected = sum(right(model, qq) for qq in questions()[: c.n]) / c.n
        assert c.score == pytest.approx(expected, abs=1e-6), model
        assert c.low <= c.score <= c.high
    assert by_model["big"].n == N and not by_model["big"].pruned
    ranked = [c.model for c in sorted(step.candidates, key=lambda c: -c.score)]
    assert ranked == ["big", "coder", "small"]
    # the clearly worse candidate stopped early and was asked fewer questions
    asked = [r for r in srv.requests if r.model == "small"]
    assert by_model["small"].pruned and len(asked) == by_model["small"].n < N
    assert "wrote" in capsys.readouterr().out


def test_second_tune_pays_nothing(setup, tmp_path):
    het, samples, catalog, srv = setup
    assert run_tune(het, samples, catalog, tmp_path / "q1.json") == 0
    paid = len(srv.requests)
    assert run_tune(het, samples, catalog, tmp_path / "q2.json") == 0
    assert len(srv.requests) == paid
    first, second = load_quality(tmp_path / "q1.json"), load_quality(tmp_path / "q2.json")
    assert first.spent_usd > 0 and second.spent_usd == 0
    assert [(c.offer, c.score, c.n) for c in first.steps["answer"].candidates] == [
        (c.offer, c.score, c.n) for c in second.steps["answer"].candidates
    ]


@pytest.mark.parametrize(("target", "model"), [(0.5, "coder"), (0.3, "small"), (0.95, "big")])
def test_compile_places_on_the_cheapest_candidate_meeting_the_target(
    setup, tmp_path, target, model
):
    het, samples, catalog, _ = setup
    out = tmp_path / "quality.json"
    assert run_tune(het, samples, catalog, out) == 0
    scores = {c.model: c.score for c in load_quality(out).steps["answer"].candidates}
    meeting = [m for m in ("small", "coder", "big") if scores[m] >= target]  # cheapest first
    assert meeting[0] == model
    plan = hetflow.compile(
        str(het), catalog=str(catalog), quality=out, min_quality=target, objective="cost"
    )
    node = plan.node("answer")
    assert node.assignment.model == model
    assert node.quality["target"] == target and node.quality["against"] == "expect"
    assert set(node.quality["scores"]) == {
        c.offer for c in load_quality(out).steps["answer"].candidates
    }
    # without the measurements, skill levels place it (on the cheapest offer meeting them)
    plain = hetflow.compile(str(het), catalog=str(catalog), objective="cost")
    assert plain.node("answer").quality is None


def test_step_option_overrides_the_workflow_target(setup, tmp_path):
    het, samples, catalog, _ = setup
    het.write_text(WORKFLOW.replace('{{ question }}"', '{{ question }}" with min_quality=0.99'))
    out = tmp_path / "quality.json"
    assert run_tune(het, samples, catalog, out) == 0
    plan = hetflow.compile(
        str(het), catalog=str(catalog), quality=out, min_quality=0.3, objective="cost"
    )
    assert plan.node("answer").assignment.model == "big"
    assert plan.node("answer").quality["target"] == 0.99


def test_measurements_of_an_older_file_are_refused(setup, tmp_path):
    het, samples, catalog, _ = setup
    out = tmp_path / "quality.json"
    assert run_tune(het, samples, catalog, out) == 0
    het.write_text(WORKFLOW.replace("Answer yes or no.", "Say yes or no."))
    with pytest.raises(HetError, match="another version"):
        hetflow.compile(str(het), catalog=str(catalog), quality=out, min_quality=0.3)


def test_a_target_nothing_meets_is_a_positioned_error(setup, tmp_path):
    het, samples, catalog, _ = setup
    out = tmp_path / "quality.json"
    assert run_tune(het, samples, catalog, out) == 0
    data = json.loads(out.read_text())
    for c in data["steps"]["answer"]["candidates"]:
        c["score"] = min(c["score"], 0.5)
    out.write_text(json.dumps(data))
    with pytest.raises(hetflow.DiagnosticError) as err:
        hetflow.compile(str(het), catalog=str(catalog), quality=out, min_quality=0.9)
    text = err.value.render()
    assert "no candidate of step 'answer' meets quality 0.9" in text
    assert ":3:" in text  # the step's line


def test_bad_samples_are_refused_before_anything_is_spent(setup, tmp_path, capsys):
    het, samples, catalog, srv = setup
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"inputs": {"question": "Is number 1 even?"}})
        + "\n"
        + json.dumps({"inputs": {"questoin": "Is number 2 even?"}})
        + "\n"
    )
    assert run_tune(het, bad, catalog, tmp_path / "q.json") == 1
    err = capsys.readouterr().err
    assert f"{bad}:2: inputs.questoin" in err and "did you mean 'question'" in err
    bad.write_text(json.dumps({"inputs": {"question": "x"}, "expect": {"answr": 1}}) + "\n")
    assert run_tune(het, bad, catalog, tmp_path / "q.json") == 1
    assert f"{bad}:1: expect.answr" in capsys.readouterr().err
    bad.write_text("{not json\n")
    assert run_tune(het, bad, catalog, tmp_path / "q.json") == 1
    assert f"{bad}:1: not a JSON object" in capsys.readouterr().err
    assert srv.requests == []


def test_quality_of_another_workflow_is_refused(setup, tmp_path):
    het, samples, catalog, _ = setup
    out = tmp_path / "quality.json"
    assert run_tune(het, samples, catalog, out) == 0
    data = json.loads(out.read_text())
    data["workflow"] = "other"
    out.write_text(json.dumps(data))
    with pytest.raises(HetError, match="measured on workflow 'other', not 'qa'"):
        hetflow.compile(str(het), catalog=str(catalog), quality=out, min_quality=0.5)
    out.write_text(json.dumps({"quality_version": 99}))
    with pytest.raises(HetError, match="quality_version 99"):
        hetflow.compile(str(het), catalog=str(catalog), quality=out, min_quality=0.5)


def test_budget_stops_tune(setup, tmp_path):
    het, samples, catalog, srv = setup
    out = tmp_path / "quality.json"
    assert run_tune(het, samples, catalog, out, "--budget", "0.004") == 0
    q = load_quality(out)
    full = sum(c.n for c in q.steps["answer"].candidates)
    assert full < 3 * N
    assert 0 < full and q.spent_usd <= 0.004  # the runtime's cap holds inside each run


def test_sub_plan_keeps_what_the_step_reads(tmp_path):
    het = tmp_path / "two.het"
    het.write_text(
        """workflow two {
  input doc: text
  extract parts = split(doc, sep="\\n\\n")
  map part in parts {
    reason gist = prompt "Gist of {{ part }}"
  }
  reason final = prompt "Combine {{ gist }}"
  reason other = prompt "Unrelated {{ doc }}"
  output final, other
}
"""
    )
    plan = hetflow.compile(str(het))
    sub = sub_plan(plan, plan.node("gist"), {})
    assert {n.id for n in sub.nodes} == {"parts", "gist"}
    assert sub.outputs == ["gist"] and [m.item for m in sub.maps] == ["part"]
    sub = sub_plan(plan, plan.node("final"), {})
    assert {n.id for n in sub.nodes} == {"parts", "gist", "final"}


def test_explain_shows_the_measured_scores(setup, tmp_path, capsys):
    het, samples, catalog, _ = setup
    out = tmp_path / "quality.json"
    assert run_tune(het, samples, catalog, out) == 0
    plan = hetflow.compile(str(het), catalog=str(catalog), quality=out, min_quality=0.5)
    plan_file = tmp_path / "plan.json"
    plan.save(plan_file)
    capsys.readouterr()
    assert main(["explain", str(plan_file), "--step", "answer"]) == 0
    text = capsys.readouterr().out
    assert "measured quality (target 0.5, against expect)" in text
    small = next(c for c in load_quality(out).steps["answer"].candidates if c.model == "small")
    assert "small@groq-lpu" in text and f"{small.score:.2f} (n={small.n}" in text
    assert "below" in text and "meets" in text


def unsure(question: str) -> bool:
    return zlib.crc32(f"unsure|{question}".encode()) % 1000 < 300


def test_cascade_escalates_at_the_measured_rate_and_is_priced_by_it(tmp_path, server, home):  # noqa: F811
    def small(body: dict):
        q = question_of(body)
        return "UNSURE" if unsure(q) else {"label": truth(q)}

    server.script("small", reply=small)
    server.script("coder", reply=answerer("coder"))
    server.script("big", reply=answerer("big"))
    het = tmp_path / "qa.het"
    het.write_text(WORKFLOW.replace('{{ question }}"', '{{ question }}" with escalate=true'))
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        "".join(
            json.dumps({"inputs": {"question": q}, "expect": {"answer": {"label": truth(q)}}})
            + "\n"
            for q in questions()
        )
    )
    catalog = local_catalog(tmp_path, server.url)
    out = tmp_path / "quality.json"
    assert run_tune(het, samples, catalog, out) == 0
    measured = {c.model: c for c in load_quality(out).steps["answer"].candidates}
    rate = sum(unsure(q) for q in questions()) / N
    assert measured["small"].n == N  # a cascade's first stage is never pruned for giving up
    assert measured["small"].escalation_rate == pytest.approx(rate, abs=1e-6)
    assert measured["small"].accepted_score == 1.0

    plan = hetflow.compile(
        str(het), catalog=str(catalog), quality=out, min_quality=0.95, objective="cost"
    )
    node = plan.node("answer")
    assert node.assignment.model == "small" and node.alternatives[0].model == "big"
    assert node.quality["cascade"]["escalation_rate"] == pytest.approx(rate, abs=1e-6)
    cat = load_catalog(catalog)
    cost = {m: node_cost(cat.offer(o), work_of(node)) for m, o in OFFERS.items()}
    assert node.estimate.cost_usd == pytest.approx(cost["small"] + rate * cost["big"])
    assert node.estimate.cost_usd < cost["big"]
    assert plan.estimate.cost_usd == pytest.approx(node.estimate.cost_usd)

    server.requests.clear()
    for q in questions():
        result = hetflow.run_sync(plan, {"question": q}, journal=False, cache=False)
        assert result.ok and result.outputs["answer"] == {"label": truth(q)}
    asked = [r.model for r in server.requests]
    assert asked.count("small") == N
    assert asked.count("big") == sum(unsure(q) for q in questions())


def test_needs_learned_from_tuned_steps_place_a_step_nobody_measured(setup, tmp_path, capsys):
    het, samples, catalog, _ = setup
    out = tmp_path / "quality.json"
    assert run_tune(het, samples, catalog, out) == 0
    measured = {c.model: c for c in load_quality(out).steps["answer"].candidates}
    other = tmp_path / "other.het"
    other.write_text(
        WORKFLOW.replace("workflow qa", "workflow other")
        .replace("answer", "verdict")
        .replace("Answer yes or no.", "Reply yes or no to this.")
    )
    sized = {"question": "Is number 7 even?"}
    plain = hetflow.compile(str(other), catalog=str(catalog), objective="cost", inputs=sized)
    assert plain.node("verdict").assignment.model == "small"  # the skill rule's guess
    # a step that reads far more than the tuned one is not like it: the rule stands
    far = hetflow.compile(
        str(other), catalog=str(catalog), objective="cost", min_quality=0.5, learn_from=[out]
    )
    assert far.node("verdict").needs["reasoning"] == 2
    for target in (0.5, 0.3, 0.95):
        meeting = [m for m in ("small", "coder", "big") if measured[m].score >= target]
        level = {"small": 2, "coder": 4, "big": 5}[meeting[0]]
        plan = hetflow.compile(
            str(other),
            catalog=str(catalog),
            objective="cost",
            min_quality=target,
            learn_from=[out],
            inputs={"question": "Is number 7 even?"},  # sized like the tuned samples
        )
        node = plan.node("verdict")
        assert node.needs["reasoning"] == level
        assert node.assignment.model == meeting[0]
        assert f"answer (reasoning {level} sufficed)" in node.needs_why
    capsys.readouterr()
    args = ["compile", str(other), "--catalog", str(catalog), "--min-quality", "0.5"]
    args += ["--learn-from", str(out), "--input-size", "question=10"]
    assert main([*args, "-o", str(tmp_path / "p.json")]) == 0
    assert main(["explain", str(tmp_path / "p.json")]) == 0
    assert "learned from tuned steps like it" in capsys.readouterr().out

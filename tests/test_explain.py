"""hetflow explain: needs, candidates with their figures, the winner and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from hetflow.commands.main import main
from hetflow.compiler import compile
from hetflow.errors import HetError
from hetflow.optimize.explain import explain

GOLDEN = Path(__file__).parent / "golden" / "compile"
LAB = str(GOLDEN / "lab.toml")


def test_explain_lists_every_candidate_and_marks_the_winner():
    plan = compile(GOLDEN / "deadline_faster_chip.het", catalog=LAB)
    text = explain(plan, LAB)
    assert "constraints: deadline 6s" in text
    notes = text.split("\nnotes")[1].split("\ntitle")[0]
    assert "needs: reasoning >= 4 (given)" in notes
    for offer in ("big@slowgpu", "big@fastchip", "mid@fastchip", "mid@midchip", "mid@slowgpu"):
        assert offer in notes
    assert "-> mid@midchip" in notes
    # Why: the cheaper chip would miss the deadline.
    assert "the cheaper mid @ slowgpu" in notes and "would miss the deadline" in notes


def test_explain_shows_derived_needs_and_cpu_steps():
    plan = compile(
        "workflow w {\n input doc: text\n extract p = split(doc, lines=5)\n"
        ' map x in p {\n  reason s = prompt "How many dates in {{ x }}?"\n }\n'
        " reduce t = concat(s)\n output t\n}"
    )
    text = explain(plan)
    assert "(derived)" in text and "why: aggregate (linear)" in text
    assert "runs on the CPU" in text


def test_one_step_and_unknown_steps():
    plan = compile(GOLDEN / "pins.het", catalog=LAB)
    text = explain(plan, LAB, step="b")
    assert "\nb  (reason" in text and "\na  (" not in text
    assert "pinned: chip fastchip" in text and "the only" not in text
    with pytest.raises(HetError, match="did you mean 'a'"):
        explain(plan, LAB, step="aa")


def test_cli_on_a_plan_and_on_a_file(tmp_path, capsys):
    target = tmp_path / "p.json"
    assert (
        main(["compile", str(GOLDEN / "map_waves.het"), "--catalog", LAB, "-o", str(target)]) == 0
    )
    capsys.readouterr()
    assert main(["explain", str(target), "--catalog", LAB, "--step", "label"]) == 0
    out = capsys.readouterr().out
    assert "-> small@slowgpu" in out and "200 call(s) at once" in out
    assert main(["explain", str(GOLDEN / "map_waves.het"), "--catalog", LAB]) == 0
    assert "critical path: label -> labels" in capsys.readouterr().out
    # The plan explains itself: no catalog needed, the lab's offers are listed.
    assert main(["explain", str(target)]) == 0
    out = capsys.readouterr().out
    assert "small@slowgpu" in out and "not the one" not in out


def test_an_older_plan_is_explained_against_a_catalog(tmp_path):
    plan = compile(GOLDEN / "map_waves.het", catalog=LAB)
    for node in plan.nodes:
        node.candidates = []  # as written before plans recorded their candidates
    text = explain(plan, LAB)
    assert "-> small@slowgpu" in text and "not the one" not in text
    other = explain(plan, None)  # the shipped catalog: recomputed there, with a note
    assert "is not the one this plan was compiled with" in other

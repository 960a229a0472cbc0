"""`hetflow graph`: drawings on standard output, errors like `hetflow check`."""

from pathlib import Path

import pytest

from hetflow.commands.main import main
from hetflow.compiler import compile as compile_plan

EXAMPLES = Path(__file__).parent / "fixtures" / "graph_examples"


def test_graph_prints_mermaid_by_default(capsys):
    assert main(["graph", str(EXAMPLES / "oolong.het")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    assert 'subgraph recurse_tallies ["recurse tallies over context"]' in out


def test_graph_prints_dot(capsys):
    assert main(["graph", str(EXAMPLES / "contract_review.het"), "--format", "dot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('digraph "contract_review" {')
    assert '"clauses" -> "hits";' in out


def test_graph_reports_diagnostics_like_check(tmp_path, capsys):
    bad = tmp_path / "bad.het"
    bad.write_text('workflow w {\n input x: text\n reason y = prompt "{{ xx }}"\n output y\n}\n')
    assert main(["graph", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{bad}:3:" in captured.err and "'xx' is not defined" in captured.err
    assert "^" in captured.err and "Traceback" not in captured.err


def test_graph_picks_a_workflow(tmp_path, capsys):
    two = tmp_path / "two.het"
    two.write_text(
        'workflow first {\n input a: text\n reason b = prompt "{{ a }}"\n output b\n}\n'
        'workflow second {\n input c: text\n reason d = prompt "{{ c }}"\n output d\n}\n'
    )
    assert main(["graph", str(two), "--workflow", "second"]) == 0
    assert "c --> d" in capsys.readouterr().out
    assert main(["graph", str(two)]) == 0
    assert "a --> b" in capsys.readouterr().out
    assert main(["graph", str(two), "--workflow", "secnd"]) == 1
    assert "did you mean 'second'?" in capsys.readouterr().err


def test_graph_of_a_plan(tmp_path, capsys):
    from hetflow.plan.model import Plan

    plan = Plan(
        workflow="w",
        inputs=[dict(name="x", type="text")],
        nodes=[
            dict(
                id="y",
                op="reason",
                step="y",
                reads=["x"],
                assignment=dict(model="m", chip="groq-lpu", litellm="groq/m"),
            )
        ],
        edges=[],
        estimate=dict(critical_path=["y"]),
    )
    path = tmp_path / "plan.json"
    plan.save(path)
    assert main(["graph", str(path), "--format", "dot"]) == 0
    out = capsys.readouterr().out
    assert '"y" [label="y\\nreason\\nm @ groq-lpu"' in out and '"x" -> "y";' in out
    assert main(["graph", str(path), "--workflow", "other"]) == 1
    assert "plan of workflow 'w'" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["{ not json", '{"nodes": []}'])
def test_graph_of_a_broken_plan_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "plan.json"
    path.write_text(content)
    assert main(["graph", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hetflow: error:") and err.count("\n") == 1


def test_graph_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["graph", str(EXAMPLES / "oolong.het"), "--format", "svg"])
    assert exc.value.code == 2


def test_missing_file(capsys):
    assert main(["graph", "no-such.het"]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["oolong", "web_step", "contract_review"])
def test_graph_of_a_compiled_plan(tmp_path, capsys, name):
    plan = compile_plan(str(EXAMPLES / f"{name}.het"))
    path = tmp_path / "plan.json"
    plan.save(path)
    assert main(["graph", str(path)]) == 0
    out = capsys.readouterr().out
    for node in plan.nodes:
        where = f"{node.assignment.model} @ {node.assignment.chip}" if node.assignment else "cpu"
        assert f"{node.id}<br/>{node.op}<br/>{where}" in out
    for inp in plan.inputs:
        assert f"{inp.name}<br/>input" in out
    assert "classDef critical" in out

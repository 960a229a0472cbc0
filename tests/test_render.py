"""Mermaid and DOT drawings of workflow graphs and plans (LANGUAGE.md §2 examples)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hetflow.plan import render
from hetflow.plan.graph import build_graph
from hetflow.plan.model import Plan
from hetflow.syntax.loader import load_or_raise

EXAMPLES = Path(__file__).parent / "fixtures" / "graph_examples"
NAMES = ("oolong", "web_step", "contract_review")


def graph_of(source):
    return build_graph(load_or_raise(source).workflows[0])


def mermaid_id(name):
    return re.sub(r"\W", "_", name)


def blocks(text, opener, closer):
    """Every block from a line matching `opener` to its matching `closer` line,
    as (header, [lines inside]) — nested blocks included in their parent."""
    out, stack = [], []
    for line in text.splitlines():
        s = line.strip()
        if re.match(opener, s):
            stack.append((s, []))
            for _, body in stack[:-1]:
                body.append(s)
        elif s == closer and stack:
            out.append(stack.pop())
            for _, body in stack:
                body.append(s)
        else:
            for _, body in stack:
                body.append(s)
    assert not stack, "unclosed block"
    return out


def dot_balanced(text):
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            assert depth >= 0
    return depth == 0 and not in_string


@pytest.mark.parametrize("name", NAMES)
def test_mermaid_of_each_language_example(name):
    g = graph_of(EXAMPLES / f"{name}.het")
    text = render.mermaid(g)
    assert text.splitlines()[0] == "flowchart TD"
    for node, op in g.nodes(data="op"):
        assert f"{node}<br/>{op}" in text
        if op == "input":
            assert f'{mermaid_id(node)}[/"{node}<br/>input"/]' in text
    for src, dst in g.edges:
        assert f"  {mermaid_id(src)} --> {mermaid_id(dst)}\n" in text
    assert text.count("subgraph ") == text.count("\n  end") + text.count("\n    end")


@pytest.mark.parametrize("name", NAMES)
def test_dot_of_each_language_example(name):
    g = graph_of(EXAMPLES / f"{name}.het")
    text = render.dot(g)
    assert text.startswith(f'digraph "{g.graph["name"]}" {{')
    assert dot_balanced(text)
    for node, op in g.nodes(data="op"):
        assert f'"{node}" [label="{node}\\n{op}"' in text
    for src, dst in g.edges:
        assert f'"{src}" -> "{dst}";' in text
    inputs = [n for n, op in g.nodes(data="op") if op == "input"]
    for node in inputs:
        line = next(x for x in text.splitlines() if x.strip().startswith(f'"{node}" ['))
        assert 'shape="parallelogram"' in line


def test_recurse_parts_are_grouped_under_the_step():
    g = graph_of(EXAMPLES / "oolong.het")
    found = blocks(render.mermaid(g), r"subgraph ", "end")
    assert len(found) == 1
    header, body = found[0]
    assert header == 'subgraph recurse_tallies ["recurse tallies over context"]'
    inside = [line.split("[")[0].split("(")[0] for line in body]
    assert inside == ["tallies_root", "tallies_repl", "tallies_sub", "tallies_sub2"]
    dot = render.dot(g)
    assert 'subgraph "cluster_recurse:tallies" {' in dot
    assert '"tallies.root" -> "tallies.repl";' in dot


def test_map_body_is_a_subgraph():
    g = graph_of(EXAMPLES / "contract_review.het")
    [(header, body)] = blocks(render.mermaid(g), r"subgraph ", "end")
    assert header == 'subgraph map_clause ["map clause in clauses"]'
    assert [line.split("(")[0].split("[")[0] for line in body] == ["hits", "verdict"]
    [(dot_header, dot_body)] = blocks(render.dot(g), r"subgraph ", "}")
    assert dot_header == 'subgraph "cluster_map:clause" {'
    assert any(line.startswith('"verdict" [') for line in dot_body)
    assert not any(line.startswith('"clauses" [') for line in dot_body)


NESTED = """
workflow nested {
  input docs: list[text]
  map d in docs {
    extract parts = split(d, lines=10)
    map p in parts {
      reason s = prompt "Summarize {{ p }}"
      recurse deep over p depth 1 { task "count things" }
    }
  }
  reduce all = concat(s)
  output all, deep
}
"""


def test_nested_maps_nest_and_hold_their_recurse():
    g = graph_of(NESTED)
    text = render.mermaid(g)
    found = {header.split()[1]: body for header, body in blocks(text, r"subgraph ", "end")}
    assert set(found) == {"map_d", "map_p", "recurse_deep"}
    assert 'subgraph map_p ["map p in parts"]' in found["map_d"]
    assert any(
        line.startswith("recurse_deep") or "subgraph recurse_deep" in line
        for line in found["map_p"]
    )
    assert any(line.startswith("deep_root") for line in found["recurse_deep"])
    assert any(line.startswith("parts") for line in found["map_d"])
    assert not any(line.startswith("parts") for line in found["map_p"])
    dot = render.dot(g)
    assert dot_balanced(dot)
    clusters = {h: b for h, b in blocks(dot, r"subgraph ", "}")}
    outer = clusters['subgraph "cluster_map:d" {']
    assert 'subgraph "cluster_map:p" {' in outer
    assert 'subgraph "cluster_recurse:deep" {' in clusters['subgraph "cluster_map:p" {']


def test_mermaid_ids_never_clash_with_keywords():
    g = graph_of(
        'workflow w {\n input x: text\n reason end = prompt "{{ x }}"\n'
        ' reason graph = prompt "{{ end }}"\n output graph\n}'
    )
    text = render.mermaid(g)
    assert 'n_end["end<br/>reason"]' in text
    assert "  n_end --> n_graph" in text


def plan_with_assignments():
    fast = dict(
        model="llama-3.1-8b", chip="cerebras-wse3", litellm="cerebras/llama3.1-8b", concurrency=16
    )
    big = dict(model="gpt-5", chip="nvidia-h100", litellm="openai/gpt-5", concurrency=32)
    return Plan(
        workflow="contract_review",
        inputs=[dict(name="contract", type="text")],
        maps=[dict(item="clause", over="clauses", body=["hits", "verdict"], cardinality=12)],
        nodes=[
            dict(id="clauses", op="extract", step="clauses", reads=["contract"]),
            dict(id="hits", op="extract", step="hits", maps=["clause"], reads=["clause"]),
            dict(
                id="verdict",
                op="reason",
                step="verdict",
                maps=["clause"],
                reads=["clause", "hits"],
                assignment=fast,
            ),
            dict(id="risky", op="reduce", step="risky", reads=["verdict"]),
            dict(id="summary", op="reason", step="summary", reads=["verdict"], assignment=big),
        ],
        edges=[
            ("clauses", "hits"),
            ("clauses", "verdict"),
            ("hits", "verdict"),
            ("verdict", "risky"),
            ("verdict", "summary"),
        ],
        estimate=dict(critical_path=["clauses", "hits", "verdict", "summary"]),
    )


def test_plan_labels_assignments_and_marks_the_critical_path():
    p = plan_with_assignments()
    text = render.mermaid(p)
    assert 'verdict["verdict<br/>reason<br/>llama-3.1-8b @ cerebras-wse3"]' in text
    assert 'summary["summary<br/>reason<br/>gpt-5 @ nvidia-h100"]' in text
    assert "risky<br/>reduce<br/>cpu" in text
    # the input's edge is drawn from what the step reads, though the plan lists step edges only
    edge_lines = [line.strip() for line in text.splitlines() if "-->" in line]
    assert "contract --> clauses" in edge_lines
    assert "class clauses,hits,verdict,summary critical" in text
    [style] = [line for line in text.splitlines() if line.strip().startswith("linkStyle")]
    marked = [edge_lines[int(i)] for i in style.split()[1].split(",")]
    assert marked == ["clauses --> hits", "hits --> verdict", "verdict --> summary"]

    dot = render.dot(p)
    assert dot_balanced(dot)
    assert '"summary" [label="summary\\nreason\\ngpt-5 @ nvidia-h100"' in dot
    assert re.search(r'"verdict" -> "summary" \[color="#d62728"', dot)
    assert '"verdict" -> "risky";' in dot
    risky = next(x for x in dot.splitlines() if x.strip().startswith('"risky" ['))
    assert "#d62728" not in risky


def test_critical_path_override():
    p = plan_with_assignments()
    text = render.mermaid(p, critical_path=["verdict", "risky"])
    assert "class verdict,risky critical" in text


def test_render_refuses_other_things():
    with pytest.raises(TypeError):
        render.mermaid("not a graph")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize("name", NAMES)
def test_graphviz_parses_the_dot(name):
    text = render.dot(graph_of(EXAMPLES / f"{name}.het"))
    done = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_pydot_parses_the_dot(name):
    pydot = pytest.importorskip("pydot")
    g = graph_of(EXAMPLES / f"{name}.het")
    [parsed] = pydot.graph_from_dot_data(render.dot(g))
    edges = {
        (e.get_source().strip('"'), e.get_destination().strip('"')) for e in parsed.get_edges()
    }
    assert edges == set(g.edges)

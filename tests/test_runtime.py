"""The runtime end to end through litellm's real HTTP path, against a local server.

Plans are compiled from real `.het` files with a catalog whose offers point at the
server; the server answers per model name and records what it was asked.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import contract, contract_model, last_user

import hetflow
from hetflow.runtime import Image, Settings, run, run_sync
from hetflow.runtime.values import for_output

EXAMPLES = Path(__file__).parent.parent / "examples"
FAST = Settings(backoff_s=0.01)


def compile_example(name: str, catalog: Path):
    return hetflow.compile(str(EXAMPLES / name), catalog=str(catalog))


def test_contract_review_runs_every_step_on_its_planned_model(server, home):
    server.script("coder", reply=contract_model)
    server.script("small", reply=contract_model)
    server.script("big", reply=contract_model)
    plan = compile_example("contract_review.het", local_catalog(home, server.url))
    planned = {n.id: n.assignment.model for n in plan.nodes if n.assignment}

    result = run_sync(plan, {"contract": contract(12)}, settings=FAST)

    assert result.ok, result.reason
    assert result.outputs["risky"] == 4  # clauses 0, 3, 6, 9 mention indemnification
    assert result.outputs["summary"] == "SUMMARY: 4 risky clauses"
    # Placement as planned: the server saw each step's planned model, and only it.
    for request in server.seen():
        step = "verdict" if last_user(request.body).startswith("Clause:") else "summary"
        assert request.model == planned[step]
    assert len(server.seen()) == 13
    # The trace has one record per call, with the plan's placement and real usage.
    assert {r["node"] for r in result.trace} == {"verdict", "summary"}
    assert all(r["model"] == planned[r["node"]] and r["tokens_in"] > 0 for r in result.trace)
    assert result.cost_usd == pytest.approx(sum(r["cost_usd"] for r in result.trace))
    assert "estimated" in result.summary


def test_map_values_become_lists_after_the_map(server, home):
    server.script("coder", reply=contract_model)
    plan = compile_example("contract_review.het", local_catalog(home, server.url))
    plan.outputs = ["summary", "risky", "verdict"]  # the map's body value, as a list

    result = run_sync(plan, {"contract": contract(5)}, settings=FAST)

    verdicts = result.outputs["verdict"]
    assert [v["risky"] for v in verdicts] == [True, False, False, True, False]


def test_typed_output_is_requested_validated_and_retried_with_the_error(server, home):
    asked: dict[str, int] = {}

    def sloppy(body):
        text = last_user(body)
        asked[text] = asked.get(text, 0) + 1
        if text.startswith("Clause:") and len(body["messages"]) == 1:
            return '{"risky": "maybe"}'  # wrong type, missing field: invalid
        return contract_model({"messages": [body["messages"][0]]})

    server.script("coder", reply=sloppy)
    plan = compile_example("contract_review.het", local_catalog(home, server.url))

    result = run_sync(plan, {"contract": contract(3)}, settings=FAST)

    assert result.ok, result.reason
    assert result.outputs["risky"] == 1
    retried = [r for r in server.seen("coder") if len(r.body["messages"]) == 3]
    assert len(retried) == 3  # each clause once more, with the reply and the error
    feedback = retried[0].body["messages"][2]["content"]
    assert "not valid" in feedback and "why" in feedback
    first = server.seen("coder")[0].body
    assert "JSON schema" in last_user(first)  # the schema is in the prompt
    assert first.get("response_format", {}).get("type") in ("json_object", "json_schema")


def test_hooks_see_every_call_with_keyword_arguments(server, home):
    server.script("coder", reply=contract_model)
    plan = compile_example("contract_review.het", local_catalog(home, server.url))
    calls, nodes = [], []

    def on_call_end(*, node, model, cost_usd, latency_s, **future_kwargs):
        calls.append((node, model, cost_usd, latency_s))

    class Watcher:
        def on_node_end(self, *, node, ok, **_):
            nodes.append((node, ok))

    run_sync(plan, {"contract": contract(4)}, settings=FAST, hooks={"on_call_end": on_call_end})
    run_sync(plan, {"contract": contract(4)}, settings=FAST, hooks=Watcher(), cache=False)

    assert len(calls) == 5 and all(c[1] == "coder" and c[2] > 0 for c in calls)
    assert sorted(n for n, ok in nodes if ok).count("verdict") == 4


def _png(w: int, h: int) -> bytes:
    from PIL import Image as PILImage
    from PIL import ImageDraw

    im = PILImage.new("RGB", (w, h), "white")
    ImageDraw.Draw(im).rectangle((w // 2, 0, w - 1, h // 2), fill="red")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_zoom_crops_the_box_the_vision_model_names_and_passes_the_crop_on(server, home):
    server.script("small", reply={"x0": 0.5, "y0": 0.0, "x1": 1.0, "y1": 0.5})
    server.script("big", reply={"kind": "click", "target": "the red box", "value": None})
    plan = compile_example("web_step.het", local_catalog(home, server.url))
    shot = home / "shot.png"
    shot.write_bytes(_png(400, 200))

    result = run_sync(
        plan, {"screenshot": str(shot), "goal": "press the red button"}, settings=FAST
    )

    assert result.ok, result.reason
    assert result.outputs["action"]["kind"] == "click"
    zoom_request = server.seen("small")[0].body
    parts = zoom_request["messages"][0]["content"]
    assert "press the red button" in parts[0]["text"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    # The action model received the crop: the top-right quarter, scaled back up, all red.
    action_parts = server.seen("big")[0].body["messages"][0]["content"]
    crop = Image.from_data_url(action_parts[1]["image_url"]["url"])
    assert "[image 1]" in action_parts[0]["text"]
    with crop.pil() as im:
        assert im.size == (400, 200)
        assert im.convert("RGB").getpixel((10, 10)) == (255, 0, 0)
        assert im.convert("RGB").getpixel((390, 190)) == (255, 0, 0)


ROOT_CODE = """```python
lines = [l for l in context.splitlines() if l.strip()]
labels = llm_query_batched(["Label this record: " + l for l in lines])
counts = {}
for lab in labels:
    counts[lab.strip()] = counts.get(lab.strip(), 0) + 1
FINAL([{"label": k, "count": v} for k, v in counts.items()])
```"""


def test_recurse_runs_the_root_and_its_sub_calls_on_their_assignments(server, home):
    server.script(
        "coder",
        reply=lambda body: ROOT_CODE if body["messages"][0]["role"] == "system" else "numeric",
    )
    server.script("small", reply="numeric")
    plan = compile_example("oolong.het", local_catalog(home, server.url))
    root = plan.node("tallies.root").assignment.model
    sub = plan.node("tallies.sub").assignment.model
    context = "\n".join(f"Date: 2024 || User: u{i} || Instance: how many {i}?" for i in range(6))

    result = run_sync(plan, {"context": context, "question": "How many numeric?"}, settings=FAST)

    assert result.ok, result.reason
    by_node = {}
    for r in result.trace:
        by_node.setdefault(r["node"], set()).add(r["model"])
    assert by_node["tallies.root"] == {root}
    assert by_node["tallies.sub"] == {sub}
    assert len([r for r in result.trace if r["node"] == "tallies.sub"]) == 6
    assert '[{"label": "numeric", "count": 6}]' in last_user(
        [r for r in server.seen() if "Counts:" in last_user(r.body)][0].body
    )


async def test_litellm_mock_response_needs_no_server_and_no_key(home, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    from hetflow.plan.model import Assignment, Plan, PlanInput, PlanNode

    offer = Assignment(
        model="m",
        chip="c",
        litellm="openai/gpt-4o-mini",
        offer="m@c",
        concurrency=2,
        input_per_mtok=1.0,
        output_per_mtok=1.0,
    )
    plan = Plan(
        workflow="w",
        inputs=[PlanInput(name="q", type="text")],
        outputs=["a"],
        nodes=[
            hetflow.plan.model.PlanNode(
                id="a", op="reason", step="a", reads=["q"], prompt="{{ q }}", assignment=offer
            )
        ],
        edges=[],
    )
    assert PlanNode  # (imported for the shape above)

    result = await run(plan, {"q": "hi"}, settings=Settings(llm_extra={"mock_response": "yo"}))

    assert result.outputs == {"a": "yo"}
    assert result.trace[0]["tokens_out"] > 0 and result.cost_usd > 0


def test_outputs_render_images_as_data_urls():
    img = Image(b"\x89PNG....", "image/png")
    shown = for_output({"focus": img, "n": 1})
    assert shown["focus"].startswith("data:image/png;base64,")
    assert json.dumps(shown)


def _cpu_plan(nodes, maps, outputs, inputs=("doc",)):
    from hetflow.plan.model import MapScope, Plan, PlanInput, PlanNode

    return Plan(
        workflow="w",
        inputs=[PlanInput(name=i, type="text") for i in inputs],
        outputs=outputs,
        maps=[MapScope(**m) for m in maps],
        nodes=[PlanNode(**n) for n in nodes],
        edges=[],
    )


def ref(name):
    return {"ref": name}


def test_nested_maps_give_lists_of_lists_and_items_see_outer_names():
    plan = _cpu_plan(
        nodes=[
            dict(
                id="paras",
                op="extract",
                step="paras",
                reads=["doc"],
                builtin={"name": "split", "args": [ref("doc")], "kwargs": {"sep": "\n\n"}},
            ),
            dict(
                id="lines",
                op="extract",
                step="lines",
                maps=["p"],
                reads=["p"],
                builtin={"name": "split", "args": [ref("p")], "kwargs": {"lines": 1}},
            ),
            dict(
                id="hits",
                op="extract",
                step="hits",
                maps=["p", "l"],
                reads=["l"],
                builtin={"name": "grep", "args": [ref("l"), {"value": "x"}]},
            ),
            dict(
                id="n",
                op="reduce",
                step="n",
                maps=["p"],
                reads=["hits"],
                builtin={"name": "count", "args": [ref("hits")], "kwargs": {"where": None}},
            ),
            dict(
                id="all",
                op="reduce",
                step="all",
                reads=["hits"],
                builtin={"name": "merge", "args": [ref("hits")]},
            ),
        ],
        maps=[
            dict(item="p", over="paras", body=["lines", "hits", "n"]),
            dict(item="l", over="lines", parent="p", body=["hits"]),
        ],
        outputs=["all", "n"],
    )

    result = run_sync(plan, {"doc": "ax\nb\n\ncx\ndx\ne"}, journal=False, cache=False)

    assert result.ok, result.reason
    assert result.outputs["all"] == ["ax", "", "cx", "dx", ""]
    assert result.outputs["n"] == [2, 3]


def test_a_builtin_that_fails_on_real_data_names_the_step_and_item():
    plan = _cpu_plan(
        nodes=[
            dict(
                id="parts",
                op="extract",
                step="parts",
                reads=["doc"],
                builtin={"name": "split", "args": [ref("doc")], "kwargs": {"lines": 1}},
            ),
            dict(
                id="f",
                op="extract",
                step="f",
                maps=["x"],
                reads=["x"],
                builtin={"name": "field", "args": [ref("x"), {"value": "a"}]},
            ),
            dict(
                id="ok",
                op="extract",
                step="ok",
                reads=["doc"],
                builtin={"name": "slice", "args": [ref("doc"), {"value": 0}, {"value": 2}]},
            ),
        ],
        maps=[dict(item="x", over="parts", body=["f"])],
        outputs=["f", "ok"],
    )

    result = run_sync(plan, {"doc": "l1\nl2"}, journal=False, cache=False)

    assert result.outputs == {"ok": "l1"}
    assert result.failed["f"].startswith("field('a'): cannot take field 'a' of str")
    assert result.failed["f"].endswith("(item 0); 2 of 2 items failed")
    assert result.reason.startswith("step 'f' failed: ")


async def test_run_sync_inside_an_event_loop_says_to_await_run():
    from hetflow.errors import HetError

    plan = _cpu_plan(nodes=[], maps=[], outputs=[])
    with pytest.raises(HetError, match="await hetflow.run"):
        run_sync(plan, {"doc": "x"})


SAMPLES = """
workflow votes {
  input question: text
  input seeds: list[text]
  map seed in seeds {
    reason guess = prompt "Answer in one word: {{ question }}" needs reasoning >= 2 {OPTIONS}
  }
  reduce answer = vote(guess)
  output guess, answer
}
"""


@pytest.mark.parametrize("temperature", [None, 0])
def test_identical_calls_share_an_answer_only_at_temperature_zero(server, home, temperature):
    """Self-consistency asks the same thing N times: sampled, N answers (kept apart in
    the journal and cache, so a later run replays the same N); at temperature 0, one."""
    answers = iter(["red", "blue", "red", "green", "red", "blue"])
    server.script("small", reply=lambda body: next(answers))
    server.script("coder", reply=lambda body: next(answers))
    options = "" if temperature is None else f"with temperature={temperature}"
    path = home / "votes.het"
    path.write_text(SAMPLES.replace("{OPTIONS}", options))
    plan = hetflow.compile(str(path), catalog=str(local_catalog(home, server.url)))
    inputs = {"question": "Which colour?", "seeds": ["1", "2", "3"]}
    cache = home / "calls.sqlite"

    first = run_sync(plan, inputs, settings=FAST, cache=cache)

    assert first.ok, first.reason
    paid = len(server.seen())
    if temperature is None:
        assert paid == 3 and sorted(first.outputs["guess"]) == ["blue", "red", "red"]
        assert first.outputs["answer"] == "red"
    else:
        assert paid == 1 and first.outputs["guess"] == ["red"] * 3
    # A later run with the same cache replays the same answers and pays for none.
    again = run_sync(plan, inputs, settings=FAST, cache=cache)
    assert again.ok and len(server.seen()) == paid
    assert sorted(again.outputs["guess"]) == sorted(first.outputs["guess"])
    assert all(r["cached"] for r in again.trace)

"""Grammar-aware fuzzing: random but well-formed workflows through check and compile.

Whatever the program, `check` gives diagnostics and `compile` gives a plan or a HetError —
never another exception — and every plan keeps the contract's invariants: edges join
nodes, the critical path is a path, the total cost is the sum of the nodes' costs
(DESIGN.md "cost: sum over nodes"), the total latency covers every node's.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from contract_support import CATALOG, cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hetflow

HEAD = """
schema Row {
  label: text
  flag: bool
  n: number
}
"""
INPUTS = {
    "doc": "text ~ 20k tokens",
    "docs": "list[text] ~ 12 items",
    "img": "image",
    "rows": "list[Row] ~ 8 items",
    "q": "text",
}
TYPES = {"doc": "text", "docs": "list[text]", "img": "image", "rows": "list[Row]", "q": "text"}


@st.composite
def steps(draw, env: dict[str, str], counter: list[int], depth: int = 0):
    """Steps that refer only to names of the right type (so most programs check clean)."""
    out: list[str] = []
    defined: dict[str, str] = {}

    def pick(*types: str) -> str | None:
        names = sorted(n for n, t in {**env, **defined}.items() if t in types)
        return draw(st.sampled_from(names)) if names else None

    for _ in range(draw(st.integers(1, 4))):
        counter[0] += 1
        name = f"s{counter[0]}"
        level = draw(st.integers(0, 5))
        needs = draw(
            st.sampled_from(
                [
                    "",
                    f" needs reasoning >= {level}",
                    " needs reasoning >= 2, context >= 64k",
                    f" needs coding >= {level}, reasoning >= 1",
                ]
            )
        )
        pin = draw(
            st.sampled_from(
                ["", "", "", ' using "m"', " on fast", ' on "slow"', ' using "openai/big"']
            )
        )
        opts = draw(st.sampled_from(["", " with temperature=0", " with max_tokens=100"]))
        kind = draw(
            st.sampled_from(
                [
                    "split",
                    "grep",
                    "reason",
                    "reason",
                    "reason_typed",
                    "count",
                    "concat",
                    "tally",
                    "recurse",
                    "zoom",
                    "map",
                    "field",
                    "merge",
                ]
            )
        )
        any_ref = pick("text", "list[text]", "list[Row]", "Row", "number", "json")
        if kind == "split" and (r := pick("text")):
            out.append(f"extract {name} = split({r}, lines={level + 1})")
            defined[name] = "list[text]"
        elif kind == "grep" and (r := pick("text")):
            out.append(f'extract {name} = grep({r}, "a|b")')
            defined[name] = "grepped"
        elif kind == "field" and (r := pick("Row")):
            out.append(f'extract {name} = field({r}, "label")')
            defined[name] = "text"
        elif kind == "reason" and any_ref:
            other = pick("text", "number", "Row") or any_ref
            out.append(
                f'reason {name} = prompt "Use {{{{ {any_ref} }}}} and {{{{ {other} }}}}"'
                f"{needs}{pin}{opts}"
            )
            defined[name] = "text"
        elif kind == "reason_typed" and any_ref:
            out.append(f'reason {name}: Row = prompt "Label {{{{ {any_ref} }}}}"{needs}{pin}')
            defined[name] = "Row"
        elif kind == "count" and (r := pick("list[text]", "list[Row]")):
            out.append(f"reduce {name} = count({r})")
            defined[name] = "number"
        elif kind == "concat" and (r := pick("list[text]")):
            out.append(f"reduce {name} = concat({r})")
            defined[name] = "text"
        elif kind == "merge" and (r := pick("list[list[text]]")):
            out.append(f"reduce {name} = merge({r})")
            defined[name] = "list[text]"
        elif kind == "tally" and (r := pick("list[Row]")):
            out.append(f'reduce {name} = tally({r}, by="label")')
            defined[name] = "json"
        elif kind == "recurse" and (r := pick("text")):
            d = draw(st.sampled_from(["", " depth 1", " depth 2"]))
            task = pick("text") or r
            out.append(
                f'recurse {name} over {r}{d} {{\n  task "Count {{{{ {task} }}}}"\n'
                f"  root needs coding >= {min(level, 4)}\n  sub needs reasoning >= 1\n}}"
            )
            defined[name] = "text"
        elif kind == "zoom" and (r := pick("image")):
            out.append(f'zoom {name} = {r} at "the part about {{{{ q }}}}"')
            defined[name] = "image"
        elif kind == "map" and depth < 2 and (r := pick("list[text]", "list[Row]")):
            item = f"it{counter[0]}"
            inner_env = {**env, **defined, item: {**env, **defined}[r][5:-1]}
            body, body_defined = draw(steps(inner_env, counter, depth + 1))
            out.append(f"map {item} in {r} {{\n" + "\n".join(body) + "\n}")
            defined.update({n: f"list[{t}]" for n, t in body_defined.items()})
    return out, defined


@st.composite
def programs(draw):
    body, defined = draw(steps(dict(TYPES), [0]))
    objective = draw(st.sampled_from(["", "objective cost", "objective latency"]))
    budget = draw(st.sampled_from(["", "", "budget $5", "budget $0.000001"]))
    names = sorted(defined) or ["doc"]
    wanted = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    inputs = "\n".join(f"  input {n}: {t}" for n, t in INPUTS.items())
    return (
        HEAD
        + "workflow fuzz {\n"
        + inputs
        + "\n  "
        + objective
        + "\n  "
        + budget
        + "\n"
        + "\n".join(body)
        + "\n  output "
        + ", ".join(wanted)
        + "\n}\n"
    )


def _invariants(plan) -> None:
    data = json.loads(plan.model_dump_json())
    ids = {n["id"] for n in data["nodes"]}
    assert len(ids) == len(data["nodes"]), "node ids are unique"
    edges = {tuple(e) for e in data["edges"]}
    for a, b in edges:
        assert a in ids and b in ids, (a, b)
    path = data["estimate"]["critical_path"]
    assert set(path) <= ids
    for a, b in zip(path, path[1:], strict=False):
        assert (a, b) in edges, (a, b)
    total = sum(n["estimate"]["cost_usd"] for n in data["nodes"])
    assert data["estimate"]["cost_usd"] == pytest.approx(total, rel=1e-6, abs=1e-12)
    slowest = max((n["estimate"]["latency_s"] for n in data["nodes"]), default=0)
    assert data["estimate"]["latency_s"] >= slowest - 1e-9
    for n in data["nodes"]:
        est = n["estimate"]
        assert (
            min(
                est["calls"],
                est["input_tokens"],
                est["output_tokens"],
                est["cost_usd"],
                est["latency_s"],
            )
            >= 0
        ), n
        if n["op"] in ("extract", "reduce"):
            assert n["assignment"] is None, n
        if n["op"] == "zoom":  # derived needs ask for vision: eye is the only seeing model
            assert n["assignment"] and n["assignment"]["model"] == "eye", n
    budget = data.get("budget_usd")
    if budget is not None:
        assert data["estimate"]["cost_usd"] <= budget + 1e-9


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_fuzz_check_and_compile(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.het"
        path.write_text(text)
        found = hetflow.check(path)
        for d in found:
            assert d.pos.line >= 1 and d.message, d
        if any(d.is_error for d in found):
            with pytest.raises(hetflow.HetError):
                hetflow.compile(path, catalog=CATALOG)
            return
        try:
            plan = hetflow.compile(path, catalog=CATALOG)
        except hetflow.HetError as exc:
            assert str(exc).strip(), text
            return
        _invariants(plan)
        plan_path = Path(tmp) / "fuzz.plan.json"
        plan.save(plan_path)
        assert json.loads(plan_path.read_text())["workflow"] == "fuzz"
        for args in (
            ["graph", plan_path],
            ["simulate", plan_path],
            ["explain", plan_path, "--catalog", CATALOG],
        ):
            ran = cli(*args)
            assert ran.code == 0 and "Traceback" not in ran.text, (args, ran.text, text)


# ---------------------------------------------------------------- running what compiles


def _reply(body: dict):
    """A model that answers whatever it is asked in the shape it is asked for."""
    text = json.dumps(body.get("messages", []))
    if "FINAL" in text:  # a recursion's root (or a child recursion): answer at once
        return "```repl\nFINAL(str(len(context)))\n```"
    if '"x0"' in text or "x0" in text:  # zoom's box
        return {"x0": 0.25, "y0": 0.25, "x1": 0.75, "y1": 0.75}
    if body.get("response_format") or "label" in text and "flag" in text:
        return {"label": "p", "flag": True, "n": 2}
    return "an answer"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from support.openai_server import OpenAIServer

    with OpenAIServer() as server:
        server.default.reply = _reply
        for model in ("m-fast", "m-slow", "big", "eye"):
            server.script(model, reply=_reply)
        tmp = tmp_path_factory.mktemp("served")
        text = CATALOG.read_text()
        for var in (
            "CONTRACT_FAST_KEY",
            "CONTRACT_SLOW_KEY",
            "CONTRACT_BIG_KEY",
            "CONTRACT_EYE_KEY",
        ):
            text = text.replace(f'api_key_env = "{var}"', f'api_base = "{server.url}"')
        catalog = tmp / "served.toml"
        catalog.write_text(text)
        yield server, catalog


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_fuzz_what_compiles_runs(served, text):
    from PIL import Image

    server, catalog = served
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.het"
        path.write_text(text.replace("budget $0.000001", ""))
        try:
            plan = hetflow.compile(path, catalog=catalog)
        except hetflow.HetError:
            return
        inputs = {
            "doc": "alpha beta\ngamma a delta\nb epsilon\n" * 5,
            "docs": ["first a", "second b", "third"],
            "img": Image.new("RGB", (64, 48), (10, 200, 30)),
            "rows": [{"label": "p", "flag": True, "n": 1}, {"label": "q", "flag": False, "n": 2}],
            "q": "what matters?",
        }
        result = hetflow.run_sync(plan, inputs=inputs, journal=False, cache=False)
        assert result.ok, (result.reason, result.failed, result.not_run, text)
        assert set(result.outputs) == set(plan.outputs), (result.outputs, text)

"""Runtime benchmark: orchestration overhead, litellm's cost per call, parallel calls.

    python bench/bench_runtime.py [--nodes 1000] [--quick]

Prints, side by side in one run:
  1. overhead per node on a 1,000-node chain and a 1,000-node fan-out (and a 1,000-item
     map), with instant model replies — (a) ``Caller.ask`` bypassed: the scheduler,
     prompt rendering and hooks only; (b) the model answering instantly at the backend,
     so every call takes the whole call path (concurrency slot, budget reservation,
     trace record, hooks) — the figure the target is about; (c) the same with the
     journal on, as in a real run (one SQLite file, every node and call committed);
     (d) through litellm with its ``mock_response`` — next to a plain-asyncio floor
     (futures and tasks, nothing else) and LangGraph running the same graph (skipped
     with a message if langgraph is not installed);
  2. litellm's own CPU time per mocked call, and calls/second sustained by a run;
  3. 100 parallel calls of 50 ms each to a local OpenAI-compatible server
     (concurrency 100): the run's wall time, next to raw litellm calls.
Targets (see docs/runtime.md): overhead within 2x of the asyncio floor and >= 10x less
than LangGraph; 100 x 50 ms under 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Annotated, TypedDict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from hetflow.plan.model import Assignment, MapScope, Plan, PlanInput, PlanNode  # noqa: E402
from hetflow.runtime import Settings, run  # noqa: E402

# api_base: a local endpoint needs no key (the mocked and bypassed runs never call it).
OFFER = dict(
    model="m",
    chip="c",
    litellm="openai/m",
    offer="m@c",
    concurrency=100_000,
    input_per_mtok=0.1,
    output_per_mtok=0.2,
    api_base="http://127.0.0.1:9/v1",
)


def chain_plan(n: int) -> Plan:
    offer = Assignment(**OFFER)
    nodes = [
        PlanNode(
            id=f"n{i}",
            op="reason",
            step=f"n{i}",
            reads=["x" if i == 0 else f"n{i - 1}"],
            prompt="{{ %s }}" % ("x" if i == 0 else f"n{i - 1}"),
            assignment=offer,
        )
        for i in range(n)
    ]
    edges = [(f"n{i - 1}", f"n{i}") for i in range(1, n)]
    return Plan(
        workflow="chain",
        inputs=[PlanInput(name="x", type="text")],
        outputs=[f"n{n - 1}"],
        nodes=nodes,
        edges=edges,
    )


def fanout_plan(n: int) -> Plan:
    offer = Assignment(**OFFER)
    nodes = [
        PlanNode(
            id=f"n{i}", op="reason", step=f"n{i}", reads=["x"], prompt="{{ x }}", assignment=offer
        )
        for i in range(n)
    ]
    return Plan(
        workflow="fanout",
        inputs=[PlanInput(name="x", type="text")],
        outputs=[f"n{i}" for i in range(n)],
        nodes=nodes,
        edges=[],
    )


def map_plan(n: int, offer: Assignment | None = None) -> Plan:
    offer = offer or Assignment(**OFFER)
    nodes = [
        PlanNode(
            id="items",
            op="extract",
            step="items",
            reads=["x"],
            builtin={"name": "split", "args": [{"ref": "x"}], "kwargs": {"lines": 1}},
        ),
        PlanNode(
            id="y",
            op="reason",
            step="y",
            maps=["it"],
            reads=["it"],
            prompt="{{ it }}",
            assignment=offer,
        ),
        PlanNode(
            id="count",
            op="reduce",
            step="count",
            reads=["y"],
            builtin={"name": "count", "args": [{"ref": "y"}]},
        ),
    ]
    return Plan(
        workflow="map",
        inputs=[PlanInput(name="x", type="text")],
        outputs=["count"],
        maps=[MapScope(item="it", over="items", body=["y"], cardinality=n)],
        nodes=nodes,
        edges=[("items", "y"), ("y", "count")],
    )


# --------------------------------------------------------------------------- hetflow
class _Instant:
    """Bypasses ``Caller.ask``: the scheduler, prompt rendering and hooks only."""

    def __enter__(self):
        from hetflow.runtime import calls

        self._orig = calls.Caller.ask

        async def ask(self, node, item, messages, **_):
            return "ok"

        calls.Caller.ask = ask
        return self

    def __exit__(self, *exc):
        from hetflow.runtime import calls

        calls.Caller.ask = self._orig


class _InstantModel:
    """The model answers at once: everything of hetflow's call path runs but the call."""

    def __enter__(self):
        from hetflow.runtime.backends import LocalBackend
        from hetflow.runtime.llm import Reply

        self._orig = LocalBackend.complete

        async def complete(self, offer, messages, **_):
            return Reply("ok", 8, 1)

        LocalBackend.complete = complete
        return self

    def __exit__(self, *exc):
        from hetflow.runtime.backends import LocalBackend

        LocalBackend.complete = self._orig


async def hetflow_run(plan: Plan, inputs: dict, journal=False, **kw) -> float:
    gc.collect()
    t = time.perf_counter()
    result = await run(plan, inputs, journal=journal, cache=False, **kw)
    elapsed = time.perf_counter() - t
    assert result.ok, result.reason
    return elapsed


# --------------------------------------------------------------------------- floors
async def asyncio_chain(n: int) -> float:
    loop = asyncio.get_running_loop()
    t = time.perf_counter()
    futs = [loop.create_future() for _ in range(n)]

    async def node(i):
        value = "x" if i == 0 else await futs[i - 1]
        futs[i].set_result(value)

    await asyncio.gather(*(node(i) for i in range(n)))
    return time.perf_counter() - t


async def asyncio_fanout(n: int) -> float:
    loop = asyncio.get_running_loop()
    t = time.perf_counter()
    src = loop.create_future()
    src.set_result("x")

    async def node(i):
        return await src

    await asyncio.gather(*(node(i) for i in range(n)))
    return time.perf_counter() - t


def _keep(a, b):
    return b


class LGState(TypedDict):
    v: Annotated[str, _keep]  # a reducer, so parallel branches may all write `v`


def langgraph_graphs(n: int):
    from langgraph.graph import END, START, StateGraph

    S = LGState
    chain = StateGraph(S)
    for i in range(n):
        chain.add_node(f"n{i}", lambda s: {"v": s["v"]})
    chain.add_edge(START, "n0")
    for i in range(1, n):
        chain.add_edge(f"n{i - 1}", f"n{i}")
    chain.add_edge(f"n{n - 1}", END)

    fan = StateGraph(S)
    for i in range(n):
        fan.add_node(f"n{i}", lambda s: {"v": s["v"]})
        fan.add_edge(START, f"n{i}")
        fan.add_edge(f"n{i}", END)
    return chain.compile(), fan.compile()


async def langgraph_time(graph, n: int) -> float:
    t = time.perf_counter()
    await graph.ainvoke({"v": "x"}, {"recursion_limit": n + 10})
    return time.perf_counter() - t


def best(samples: list[float]) -> float:
    return min(samples)


# --------------------------------------------------------------------------- main
async def overhead(n: int, reps: int) -> None:
    import tempfile

    print(
        f"\n1. Orchestration overhead per node, {n} nodes, instant replies "
        f"(best of {reps}, microseconds per node)"
    )
    mock = Settings(llm_extra={"mock_response": "ok"})
    text = "\n".join(f"line {i}" for i in range(n))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "journal.sqlite"  # one file for every run, as in real use
        for name, plan, floor in (
            ("chain", chain_plan(n), asyncio_chain),
            ("fan-out", fanout_plan(n), asyncio_fanout),
            ("map", map_plan(n), asyncio_fanout),
        ):
            inputs = {"x": text if name == "map" else "x"}
            with _Instant():
                sched = best([await hetflow_run(plan, inputs) for _ in range(reps)])
            with _InstantModel():
                full = best([await hetflow_run(plan, inputs) for _ in range(reps)])
                jour = best([await hetflow_run(plan, inputs, journal=journal) for _ in range(reps)])
            mocked = best([await hetflow_run(plan, inputs, settings=mock) for _ in range(reps)])
            floor_s = best([await floor(n) for _ in range(reps)])
            rows.append((name, floor_s, sched, full, jour, mocked))
    lg = {}
    try:
        chain_g, fan_g = langgraph_graphs(n)
        lg["chain"] = best([await langgraph_time(chain_g, n) for _ in range(reps)])
        lg["fan-out"] = best([await langgraph_time(fan_g, n) for _ in range(reps)])
    except ImportError:
        print("   (LangGraph not installed: `pip install -e '.[bench]'` to compare)")
    us = 1e6 / n
    print(
        "   (a) scheduler only (Caller.ask bypassed); (b) whole call path, model answers "
        "at once;\n   (c) = (b) with the journal on; (d) through litellm's mock_response"
    )
    print(
        f"   {'graph':8} {'asyncio floor':>13} {'(a) sched':>10} {'ratio':>6} "
        f"{'(b) call path':>14} {'ratio':>6} {'(c) +journal':>13} {'(d) litellm':>12} "
        f"{'LangGraph':>10} {'LG/(b)':>7}"
    )
    for name, floor_s, sched, full, jour, mocked in rows:
        lgs = lg.get(name)
        print(
            f"   {name:8} {floor_s * us:13.1f} {sched * us:10.1f} {sched / floor_s:6.1f} "
            f"{full * us:14.1f} {full / floor_s:6.1f} {jour * us:13.1f} {mocked * us:12.1f} "
            + (f"{lgs * us:10.1f} {lgs / full:7.1f}" if lgs else f"{'-':>10} {'-':>7}")
        )


async def litellm_cpu(calls: int) -> None:
    from hetflow.runtime.llm import litellm

    lt = litellm()
    msgs = [{"role": "user", "content": "hello"}]
    for _ in range(20):
        await lt.acompletion(model="openai/m", messages=msgs, mock_response="ok")
    cpu = time.process_time()
    for _ in range(calls):
        await lt.acompletion(model="openai/m", messages=msgs, mock_response="ok")
    per = (time.process_time() - cpu) / calls
    plan = map_plan(calls)
    text = "\n".join(f"line {i}" for i in range(calls))
    wall = best(
        [
            await hetflow_run(
                plan, {"x": text}, settings=Settings(llm_extra={"mock_response": "ok"})
            )
            for _ in range(2)
        ]
    )
    print(
        f"\n2. litellm's own CPU per mocked call: {per * 1e3:.2f} ms "
        f"({calls} sequential acompletion(mock_response=...))"
    )
    print(f"   calls/second sustained by a run (a {calls}-item map, mocked): {calls / wall:,.0f}/s")


async def parallel_calls(n: int, latency: float) -> None:
    import json
    import subprocess

    import httpx

    from hetflow.runtime.llm import litellm

    lt = litellm()
    # An asyncio server in a process of its own: its work is not ours to measure.
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "support" / "openai_server.py"),
            "--model",
            "m",
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        offer = Assignment(**{**OFFER, "concurrency": n, "api_base": url})
        plan = map_plan(n, offer)
        text = "\n".join(f"line {i}" for i in range(n))
        await hetflow_run(plan, {"x": text})  # warm the client and its connections
        runs = [await hetflow_run(plan, {"x": text}) for _ in range(5)]

        async def raw_litellm() -> float:
            t = time.perf_counter()
            await asyncio.gather(
                *(
                    lt.acompletion(
                        model="openai/m",
                        api_base=url,
                        api_key="k",
                        num_retries=0,
                        messages=[{"role": "user", "content": f"line {i}"}],
                    )
                    for i in range(n)
                )
            )
            return time.perf_counter() - t

        raw = [await raw_litellm() for _ in range(3)]

        stats = json.loads(httpx.get(url.removesuffix("/v1") + "/stats").text)  # any GET
    finally:
        proc.terminate()
        proc.wait()
    print(
        f"\n3. {n} parallel calls of {latency * 1e3:.0f} ms each, local server (own "
        f"process), concurrency {n} (target: under 150 ms)"
    )
    print(
        f"   hetflow run (map of {n}): best {min(runs) * 1e3:.0f} ms, "
        f"median {statistics.median(runs) * 1e3:.0f} ms; server high-water "
        f"{stats['high_water'].get('m')}"
    )
    print(
        f"   raw litellm.acompletion x{n}: best {min(raw) * 1e3:.0f} ms "
        f"(litellm's share of the run)"
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args()
    reps = 2 if args.quick else 5
    print(f"hetflow runtime bench (python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    from hetflow.runtime.llm import litellm

    litellm()  # the import is not what we measure
    await overhead(args.nodes, reps)
    await litellm_cpu(args.nodes)
    await parallel_calls(100, 0.05)


if __name__ == "__main__":
    asyncio.run(main())

"""The Ray backend on a real two-node Ray cluster on this machine (loopback only).

One node holds ``hetflow-chip:groq-lpu``, the other ``hetflow-chip:nvidia-h100``; a
plan whose steps sit on those chips runs with ``backend="ray"`` against the local
OpenAI-compatible server, and every call's trace record says which Ray node ran it.
"""

from __future__ import annotations

import os
import pickle
import sys

import pytest
from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)

import hetflow
from hetflow.errors import HetError
from hetflow.runtime import Settings, run_sync

# Before Ray is imported: bind 127.0.0.1 (never the machine's NIC), no usage statistics.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'hetflow[ray]')")
from ray.cluster_utils import Cluster  # noqa: E402

from hetflow.runtime.ray_backend import RayBackend  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

FAST = Settings(backoff_s=0.01)
KEY = "sk-test-ray-secret-0123456789"  # a key the nodes hold; must never ship in args

FLOW = """
workflow twochips {
  input doc: text
  objective cost
  extract parts = split(doc, sep="\\n")
  map part in parts {
    reason tag = prompt "Tag: {{ part }}" needs reasoning >= 2
  }
  reason verdict = prompt "Judge: {{ tag }}" needs reasoning >= 5
  output verdict, tag
}
"""


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes on loopback with different chips; workers inherit the key."""
    saved = {"BIG_KEY": os.environ.get("BIG_KEY")}
    os.environ["BIG_KEY"] = KEY  # the nodes' environment (set before they start)
    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "resources": {"hetflow-chip:groq-lpu": 4},
            "include_dashboard": False,
        },
    )
    c.add_node(num_cpus=2, resources={"hetflow-chip:nvidia-h100": 4})
    ray.init(address=c.address, log_to_driver=False, logging_level="WARNING")
    c.wait_for_nodes()
    nodes = {}
    for n in ray.nodes():
        for chip in ("groq-lpu", "nvidia-h100"):
            if f"hetflow-chip:{chip}" in n["Resources"]:
                nodes[chip] = n["NodeID"]
    yield nodes
    ray.shutdown()
    c.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _plan(home, server):
    path = home / "flow.het"
    path.write_text(FLOW)
    catalog = local_catalog(home, server.url, big_key_env="BIG_KEY")
    return hetflow.compile(str(path), catalog=str(catalog))


def _script(server):
    server.script("small", reply=lambda body: "tag")
    server.script("big", reply="fine")


def test_each_call_runs_on_the_node_holding_its_chip(cluster, server, home):
    _script(server)
    plan = _plan(home, server)
    chips = {n.step: n.assignment.chip for n in plan.nodes if n.assignment}
    assert chips == {"tag": "groq-lpu", "verdict": "nvidia-h100"}

    backend = RayBackend()
    result = run_sync(plan, {"doc": "a\nb\nc"}, settings=FAST, backend=backend, cache=False)

    assert result.ok, result.reason
    assert result.outputs == {"verdict": "fine", "tag": ["tag", "tag", "tag"]}
    assert len(result.trace) == 4
    assert not any("groq-lpu" in w or "nvidia-h100" in w for w in backend.warnings)
    for record in result.trace:
        assert record["ray_node"] == cluster[record["chip"]], record
    # The worker read the key from its own environment: the server saw it.
    big = server.seen("big")
    assert big and all(r.authorization == f"Bearer {KEY}" for r in big)


def test_builtins_run_as_ray_tasks_not_in_the_driver(cluster, server, home, monkeypatch):
    """The split and the map's gathering run in Ray workers: the driver's copy is broken."""
    from hetflow.runtime import ops

    def refuse(node, values):
        raise AssertionError(f"builtin {node.step} ran in the driver")

    monkeypatch.setattr(ops, "run_builtin", refuse)
    _script(server)
    plan = _plan(home, server)
    result = run_sync(plan, {"doc": "a\nb"}, settings=FAST, backend="ray", cache=False)
    assert result.ok, result.reason
    assert result.outputs == {"verdict": "fine", "tag": ["tag", "tag"]}

    with pytest.raises(AssertionError, match="ran in the driver"):  # the same patch bites locally
        ops.run_builtin(plan.nodes[0], {})


def test_no_key_value_travels_in_a_tasks_arguments(cluster, server, home, monkeypatch):
    _script(server)
    plan = _plan(home, server)
    backend = RayBackend()
    shipped: list[bytes] = []
    real_start = backend.start

    def start(p):
        offers = real_start(p)
        real_call = backend._call

        class Spy:
            def options(self, **kw):
                opts = real_call.options(**kw)

                class Remote:
                    def remote(self, *args):
                        shipped.append(pickle.dumps(args))
                        return opts.remote(*args)

                return Remote()

        backend._call = Spy()
        return offers

    monkeypatch.setattr(backend, "start", start)
    result = run_sync(plan, {"doc": "x"}, settings=FAST, backend=backend, cache=False)

    assert result.ok, result.reason
    assert len(shipped) == 2
    assert all(KEY.encode() not in args for args in shipped)
    assert any(b"BIG_KEY" in args for args in shipped)  # the variable's name only


def test_budget_journal_resume_and_retries_hold_under_ray(cluster, server, home):
    failed = {"n": 0}

    def flaky(body):
        return "tag"

    def fail_twice(body):
        if failed["n"] < 2:
            failed["n"] += 1
            return 500
        return None

    server.script("small", reply=flaky, fail=fail_twice)
    server.script("big", down=503)  # the first run fails at the verdict
    plan = _plan(home, server)
    journal = home / "j.sqlite"
    settings = Settings(backoff_s=0.01, retries=1)

    first = run_sync(
        plan, {"doc": "a\nb"}, settings=settings, backend="ray", journal=journal, cache=False
    )
    assert first.failed and "verdict" in first.failed
    assert "ServiceUnavailable" in first.failed["verdict"] or "503" in first.failed["verdict"]
    retried = [r for r in first.trace if r["node"] == "tag" and r["retries"] > 0]
    assert retried, "the transient 500s were retried on the same offer"
    assert failed["n"] == 2
    small_calls = len(server.seen("small"))

    server.script("big", reply="fine")
    second = run_sync(
        plan,
        {"doc": "a\nb"},
        settings=settings,
        backend="ray",
        journal=journal,
        cache=False,
        resume=True,
    )
    assert second.ok, second.reason
    assert len(server.seen("small")) == small_calls  # no finished call paid twice
    assert second.outputs["verdict"] == "fine"

    # A budget too small for one call of the big model stops the run: nothing overspent.
    server.requests.clear()
    stopped = run_sync(
        plan,
        {"doc": "q\nr"},
        settings=FAST,
        backend="ray",
        journal=False,
        cache=False,
        budget=0.000001,
    )
    assert stopped.stopped and stopped.cost_usd <= 0.000001


def test_a_chip_no_node_holds_warns_or_refuses(cluster, server, home, capsys):
    _script(server)
    plan = _plan(home, server)
    for node in plan.nodes:
        if node.assignment and node.assignment.chip == "nvidia-h100":
            node.assignment.chip = "trainium2"
    with pytest.raises(HetError, match="no Ray node holds chip trainium2"):
        run_sync(plan, {"doc": "a"}, backend="ray", ray_strict=True, journal=False)

    backend = RayBackend()
    result = run_sync(plan, {"doc": "a"}, settings=FAST, backend=backend, journal=False)
    assert result.ok, result.reason
    assert "trainium2" in backend.warnings[0]
    assert "hetflow: warning: no Ray node holds chip trainium2" in capsys.readouterr().err


def test_local_runs_never_import_ray():
    import subprocess

    code = (
        "import sys, hetflow.runtime as r, hetflow.runtime.backends as b; "
        "from hetflow.plan.model import Plan, PlanNode, PlanInput\n"
        "p = Plan(workflow='w', inputs=[PlanInput(name='x', type='text')], outputs=['n'], "
        "nodes=[PlanNode(id='n', op='extract', step='n', reads=['x'], "
        "builtin={'name': 'grep', 'args': [{'ref': 'x'}, {'value': 'b'}]})], edges=[])\n"
        "r.run_sync(p, {'x': 'b'}, journal=False, cache=False)\n"
        "assert 'ray' not in sys.modules, 'ray was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_run_command_takes_the_ray_backend(cluster, server, home, capsys):
    from hetflow.commands.main import main

    server.script("coder", reply="done")
    flow = home / "code.het"
    flow.write_text(
        "workflow code {\n  input task: text\n  objective cost\n"
        '  reason patch = prompt "Fix: {{ task }}" needs coding >= 5\n  output patch\n}\n'
    )
    catalog = str(local_catalog(home, server.url))
    argv = ["run", str(flow), "--catalog", catalog, "-i", "task=x", "--no-cache"]
    argv += ["--journal", str(home / "j.sqlite"), "--backend", "ray"]

    assert main([*argv, "--ray-strict"]) == 1
    err = capsys.readouterr().err
    assert "hetflow: error: no Ray node holds chip cerebras-wse3 (--ray-strict)" in err
    assert "Traceback" not in err and not server.seen()

    assert main(argv) == 0
    out = capsys.readouterr()
    assert '"patch": "done"' in out.out
    assert "warning: no Ray node holds chip cerebras-wse3" in out.err


def test_a_provider_error_echoing_the_key_never_shows_it(cluster, server, home):
    server.script("small", reply="tag")
    server.script("big", fail=lambda body: 401, echo_auth=True)  # repeats the key back
    plan = _plan(home, server)

    result = run_sync(plan, {"doc": "a"}, settings=FAST, backend="ray", journal=False, cache=False)

    assert "verdict" in result.failed and "401" in result.failed["verdict"]
    assert server.seen("big", ok_only=False)[0].authorization == f"Bearer {KEY}"
    assert KEY not in result.failed["verdict"] and "***" in result.failed["verdict"]
    assert all(KEY not in str(r) for r in result.trace)


def test_a_missing_key_is_said_before_a_ray_of_its_own_starts(home, tmp_path):
    """README: before any call, run checks the keys its plan needs.  A Ray hetflow
    starts itself shares the process's environment, so the check comes before Ray
    starts (it used to come from each node, after a Ray had been started for nothing)."""
    import subprocess

    flow = home / "flow.het"
    flow.write_text(FLOW)
    catalog = local_catalog(home, "http://127.0.0.1:9/v1", big_key_env="HETFLOW_TEST_NO_KEY")
    code = (
        "import sys, ray\n"
        "def refuse(*a, **k): raise SystemExit('ray.init was called')\n"
        "ray.init = refuse\n"
        "from hetflow.commands.main import main\n"
        f"sys.exit(main(['run', {str(flow)!r}, '--catalog', {str(catalog)!r}, "
        "'-i', 'doc=a b', '--backend', 'ray', '--no-cache', '--journal', "
        f"{str(tmp_path / 'j.sqlite')!r}]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "HETFLOW_TEST_NO_KEY")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 1, done.stderr
    assert "hetflow: error: missing API key: set HETFLOW_TEST_NO_KEY" in done.stderr, done.stderr
    assert "ray.init was called" not in done.stderr and "Traceback" not in done.stderr

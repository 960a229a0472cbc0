"""Real tokens: the shipped local catalog's model (SmolLM2-135M-Instruct) served in this
process by llama.cpp, driven through the whole runtime.

Marked ``local``: they need the ``local`` extra and the pulled weights
(``hetflow models pull``), and are skipped without them — unless
``HETFLOW_REQUIRE_LOCAL=1`` (set by ``.ci/run``), which makes a missing piece a failure.
Kept few and small (short inputs, small ``max_tokens``): CI has 2 cores.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
from pathlib import Path

import pytest

import hetflow
from hetflow.catalog import load_catalog
from hetflow.runtime import Settings, run_sync
from hetflow.runtime.local import server as local_server
from hetflow.runtime.local import weights

pytestmark = pytest.mark.local

EXAMPLES = Path(__file__).parent.parent / "examples"
CONTRACT = (
    "1. Payment. Buyer shall pay each invoice within sixty days.\n\n"
    "2. Termination. Supplier may terminate at any time without notice.\n\n"
    "3. Liability. Supplier's liability shall not exceed ten dollars."
)


def _weights() -> Path | None:
    offer = load_catalog("local").offers[0]
    return weights.locate(weights.parse_spec(offer.gguf))


def _missing() -> str | None:
    if local_server.xllamacpp() is None:
        return 'the local extra is not installed (pip install ".[local]")'
    if _weights() is None:
        return "the local model is not pulled (hetflow models pull)"
    return None


@pytest.fixture(autouse=True)
def _needs_the_model():
    why = _missing()
    if why:
        if os.environ.get("HETFLOW_REQUIRE_LOCAL") == "1":
            pytest.fail(f"HETFLOW_REQUIRE_LOCAL=1 but {why}")
        pytest.skip(why)
    local_server.LAST_RUN.clear()


def _listening(address: str) -> bool:
    url = urllib.parse.urlparse(address)
    probe = socket.socket()
    try:
        probe.settimeout(1)
        return probe.connect_ex((url.hostname, url.port)) == 0
    finally:
        probe.close()


def _run(source: str, inputs: dict, **kw):
    plan = hetflow.compile(source, catalog="local", inputs=inputs)
    return run_sync(plan, inputs, journal=False, cache=False, settings=Settings(), **kw)


def test_a_typed_workflow_runs_end_to_end_with_valid_structured_output():
    threads_before = threading.active_count()

    result = _run(str(EXAMPLES / "contract_triage.het"), {"contract": CONTRACT})

    assert result.ok, result.reason
    verdicts = [r for r in result.trace if r["node"] == "verdict"]
    assert len({r["item"] for r in verdicts}) == 3
    assert isinstance(result.outputs["risky"], int) and 0 <= result.outputs["risky"] <= 3
    assert result.outputs["summary"].strip()
    # typed replies came back valid: the schema was enforced by the server, no retry needed
    assert all(r["retries"] == 0 and r["error"] is None for r in verdicts)
    # the trace's tokens are the server's own counts, not estimates
    (stats,) = local_server.LAST_RUN.values()
    prompt = stats["prompt_tokens_total"] + stats.get("prompt_tokens_cached_total", 0)
    assert sum(r["tokens_in"] for r in result.trace) == prompt
    assert sum(r["tokens_out"] for r in result.trace) == stats["tokens_predicted_total"]
    # and the server is gone: its port is closed, its threads have ended
    assert not _listening(stats["address"])
    assert threading.active_count() <= threads_before + 1  # litellm may keep one worker


def test_a_recurse_step_with_a_real_root_model_ends_within_max_iterations(tmp_path):
    src = tmp_path / "count.het"
    src.write_text(
        "workflow count {\n"
        "  input context: text\n"
        "  recurse answer: text over context depth 1 {\n"
        '    task "How many lines does the context have? Answer with FINAL(number)."\n'
        "  } with max_iterations=2, max_tokens=64, temperature=0\n"
        "  output answer\n"
        "}\n"
    )
    result = _run(str(src), {"context": "alpha\nbeta\ngamma"})

    root = [r for r in result.trace if r["step"] == "answer"]
    # two turns at most, then (if no FINAL came) the one forced answer
    assert 1 <= len(root) <= 3
    assert all(r["tokens_out"] <= 64 for r in root)
    assert result.ok or result.failed, "the run ended, one way or the other"
    (stats,) = local_server.LAST_RUN.values()
    assert not _listening(stats["address"])


def test_a_context_longer_than_the_window_fails_that_step_and_stops_the_server(tmp_path):
    src = tmp_path / "long.het"
    src.write_text(
        "workflow long {\n  input doc: text\n"
        '  reason gist = prompt "Gist: {{ doc }}" with max_tokens=8\n'
        "  output gist\n}\n"
    )
    plan = hetflow.compile(str(src), catalog="local")  # planned without the real input
    doc = "word " * 6000  # ~6k tokens: more than the offer's 4,096-token window
    result = run_sync(plan, {"doc": doc}, journal=False, cache=False, settings=Settings())

    assert not result.ok
    why = result.failed["gist"]
    assert "smollm2-135m@cpu" in why and "context" in why.lower()
    (stats,) = local_server.LAST_RUN.values()
    assert not _listening(stats["address"])

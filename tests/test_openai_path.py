"""The lean OpenAI-compatible call path against litellm's: the same requests on the wire
and the same trace, journal and budget records; its own error classification."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import contract, contract_model

import hetflow
from hetflow.plan.model import Assignment
from hetflow.runtime import Settings, openai_path, run_sync
from hetflow.runtime.calls import _transient
from hetflow.runtime.llm import describe

EXAMPLES = Path(__file__).parent.parent / "examples"
FAST = Settings(backoff_s=0.01)
TIMING = ("latency_s", "started", "ended")


def _catalog(home: Path, url: str, client: str) -> Path:
    folder = home / client
    folder.mkdir()
    path = local_catalog(folder, url)
    path.write_text(path.read_text().replace("api_base =", f'client = "{client}"\napi_base ='))
    return path


def _run_through(client: str, server, home: Path) -> dict:
    """contract_review on one path, its first request of every prompt answered 429."""
    refused: set[str] = set()

    def once_429(body: dict) -> int | None:
        key = str(body.get("messages"))
        if key in refused:
            return None
        refused.add(key)
        return 429

    for model in ("small", "coder", "big"):
        server.script(model, reply=contract_model, fail=once_429)
    server.requests.clear()
    plan = hetflow.compile(
        str(EXAMPLES / "contract_review.het"), catalog=str(_catalog(home, server.url, client))
    )
    assert {n.assignment.client for n in plan.nodes if n.assignment} == {client}
    journal = home / f"{client}.sqlite"
    result = run_sync(
        plan, {"contract": contract(9)}, settings=FAST, journal=journal, cache=False, budget=0.2
    )
    assert result.ok, result.reason
    with sqlite3.connect(journal) as db:
        calls = sorted(
            db.execute("SELECT call, reply, input_tokens, output_tokens, cost FROM calls")
        )
        nodes = sorted(db.execute("SELECT node, item, value FROM nodes"))
    records = sorted(
        ({k: v for k, v in r.items() if k not in TIMING and k != "run"} for r in result.trace),
        key=lambda r: (r["node"], r["item"], r["retries"]),
    )
    wire = sorted((r.status, json.dumps(r.body, sort_keys=True)) for r in server.requests)
    return {
        "outputs": result.outputs,
        "cost": result.cost_usd,
        "trace": records,
        "calls": calls,
        "nodes": nodes,
        "wire": wire,
    }


def test_both_paths_send_the_same_requests_and_keep_the_same_records(server, home):
    lean = _run_through("openai", server, home)
    via_litellm = _run_through("litellm", server, home)
    assert "litellm" in sys.modules  # the second run did go through it
    assert lean["outputs"] == via_litellm["outputs"]
    assert lean["cost"] == via_litellm["cost"] > 0
    assert lean["calls"] == via_litellm["calls"]  # journal: same keys, replies, usage, cost
    assert lean["nodes"] == via_litellm["nodes"]
    assert lean["trace"] == via_litellm["trace"]  # retries, errors, tokens, cost, fallback
    assert any(r["error"] and r["error"].startswith("RateLimitError 429") for r in lean["trace"])
    # The wire: the same bodies (model, messages, max_tokens, temperature, response_format).
    assert [status for status, _ in lean["wire"]] == [s for s, _ in via_litellm["wire"]]
    assert [body for _, body in lean["wire"]] == [b for _, b in via_litellm["wire"]]


def _offer(url: str, model: str = "m", **kw) -> Assignment:
    return Assignment(model=model, chip="c", litellm=f"openai/{model}", api_base=url, **kw)


def _fails(server, status: int, **script) -> BaseException:
    server.script("m", down=status, **script)

    async def go() -> BaseException:
        try:
            await openai_path.complete(_offer(server.url), [{"role": "user", "content": "x"}])
        except BaseException as exc:  # noqa: B036 — the test wants whatever it raises
            return exc
        finally:
            await openai_path.aclose()
        raise AssertionError("no error")

    return asyncio.run(go())


@pytest.mark.parametrize(
    "status, transient, name",
    [
        (429, True, "RateLimitError"),
        (500, True, "InternalServerError"),
        (503, True, "ServiceUnavailableError"),
        (404, False, "NotFoundError"),
        (401, False, "AuthenticationError"),
        (400, False, "BadRequestError"),
    ],
)
def test_errors_are_classified_as_litellm_classifies_them(server, status, transient, name):
    exc = _fails(server, status)
    assert _transient(exc) is transient
    assert exc.description == f"{name} {status}: model m is down"


def test_a_refused_connection_is_said_as_such_and_retried():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> BaseException:
        try:
            await openai_path.complete(
                _offer(f"http://127.0.0.1:{port}/v1"), [{"role": "user", "content": "x"}]
            )
        except BaseException as exc:  # noqa: B036
            return exc
        finally:
            await openai_path.aclose()
        raise AssertionError("no error")

    exc = asyncio.run(go())
    assert _transient(exc)
    assert exc.description == "cannot reach the endpoint (connection refused)"


def test_usage_is_read_and_a_malformed_reply_is_transient(server):
    server.script("m", reply="hello", usage=lambda body, text: (11, 3))
    server.script("bad", reply="x")

    async def go():
        try:
            ok = await openai_path.complete(_offer(server.url), [{"role": "user", "content": "x"}])
            return ok
        finally:
            await openai_path.aclose()

    answer = asyncio.run(go())
    assert (answer.text, answer.usage["prompt_tokens"], answer.usage["completion_tokens"]) == (
        "hello",
        11,
        3,
    )
    malformed = openai_path.CallError("malformed reply: {}", transient=True)
    assert _transient(malformed) and describe(TimeoutError()) == "timed out"


def test_which_offers_take_the_lean_path():
    a = Assignment(model="m", chip="c", litellm="cerebras/gpt-oss-120b")
    assert openai_path.uses_openai(a)
    assert not openai_path.uses_openai(a.model_copy(update={"client": "litellm"}))
    assert not openai_path.uses_openai(Assignment(model="m", chip="c", litellm="anthropic/x"))
    assert not openai_path.uses_openai(Assignment(model="m", chip="c", litellm="gpt-5"))
    forced = Assignment(model="m", chip="c", litellm="x/m", api_base="http://h/v1", client="openai")
    assert openai_path.uses_openai(forced)
    assert openai_path.endpoint(forced) == ("http://h/v1", "x/m")


@pytest.mark.slow
def test_structured_output_mode_is_litellm_s_without_importing_it():
    from hetflow.runtime.llm import json_mode

    for model in [
        "cerebras/gpt-oss-120b",
        "cerebras/llama3.1-8b",
        "groq/openai/gpt-oss-120b",
        "groq/llama-3.1-8b-instant",
        "sambanova/Meta-Llama-3.3-70B-Instruct",
        "sambanova/gpt-oss-120b",
        "together_ai/openai/gpt-oss-120b",
        "together_ai/Qwen/Qwen3-VL-8B-Instruct",
        "fireworks_ai/accounts/fireworks/models/llama-v3p3-70b-instruct",
        "openai/small",
        "hosted_vllm/some-model",
        "deepinfra/some-model",
        "openrouter/some-model",
    ]:
        offer = Assignment(model="m", chip="c", litellm=model, api_base="http://h/v1")
        assert openai_path.json_mode(offer) == json_mode(model), model


def test_a_run_on_lean_offers_never_imports_litellm(server, home):
    server.script("small", reply=contract_model)
    server.script("coder", reply=contract_model)
    server.script("big", reply=contract_model)
    catalog = local_catalog(home, server.url)
    code = (
        "import sys, hetflow\n"
        f"r = hetflow.run_sync({str(EXAMPLES / 'contract_review.het')!r}, "
        f"{{'contract': {contract(3)!r}}}, catalog={str(catalog)!r}, journal=False, cache=False)\n"
        "assert r.ok, r.reason\n"
        "print('litellm' in sys.modules, 'openai' in sys.modules, 'aiohttp' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["False", "False", "True"]


def test_retry_after_reaches_the_backoff():
    """A 429's Retry-After is read from the lean path's error, as from litellm's."""
    from types import SimpleNamespace

    from hetflow.runtime.calls import Caller

    async def go() -> BaseException:
        async def handle(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            body = b'{"error": {"message": "slow down"}}'
            writer.write(
                b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await openai_path.complete(
                _offer(f"http://127.0.0.1:{port}/v1"), [{"role": "user", "content": "x"}]
            )
        except openai_path.CallError as exc:
            return exc
        finally:
            await openai_path.aclose()
            server.close()
        raise AssertionError("no error")

    exc = asyncio.run(go())
    assert exc.description == "RateLimitError 429: slow down" and _transient(exc)
    fake = SimpleNamespace(_backoff=lambda attempt: 0.1, settings=Settings(backoff_max_s=20.0))
    assert Caller._delay(fake, 1, exc) == 3.0

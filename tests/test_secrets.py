"""API keys: checked before any call, used on the wire, and written nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.catalogs import MODELS, local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import contract, contract_model

import hetflow
from hetflow.commands.main import main
from hetflow.errors import HetError
from hetflow.runtime import Settings, run_sync

ROOT = Path(__file__).parent.parent
SECRET = "sk-hetflow-SECRET-9f8e7d6c5b4a3210"
TWO = """
workflow two {
  input q: text
  reason a = prompt "A {{ q }}" using "small"
  reason b = prompt "B {{ q }}" using "big"
  output a, b
}
"""

REMOTE = """
[[offers]]
model = "{model}"
chip = "{chip}"
litellm = "openai/{model}"
output_tps = 500
prefill_tps = 20000
ttft_ms = 50
concurrency = 4
input_per_mtok = 0.1
output_per_mtok = 0.2
api_key_env = "{var}"
"""


def remote_catalog(home: Path) -> Path:
    """Offers with a key variable and no api_base: they need their key."""
    path = home / "remote.toml"
    path.write_text(
        MODELS
        + REMOTE.format(model="small", chip="groq-lpu", var="HETFLOW_TEST_SMALL_KEY")
        + REMOTE.format(model="big", chip="nvidia-h100", var="HETFLOW_TEST_BIG_KEY")
    )
    return path


def test_missing_keys_are_named_before_any_call(server, home, monkeypatch, tmp_path):
    monkeypatch.delenv("HETFLOW_TEST_SMALL_KEY", raising=False)
    monkeypatch.delenv("HETFLOW_TEST_BIG_KEY", raising=False)
    src = tmp_path / "two.het"
    src.write_text(TWO)
    plan = hetflow.compile(str(src), catalog=str(remote_catalog(home)))

    with pytest.raises(HetError) as err:
        run_sync(plan, {"q": "?"})

    message = str(err.value)
    assert "HETFLOW_TEST_SMALL_KEY (for a)" in message
    assert "HETFLOW_TEST_BIG_KEY (for b)" in message
    assert "\n" not in message and "no call was made" in message
    assert server.requests == []


def test_an_offer_without_its_key_is_skipped_for_a_usable_alternative(server, home, monkeypatch):
    monkeypatch.delenv("HETFLOW_TEST_CODER_KEY", raising=False)
    for model in ("small", "big"):
        server.script(model, reply=contract_model)
    catalog = local_catalog(home, server.url)
    text = catalog.read_text()
    # coder: a hosted offer (no api_base) whose key is not set.
    head, coder, tail = text.partition('model = "coder"')
    tail = tail.replace(f'api_base = "{server.url}"', 'api_key_env = "HETFLOW_TEST_CODER_KEY"', 1)
    catalog.write_text(head + coder + tail)
    plan = hetflow.compile(str(ROOT / "examples" / "contract_review.het"), catalog=str(catalog))
    assert plan.node("verdict").assignment.model == "coder"

    result = run_sync(plan, {"contract": contract(3)}, settings=Settings(backoff_s=0.01))

    assert result.ok, result.reason
    assert server.seen("coder", ok_only=False) == []
    assert {r["model"] for r in result.trace} <= {"small", "big"}


def test_the_key_is_sent_to_the_provider_and_written_nowhere(
    server, home, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("HETFLOW_TEST_BIG_KEY", SECRET)
    server.script("small", reply="a")
    server.script("big", reply="b")
    src = tmp_path / "two.het"
    src.write_text(TWO)
    catalog = local_catalog(home, server.url, big_key_env="HETFLOW_TEST_BIG_KEY")
    plan_file = home / "plan.json"
    hetflow.compile(str(src), catalog=str(catalog)).save(plan_file)

    code = main(
        [
            "run",
            str(plan_file),
            "--input",
            "q=hello",
            "--journal",
            str(home / "j.sqlite"),
            "--trace",
            str(home / "trace.jsonl"),
        ]
    )
    out = capsys.readouterr()

    assert code == 0, out.err
    assert json.loads(out.out) == {"a": "a", "b": "b"}
    assert server.seen("big")[0].authorization == f"Bearer {SECRET}"
    assert server.seen("small")[0].authorization == "Bearer no-key-needed"
    assert SECRET not in out.out + out.err
    written = [p for p in home.rglob("*") if p.is_file()]
    assert {"j.sqlite", "trace.jsonl", "plan.json", "calls.sqlite"} <= {p.name for p in written}
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def test_a_provider_error_that_echoes_the_key_is_redacted(server, home, monkeypatch, tmp_path):
    monkeypatch.setenv("HETFLOW_TEST_BIG_KEY", SECRET)
    server.script("small", reply="a")
    server.script("big", fail=lambda body: 401, echo_auth=True)
    src = tmp_path / "two.het"
    src.write_text(TWO)
    catalog = local_catalog(home, server.url, big_key_env="HETFLOW_TEST_BIG_KEY")
    plan = hetflow.compile(str(src), catalog=str(catalog))
    trace = home / "trace.jsonl"

    result = run_sync(plan, {"q": "?"}, journal=home / "j.sqlite", trace_path=trace)

    assert result.outputs == {"a": "a"}
    assert "you sent Authorization" in result.failed["b"]
    assert SECRET not in result.failed["b"] and "***" in result.failed["b"]
    assert SECRET not in json.dumps(result.trace)
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_reply_that_echoes_the_key_is_redacted_everywhere(
    server, home, monkeypatch, tmp_path, capsys
):
    """Issue 12 item 13: an endpoint that answers with the Authorization header it got."""
    monkeypatch.setenv("HETFLOW_TEST_BIG_KEY", SECRET)
    server.script("small", reply="a")
    server.script("big", reply=lambda body: "b")
    server.scripts["big"].respond = lambda req: (
        200,
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "big",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"you sent {req.authorization}"},
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
        },
    )
    src = tmp_path / "two.het"
    src.write_text(TWO)
    catalog = local_catalog(home, server.url, big_key_env="HETFLOW_TEST_BIG_KEY")

    code = main(
        [
            "run",
            str(src),
            "--catalog",
            str(catalog),
            "--input",
            "q=hello",
            "--journal",
            str(home / "j.sqlite"),
            "--trace",
            str(home / "trace.jsonl"),
        ]
    )
    out = capsys.readouterr()

    assert code == 0, out.err
    assert json.loads(out.out) == {"a": "a", "b": "you sent Bearer ***"}
    assert SECRET not in out.out + out.err
    written = [p for p in home.rglob("*") if p.is_file()]
    assert {"j.sqlite", "trace.jsonl", "calls.sqlite"} <= {p.name for p in written}
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path

"""A misbehaving OpenAI-compatible server on 127.0.0.1 (issue 12, items 6-14): lying
usage, malformed bodies, Retry-After, hung calls, echoed keys, terminal escapes."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest
from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.openai_server import Raw, Request

import hetflow
from hetflow.commands.main import main
from hetflow.runtime import Settings, run_sync
from hetflow.runtime.journal import Journal

FAST = Settings(backoff_s=0.01, backoff_max_s=0.05)

CHAIN = """
workflow chain {
  input q: text
  reason a = prompt "A {{ q }}" using "big" with max_tokens=100
  reason b = prompt "B {{ a }}" using "big" with max_tokens=100
  output b
}
"""

MANY = """
workflow many {
  input items: list[text]
  map it in items {
    reason r = prompt "Say something about {{ it }}" using "small"%s
  }
  output r
}
"""


def completion(text: str, usage: dict | None = None, **extra) -> dict:
    """An OpenAI chat completion body; ``usage=None`` leaves usage out."""
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        **extra,
    }
    if usage is not None:
        body["usage"] = usage
    return body


def compiled(home: Path, server, source: str) -> hetflow.Plan:
    return hetflow.compile(source, catalog=str(local_catalog(home, server.url)))


def cli(home: Path, server, source: str, *args: str, capsys) -> tuple[int, str, str]:
    src = home / "flow.het"
    src.write_text(source)
    catalog = local_catalog(home, server.url)
    rc = main(["run", str(src), "--catalog", str(catalog), "--no-cache", *args])
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------------- 6: usage and the cap
def test_a_server_ignoring_max_tokens_stops_the_run_and_says_by_how_much(server, home, capsys):
    long = "word " * 4000  # ~5,000 tokens against max_tokens=100, reported honestly
    server.script("big", reply=long, honor_max_tokens=False)

    rc, out, err = cli(
        home,
        server,
        CHAIN,
        "--input",
        "q=x",
        "--budget",
        "0.01",
        "--journal",
        str(home / "j"),
        capsys=capsys,
    )

    assert rc == 1
    last = err.strip().splitlines()[-1]
    assert "budget $0.01 passed by $" in last and "max_tokens" in last, last
    assert "step 'a' on big@nvidia-h100 wrote 5,000 output tokens, past the max_tokens 100" in last
    assert len(server.seen("big")) == 1  # b never started once a's overrun was seen
    assert "Traceback" not in err


def test_absurd_reported_usage_is_charged_what_the_text_shows(server, home):
    server.script(
        "big",
        reply="short answer",
        usage=lambda body, text: (10**9, 10**9),
        honor_max_tokens=False,
    )
    plan = compiled(home, server, CHAIN)

    result = run_sync(plan, {"q": "x"}, budget=0.01, settings=FAST, cache=False, journal=False)

    assert result.ok, result.reason
    assert 0 < result.cost_usd < 0.001  # not $300 (what 10^9 tokens each way would cost)
    assert all(r["tokens_out"] == 3 for r in result.trace)  # "short answer": 12 bytes


def test_missing_or_zero_usage_is_charged_and_the_budget_binds(server, home):
    text = "x" * 400  # 100 tokens at catalog prices ($0.2/M out, $0.1/M in)
    server.script(
        "small",
        respond=lambda req: (
            200,
            completion(
                text,
                None
                if len(req.body["messages"][0]["content"]) % 2
                else {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            ),
        ),
    )
    plan = compiled(home, server, MANY % " with max_tokens=200")
    items = [f"item {i}" for i in range(200)]

    result = run_sync(
        plan, {"items": items}, budget=0.0004, settings=FAST, cache=False, journal=False
    )

    paid = [r for r in result.trace if not r["error"]]
    assert all(r["cost_usd"] > 0 and r["tokens_out"] == 100 for r in paid)
    assert result.stopped and "reached" in result.stopped
    assert len(server.seen("small")) < 200
    assert 0 < result.cost_usd <= 0.0004


def test_negative_usage_never_puts_the_run_or_the_journal_in_credit(server, home):
    server.script("small", usage=lambda body, text: (-(10**8), -(10**8)), reply="fine")
    plan = compiled(home, server, MANY % "")
    journal = home / "j.sqlite"

    result = run_sync(
        plan, {"items": ["a", "b", "c"]}, budget=0.01, settings=FAST, cache=False, journal=journal
    )

    assert result.ok and result.cost_usd > 0
    assert all(r["cost_usd"] > 0 for r in result.trace)
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT MIN(cost) FROM calls").fetchone()[0] > 0
        # A journal an older hetflow wrote with a negative cost: a resume is not in credit.
        db.execute("UPDATE calls SET cost = -5.26")
    jr = Journal(journal)
    jr.run_id = result.run_id
    assert jr.spent() == 0.0
    jr.close()


# ---------------------------------------------------------------- 8: Retry-After
TWO = """
workflow two {
  input q: text
  reason a = prompt "A {{ q }}" using "small"
  reason b = prompt "B {{ q }}" using "big"
  output a, b
}
"""


def _first_refused(seconds: str):
    """A script whose first request is a 429 asking to wait ``seconds``; then answers."""
    seen = []

    def respond(req: Request):
        seen.append(req)
        if len(seen) == 1:
            return 429, {"error": {"message": "slow down", "type": "rate_limit_error"}}
        return 200, completion("fine")

    return respond


def test_retry_after_is_honoured_and_the_trace_says_why_it_retried(server, home):
    server.script("small", respond=_first_refused("1"), headers={"Retry-After": "1"})
    server.script("big", reply="b")
    plan = compiled(home, server, TWO)

    result = run_sync(
        plan, {"q": "?"}, settings=Settings(backoff_s=0.01, backoff_max_s=5), cache=False
    )

    assert result.ok, result.reason
    first, second = server.seen("small", ok_only=False)
    assert second.started - first.ended >= 0.95  # not the 0.01 s backoff
    failed, ok = [r for r in result.trace if r["node"] == "a"]
    assert failed["error"].startswith("RateLimitError 429")
    assert ok["retries"] == 1 and ok["error"] is None
    assert (
        ok["retry_reason"].startswith("RateLimitError 429") and "waited 1.00s" in ok["retry_reason"]
    )


def test_retry_after_is_bounded_by_the_backoff_cap(server, home):
    server.script("small", respond=_first_refused("3600"), headers={"Retry-After": "3600"})
    server.script("big", reply="b")
    plan = compiled(home, server, TWO)

    result = run_sync(
        plan, {"q": "?"}, settings=Settings(backoff_s=0.01, backoff_max_s=0.3), cache=False
    )

    assert result.ok, result.reason
    first, second = server.seen("small", ok_only=False)
    assert 0.25 <= second.started - first.ended < 2.0


# ---------------------------------------------------------------- 10: malformed replies
def _bad(kind: str):
    def respond(req: Request):
        if kind == "no choices":
            return 200, completion("x") | {"choices": []}
        if kind == "no message":
            return 200, completion("x") | {"choices": [{"index": 0, "finish_reason": "stop"}]}
        body = json.dumps(completion("a reply that will not arrive whole")).encode()
        return 200, Raw(body, cut=len(body) // 2)

    return respond


@pytest.mark.parametrize(
    "kind, said, tries",
    [
        ("no choices", "malformed reply: no choices", 1),
        ("no message", "malformed reply: ", 1),  # (each client words it its own way)
        ("truncated", "the reply was cut off", 3),  # a dropped connection: retried
    ],
)
def test_a_malformed_reply_is_one_clear_line(server, home, capsys, kind, said, tries):
    server.script("small", respond=_bad(kind))
    server.script("big", reply="b")

    rc, out, err = cli(home, server, TWO + "\n", "--input", "q=?", capsys=capsys)
    # (the step's default retries are 4; the fake server's truncation is retried)

    assert rc == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        "hetflow: error: the run failed: step 'a' failed: small@groq-lpu: " + said
    ), last
    for bad in ("Traceback", "IndexError", "cannot reach the endpoint"):
        assert bad not in err
    assert json.loads(out) == {"b": "b"}
    if tries == 1:
        assert len(server.seen("small", ok_only=False)) == 1  # not asked again


def test_a_host_that_does_not_resolve_fails_fast(home, monkeypatch):
    import socket

    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    catalog = local_catalog(home, "http://no-such-host.invalid:9/v1")
    plan = hetflow.compile(TWO, catalog=str(catalog))

    started = time.monotonic()
    result = run_sync(plan, {"q": "x"}, settings=Settings(backoff_s=0.5), cache=False)

    assert time.monotonic() - started < 1.0  # 4 retries would wait 0.25+0.5+1+2 s at least
    why = result.failed["a"]
    assert "host name does not resolve" in why and "attempts" not in why, why


# ---------------------------------------------------------------- 7: max_calls
ROOT = Path(__file__).parent.parent
FAN_OUT = """```python
lines = [l for l in context.splitlines() if l.strip()]
labels = llm_query_batched(["Label this record: " + l for l in lines])
print(len(labels))
```"""
ANSWER = """```python
FINAL([{"label": "numeric", "count": 1}])
```"""


def oolong_fanning_out(server) -> str:
    """examples/oolong.het's source, its root models scripted to fan out then answer."""

    def root(body):
        return FAN_OUT if len(body["messages"]) == 2 else ANSWER

    for model in ("coder", "big"):
        server.script(model, reply=root)
    server.script("small", reply="numeric")
    return (ROOT / "examples" / "oolong.het").read_text()


def test_max_calls_bounds_a_recursions_sub_calls(server, home):
    source = oolong_fanning_out(server)
    source = source.replace(
        "sub needs reasoning >= 2\n  }", "sub needs reasoning >= 2\n  } with max_calls=3"
    )
    assert "max_calls=3" in source
    plan = hetflow.compile(source, catalog=str(local_catalog(home, server.url)))
    context = "\n".join(f"Date: 2024 || User: u{i} || Instance: how many {i}?" for i in range(50))

    result = run_sync(
        plan, {"context": context, "question": "How many?"}, settings=FAST, cache=False
    )

    assert result.failed["tallies"] == "recurse: max_calls=3 reached: no more sub-calls (3 made)"
    assert len(server.seen("small")) == 3  # not 50: the three allowed finished, were paid


def test_max_calls_bounds_the_calls_of_any_step(server, home):
    server.script("small", down=500)
    server.script("big", reply="b")
    plan = compiled(home, server, TWO.replace('using "small"', 'using "small" with max_calls=2'))

    result = run_sync(plan, {"q": "?"}, settings=FAST, cache=False)

    assert "max_calls=2 reached" in result.failed["a"]
    assert len(server.seen("small", ok_only=False)) == 2  # not 1 + 4 retries
    assert result.outputs == {"b": "b"}


# ---------------------------------------------------------------- 9: hung calls
def test_a_hung_call_times_out_by_default_and_is_said_to_be_slow(server, home, capsys):
    server.script("small", reply="late", latency_s=6.0)  # hung, as far as the run can tell
    server.script("big", reply="b")
    plan = compiled(home, server, TWO)  # no `with timeout=`
    settings = Settings(
        retries=0, timeout_factor=1.0, timeout_min_s=2.0, slow_after_s=0.3, backoff_s=0.01
    )

    result = run_sync(plan, {"q": "?"}, settings=settings, cache=False, progress=True)

    assert result.failed["a"] == "small@groq-lpu: timed out"
    assert result.latency_s < 5.0  # not litellm's 6,000 s (nor the server's 6 s)
    err = capsys.readouterr().err
    assert "hetflow: a on small@groq-lpu has waited " in err  # max(0.3 s, 3x estimate)
    assert "for its reply (estimated " in err and "gives up at 2s)" in err


def test_the_default_timeout_follows_the_estimate_within_bounds():
    s = Settings()
    assert s.default_timeout(0.5) == 60.0  # the floor
    assert s.default_timeout(12.0) == 120.0  # ten times the estimate
    assert s.default_timeout(3600.0) == 600.0  # the ceiling
    # A max_tokens that takes 100 s to write at the offer's speed is given 200 s.
    assert s.default_timeout(0.5, longest_s=100.0) == 200.0


# ---------------------------------------------------------------- 14: terminal escapes, NaN
RAW = ("\x1b", "\x07", "\x7f", "\u202e", "\u009b")


def _strict(text: str):
    """JSON as the standard has it: NaN and Infinity are not numbers."""

    def refuse(name: str):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_control_characters_from_outside_never_reach_the_terminal_raw(server, home, capsys):
    hostile = "title\x1b]0;pwned\x07 clear\x1b[2J \u202egnp.exe csi\u009b31m del\x7f"
    server.script("small", reply=hostile)
    server.script("big", respond=lambda req: (400, {"error": {"message": hostile}}))

    rc, out, err = cli(home, server, TWO, "--input", "q=?", capsys=capsys)

    assert rc == 1
    for raw in RAW:
        assert raw not in out and raw not in err, repr(raw)
    assert _strict(out) == {"a": hostile}  # the same text, escaped as JSON escapes it
    assert "\\x1b]0;pwned\\x07" in err and "\\u202egnp.exe" in err and "\\x9b31m" in err


NUMBER = """
workflow n {
  input q: text
  reason n: number = prompt "How many? {{ q }}" using "big"
  output n
}
"""


def test_nan_in_a_number_step_is_not_printed_as_nan(server, home, capsys):
    replies = iter(["NaN", "42"])
    server.script("big", reply=lambda body: next(replies))

    rc, out, err = cli(home, server, NUMBER, "--input", "q=?", capsys=capsys)

    assert rc == 0, err
    assert _strict(out) == {"n": 42}  # NaN was refused and the model asked again
    second = server.seen("big")[1].body["messages"][-1]["content"]
    assert "nan is not a JSON number" in second


def test_a_non_finite_output_is_printed_as_null():
    from hetflow.runtime.values import for_output

    assert _strict(json.dumps(for_output({"x": float("nan"), "y": [float("inf"), 1.5]}))) == {
        "x": None,
        "y": [None, 1.5],
    }


# ---------------------------------------------------------------- 11: a full disk
def test_a_journal_that_cannot_be_written_stops_the_run_without_paying_twice(server, home):
    from support.replies import contract, contract_model

    server.script("coder", reply=lambda body: contract_model(body) + " " * 3000)
    for model in ("small", "big"):
        server.script(model, reply=contract_model)
    plan = hetflow.compile(
        str(ROOT / "examples" / "contract_review.het"),
        catalog=str(local_catalog(home, server.url, small_concurrency=1, coder_concurrency=8)),
    )
    assert plan.node("verdict").assignment.model == "coder"
    journal = Journal(home / "j.sqlite")
    pages = journal.db.execute("PRAGMA page_count").fetchone()[0]
    journal.db.execute(f"PRAGMA max_page_count = {pages + 4}")  # a disk that fills up

    result = run_sync(plan, {"contract": contract(30)}, journal=journal, settings=FAST, cache=False)

    assert result.stopped and result.stopped.startswith("cannot write the journal "), result.stopped
    assert "database or disk is full" in result.stopped and "free space" in result.stopped
    assert server.seen("small") == [] and server.seen("big") == []  # no fallback, no repay
    assert server.repeated_prompts() == 0
    paid = [r for r in result.trace if not r["error"] and not r["cached"]]
    assert len(paid) == len(server.seen()) < 31  # every paid answer used; then it stopped
    assert result.failed == {}
    journal.close()


# ---------------------------------------------------------------- 12: one run, one writer
def test_a_second_resume_of_a_running_run_is_refused_and_names_the_holder(server, home, capsys):
    import os
    import threading

    server.script("small", reply="a", latency_s=1.5)
    server.script("big", reply="b", latency_s=1.5)
    src = home / "flow.het"
    src.write_text(TWO)
    catalog = local_catalog(home, server.url)
    journal = home / "j.sqlite"
    args = ["run", str(src), "--catalog", str(catalog), "--no-cache", "--journal", str(journal)]
    args += ["--input", "q=?"]
    first: dict = {}
    thread = threading.Thread(target=lambda: first.setdefault("rc", main(args)))
    thread.start()
    deadline = time.monotonic() + 30
    while len(server.requests) < 2:  # the first run is under way, its calls in flight
        assert time.monotonic() < deadline
        time.sleep(0.02)

    rc = main([*args, "--resume"])
    err = capsys.readouterr().err
    thread.join()

    assert rc == 1
    line = err.strip().splitlines()[-1]
    assert line.startswith("hetflow: error: run 1 of ") and "is being run by process" in line
    assert f"process {os.getpid()} on " in line and "one run, one writer" in line
    assert first["rc"] == 0
    assert len(server.requests) == 2  # the second paid for nothing
    # Once the first has ended, the run can be resumed (its lock went with it).
    assert main([*args, "--resume"]) == 0
    assert len(server.requests) == 2  # everything came from the journal
    assert not list((home / "j.sqlite.locks").iterdir())


def test_a_root_turn_without_max_tokens_is_capped_so_it_cannot_fill_the_window(server, home):
    """Seen on a real model: with no cap, one 6,144-token root reply filled an 8k window
    that every later turn re-sends.  Root turns get ROOT_TURN_MAX_TOKENS unless the step
    says otherwise; sub-calls keep the provider's own."""
    from hetflow.runtime.calls import ROOT_TURN_MAX_TOKENS

    source = oolong_fanning_out(server)
    assert "max_tokens" not in source
    source = re.sub(r"\n\s*budget [^\n]*", "", source)  # no budget: no cap of its own
    plan = hetflow.compile(source, catalog=str(local_catalog(home, server.url)))
    assert plan.budget_usd is None
    context = "\n".join(f"Date: 2024 || User: u{i} || Instance: how many {i}?" for i in range(5))
    run_sync(plan, {"context": context, "question": "How many?"}, settings=FAST, cache=False)

    def is_turn(r):  # a REPL conversation's turn: it opens with the REPL's instructions
        return r.body["messages"][0]["role"] == "system"

    turns = [r.body.get("max_tokens") for r in server.seen() if is_turn(r)]
    others = [r.body.get("max_tokens") for r in server.seen() if not is_turn(r)]
    assert turns and set(turns) == {ROOT_TURN_MAX_TOKENS}
    assert None in others  # the leaves' plain calls keep the provider's own


def test_a_typed_reply_cut_off_by_max_tokens_is_said_and_retried_shorter(server, home):
    """Seen on a real model: a typed answer whose text field rambled on to max_tokens was
    cut mid-JSON, then retried with the same request and cut again, four times, and the
    error said only 'not JSON'.  The retry now asks for a shorter answer; the error
    names the cause and the fix."""
    ramble = '{"ok": true, "why": "' + "and so on " * 200 + '"}'
    server.script(
        "big",
        reply=lambda body: (
            '{"ok": true, "why": "short"}'
            if "too long" in json.dumps(body["messages"][-1])
            else ramble
        ),
    )
    source = """workflow w {
  input q: text
  reason v: V = prompt "Judge {{ q }}" using "big" with max_tokens=50, retries=1
  output v
}
schema V {
  ok: bool
  why: text
}
"""
    plan = compiled(home, server, source)
    result = run_sync(plan, {"q": "x"}, settings=FAST, cache=False)
    assert result.outputs["v"] == {"ok": True, "why": "short"}
    assert len(server.seen("big")) == 2

    server.script("big", reply=ramble)  # a model that cannot say it shorter
    failed = run_sync(plan, {"q": "y"}, settings=FAST, cache=False)
    assert "reached max_tokens and was cut off" in failed.failed["v"]
    assert "with max_tokens=N" in failed.failed["v"]


# ---------------------------------------------------------------- found by a red team
def test_infinite_or_nan_usage_is_charged_what_the_text_shows(server, home):
    """JSON parsers accept Infinity and NaN: a usage of Infinity failed every call with
    an OverflowError charged $0 — 200 paid calls ran under a $0.01 budget."""
    reply = "w " * 200  # 400 bytes: 100 tokens by the text
    for model, out in (("big", float("inf")), ("small", float("nan"))):
        server.script(
            model, reply=reply, usage=lambda body, text, out=out: (10, out), honor_max_tokens=False
        )
    plan = compiled(home, server, CHAIN)

    result = run_sync(plan, {"q": "x"}, budget=0.01, settings=FAST, cache=False, journal=False)

    assert result.ok, result.reason
    assert [r["tokens_out"] for r in result.trace] == [100, 100]
    assert result.cost_usd > 0


def test_a_lone_surrogate_in_a_reply_neither_hangs_nor_escapes_the_budget(server, home):
    """Seen: "\\ud800" in a reply raised while its cost was counted, the reservation was
    never freed, and a map's run waited forever at 0% CPU."""
    server.script("small", reply="fine \ud800 answer")
    plan = compiled(home, server, MANY % "")

    result = run_sync(
        plan, {"items": ["a", "b", "c", "d", "e"]}, budget=0.01, settings=FAST, cache=False,
        journal=False,
    )  # fmt: skip

    assert result.ok, result.reason
    assert result.outputs["r"] == ["fine ? answer"] * 5
    assert len(result.trace) == 5 and all(r["cost_usd"] > 0 for r in result.trace)


def test_a_key_cut_off_by_an_errors_truncation_is_still_hidden(server, home, capsys, monkeypatch):
    """Seen: a provider's 401 quoting the key near its 200th character was cut to 197
    characters before redaction, so the key minus its last character was shown."""
    key = "sk-secret-123BIGKEYxyz"
    monkeypatch.setenv("BIG_KEY", key)
    pad = "x" * (197 - len(key) + 1)
    server.script(
        "big",
        respond=lambda req: (401, {"error": {"message": f"{pad}{key} is not a valid key"}}),
    )
    src = home / "flow.het"
    src.write_text(CHAIN)
    catalog = local_catalog(home, server.url, big_key_env="BIG_KEY")
    trace = home / "t.jsonl"
    argv = ["run", str(src), "--catalog", str(catalog), "-i", "q=x", "--no-cache"]
    assert main([*argv, "--trace", str(trace)]) == 1
    said = capsys.readouterr()
    for text in (said.out, said.err, trace.read_text()):
        assert key[:8] not in text, text

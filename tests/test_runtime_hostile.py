"""A misbehaving OpenAI-compatible server on 127.0.0.1 (issue 12, items 6-14): lying
usage, malformed bodies, Retry-After, hung calls, echoed keys, terminal escapes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)

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

"""The journal: a failed or killed run resumes and pays for no finished call twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import contract, contract_model, last_user

import hetflow
from hetflow.runtime import Settings, run_sync

ROOT = Path(__file__).parent.parent
FAST = Settings(backoff_s=0.01, backoff_max_s=0.05)


def contract_plan(home, server, objective=None, **kw):
    catalog = local_catalog(home, server.url, **kw)
    return hetflow.compile(
        str(ROOT / "examples" / "contract_review.het"), catalog=str(catalog), objective=objective
    )


def is_summary(body: dict) -> bool:
    return last_user(body).startswith("Summarize")


def test_resume_after_a_failure_runs_only_what_did_not_finish(server, home):
    broken = {"on": True}
    for model in ("coder", "big"):
        server.script(
            model,
            reply=contract_model,
            fail=lambda body: 404 if broken["on"] and is_summary(body) else None,
        )
    plan = contract_plan(home, server)
    journal = home / "journal.sqlite"
    inputs = {"contract": contract(8)}

    first = run_sync(plan, inputs, journal=journal, cache=False, settings=FAST)
    assert set(first.failed) == {"summary"} and first.outputs == {"risky": 3}
    asked_before = len(server.seen())

    broken["on"] = False
    second = run_sync(plan, inputs, journal=journal, cache=False, settings=FAST, resume=True)

    assert second.ok, second.reason
    assert second.outputs["summary"] == "SUMMARY: 3 risky clauses"
    assert len(server.seen()) == asked_before + 1  # only the summary was asked
    assert server.repeated_prompts() == 0
    assert second.spent_before == pytest.approx(first.cost_usd)
    # Without --resume the same run starts afresh (and pays again).
    run_sync(plan, inputs, journal=journal, cache=False, settings=FAST)
    assert server.repeated_prompts() == 9


def test_the_cache_serves_the_same_calls_across_runs(server, home):
    server.script("coder", reply=contract_model)
    plan = contract_plan(home, server)
    cache = home / "calls.sqlite"

    first = run_sync(plan, {"contract": contract(5)}, journal=False, cache=cache)
    second = run_sync(plan, {"contract": contract(5)}, journal=False, cache=cache)
    third = run_sync(plan, {"contract": contract(5)}, journal=False, cache=False)

    assert len(server.seen()) == 2 * 6  # the first run and the uncached third
    assert second.outputs == first.outputs == third.outputs
    assert second.cost_usd == 0 and all(r["cached"] for r in second.trace)
    assert not any(r["cached"] for r in third.trace)


def test_the_default_journal_and_cache_live_in_the_user_dirs(server, home):
    server.script("coder", reply=contract_model)
    plan = contract_plan(home, server)

    result = run_sync(plan, {"contract": contract(2)})

    assert Path(result.journal) == home / "data" / "hetflow" / "journal.sqlite"
    assert (home / "cache" / "hetflow" / "calls.sqlite").exists()


def _journaled(path: Path, node: str) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM nodes WHERE node=?", (node,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_mid_run_then_resume_repays_nothing(server, home):
    # One call in flight at a time: a reply the server wrote is journaled before the next
    # request goes out, so whatever the kill cuts off was never delivered.
    for model in ("small", "coder", "big"):
        server.script(model, reply=contract_model, latency_s=0.1)
    # objective cost: the verdicts go to an offer of concurrency 1, not to big's 8 slots
    plan = contract_plan(home, server, "cost", coder_concurrency=1, small_concurrency=1)
    assert plan.node("verdict").assignment.concurrency == 1
    plan_file, text = home / "plan.json", home / "contract.txt"
    plan.save(plan_file)
    text.write_text(contract(40))
    journal = home / "journal.sqlite"
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        sys.executable,
        "-m",
        "hetflow",
        "run",
        str(plan_file),
        "--input",
        f"contract=@{text}",
        "--journal",
        str(journal),
        "--no-cache",
    ]

    victim = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while _journaled(journal, "verdict") < 10:
        assert victim.poll() is None, victim.communicate()
        assert time.monotonic() < deadline, "the run journaled nothing in time"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    done_before = _journaled(journal, "verdict")
    assert 10 <= done_before < 40

    resumed = subprocess.run(
        cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=120
    )

    assert resumed.returncode == 0, resumed.stderr
    outputs = json.loads(resumed.stdout)
    assert outputs["risky"] == 14 and outputs["summary"] == "SUMMARY: 14 risky clauses"
    # No finished call is paid for twice. The one call in flight when the kill lands
    # (one at a time here) is lost either way: cut off before its reply went out (499),
    # or delivered but killed before the journal committed it, then asked again. Which of
    # the two depends on timing (a loaded machine widens the second window), so the test
    # allows exactly one of them, never more.
    cut_off = [r.status for r in server.requests].count(499)
    assert server.repeated_prompts() + cut_off <= 1
    assert len({(r.model, r.prompt) for r in server.seen()}) == 41  # 40 verdicts, summary
    assert "cost $" in resumed.stderr and "before the resume" in resumed.stderr


TURN_1 = """```python
lines = [l for l in context.splitlines() if l.strip()]
labels = llm_query_batched(["Label this record: " + l for l in lines])
print(labels)
```"""
TURN_2 = """```python
counts = {}
for lab in labels:
    counts[lab] = counts.get(lab, 0) + 1
FINAL([{"label": k, "count": v} for k, v in counts.items()])
```"""


def test_resume_mid_recursion_replays_its_finished_calls(server, home):
    broken = {"on": True}

    def root(body):
        return TURN_1 if len(body["messages"]) == 2 else TURN_2

    def second_turn_fails(body):
        return 503 if broken["on"] and len(body["messages"]) > 2 else None

    for model in ("coder", "big"):
        server.script(model, reply=root, fail=second_turn_fails)
    server.script("small", reply="numeric")
    plan = hetflow.compile(
        str(ROOT / "examples" / "oolong.het"), catalog=str(local_catalog(home, server.url))
    )
    context = "\n".join(f"Date: 2024 || User: u{i} || Instance: how many {i}?" for i in range(5))
    inputs = {"context": context, "question": "How many numeric?"}
    journal = home / "j.sqlite"

    first = run_sync(plan, inputs, journal=journal, cache=False, settings=FAST)
    assert "tallies" in first.failed
    assert len(server.seen("small")) == 5  # the sub-calls of the first turn were paid for

    broken["on"] = False
    second = run_sync(plan, inputs, journal=journal, cache=False, settings=FAST, resume=True)

    assert second.ok, second.reason
    assert server.repeated_prompts() == 0  # turn 1 and its sub-calls came from the journal
    assert len(server.seen("small")) == 5
    replayed = [r for r in second.trace if r.get("source") == "journal"]
    assert len(replayed) == 6  # the root's first turn and its five sub-calls


VOTES = """workflow votes {
  input items: list[text]
  map it in items {
    reason v = prompt "Vote yes or no" with temperature=0.7, max_tokens=10
  }
  output v
}
"""


def test_a_resumed_map_samples_afresh_for_the_items_that_failed(server, home):
    """Seen (a red team): identical sampled calls in a map were numbered per run, so a
    resume gave the items that had failed the answers finished items already had."""
    import itertools

    counter, tries = itertools.count(), itertools.count()
    broken = {"on": True}  # the first 5 requests are answered, then none

    def reply(body):
        return f"vote{next(counter)}"

    for model in ("small", "coder", "big"):
        server.script(
            model,
            reply=reply,
            fail=lambda body: 404 if broken["on"] and next(tries) >= 5 else None,
        )
    src = home / "votes.het"
    src.write_text(VOTES)
    plan = hetflow.compile(str(src), catalog=str(local_catalog(home, server.url)))
    journal = home / "journal.sqlite"
    items = {"items": [str(i) for i in range(9)]}
    one = Settings(backoff_s=0.01, retries=0)

    first = run_sync(plan, items, journal=journal, cache=False, settings=one)
    assert "v" in first.failed
    answered = {r["item"] for r in first.trace if not r.get("error")}
    asked = len(server.seen())
    broken["on"] = False
    second = run_sync(plan, items, journal=journal, cache=False, settings=one, resume=True)

    assert second.ok, second.reason
    votes = second.outputs["v"]
    assert len(set(votes)) == 9, votes  # no item took another item's sample
    assert len(server.seen()) - asked == 9 - len(answered)  # and none was paid twice

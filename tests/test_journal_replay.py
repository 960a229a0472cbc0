"""Resume replays finished nodes from the journal: they are not run again at all.

A resumed run that re-ran every node would still pay for nothing (each call is found
in the journal), so only the node level shows the difference: a finished node starts
no work, makes no trace record, and its journaled value is what its readers get.
"""

from __future__ import annotations

from pathlib import Path

from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import contract, contract_model, last_user

import hetflow
from hetflow.runtime import Settings, run_sync

ROOT = Path(__file__).parent.parent
FAST = Settings(backoff_s=0.01, backoff_max_s=0.05)


def test_a_resumed_run_starts_no_finished_node_again(server, home):
    broken = {"on": True}
    for model in ("coder", "big"):
        server.script(
            model,
            reply=contract_model,
            fail=lambda body: (
                404 if broken["on"] and last_user(body).startswith("Summarize") else None
            ),
        )
    catalog = local_catalog(home, server.url)
    plan = hetflow.compile(str(ROOT / "examples" / "contract_review.het"), catalog=str(catalog))
    journal = home / "journal.sqlite"
    inputs = {"contract": contract(4)}
    first = run_sync(plan, inputs, journal=journal, cache=False, settings=FAST)
    assert set(first.failed) == {"summary"}
    finished = {r["node"] for r in first.trace} - {"summary"}
    assert finished, "the first run finished some model nodes"

    broken["on"] = False
    started: list[str] = []
    hooks = {"on_node_start": lambda *, node, **_: started.append(node)}
    second = run_sync(
        plan, inputs, journal=journal, cache=False, settings=FAST, resume=True, hooks=hooks
    )

    assert second.ok, second.reason
    assert {r["node"] for r in second.trace} == {"summary"}  # no journal replays of calls
    assert set(started) == {"summary"}, started
    assert second.outputs["risky"] == first.outputs["risky"]


def test_resume_with_other_inputs_replays_nothing_of_the_first_run(server, home):
    """The journal is keyed by the plan and the inputs' values: resuming with another
    contract is a new run, not the first one's finished nodes."""
    broken = {"on": True}
    for model in ("coder", "big"):
        server.script(
            model,
            reply=contract_model,
            fail=lambda body: (
                404 if broken["on"] and last_user(body).startswith("Summarize") else None
            ),
        )
    catalog = local_catalog(home, server.url)
    plan = hetflow.compile(str(ROOT / "examples" / "contract_review.het"), catalog=str(catalog))
    journal = home / "journal.sqlite"
    first = run_sync(plan, {"contract": contract(8)}, journal=journal, cache=False, settings=FAST)
    assert set(first.failed) == {"summary"}

    broken["on"] = False
    other = {"contract": contract(40)}
    resumed = run_sync(plan, other, journal=journal, cache=False, settings=FAST, resume=True)
    fresh = run_sync(plan, other, journal=False, cache=False, settings=FAST)

    assert resumed.ok and resumed.outputs == fresh.outputs
    assert resumed.outputs["risky"] != first.outputs["risky"]
    assert resumed.spent_before == 0

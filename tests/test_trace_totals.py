"""The run's predicted-vs-actual totals add up every call the trace holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import contract, contract_model

import hetflow
from hetflow.runtime import run_sync

ROOT = Path(__file__).parent.parent


def test_actual_totals_are_the_sums_of_the_trace(server, home):
    for model in ("coder", "big"):
        server.script(model, reply=contract_model)
    catalog = local_catalog(home, server.url)
    plan = hetflow.compile(str(ROOT / "examples" / "contract_review.het"), catalog=str(catalog))
    result = run_sync(plan, {"contract": contract(6)}, journal=False, cache=False)
    assert result.ok, result.reason

    records = result.trace
    actual = result.comparison["actual"]
    assert len(records) == actual["calls"] == len(server.seen()) == 7  # 6 verdicts, 1 summary
    assert actual["cost_usd"] == pytest.approx(result.cost_usd) and result.cost_usd > 0
    assert actual["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in records))
    tokens_in, tokens_out = (sum(r[k] for r in records) for k in ("tokens_in", "tokens_out"))
    assert tokens_in != tokens_out  # so a swapped total cannot pass
    assert (actual["input_tokens"], actual["output_tokens"]) == (tokens_in, tokens_out)
    assert f"{tokens_in:,} tokens in / {tokens_out:,} out" in result.summary

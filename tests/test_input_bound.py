"""Issue 14, item 9: a budget the plan fits does not stop the run before it spends.

Before each call the budget reserves the call's worst case.  Its input used to be one
token a byte for every model (~4x real text), so a budget the plan fitted stopped at
once, "after 0 calls".  Now an OpenAI-family model's input is counted exactly; any
other model keeps the byte bound (strict) and a refusal says why and how to fix it, or
with ``--input-bound typical`` reserves a typical size, and a provider that bills more
takes the run past the budget by a stated amount, exit 1.  All against a local server.
"""

from __future__ import annotations

import json

from support.fixtures import *  # noqa: F403  (the server and home fixtures)

from hetflow.commands.main import main
from hetflow.runtime import tokens

FLOW = """workflow w {
  input doc: text
  reason gist = prompt "Summarize in one line: {{ doc }}" with max_tokens=100
  output gist
}
"""

CATALOG = """
[catalog]
name = "item-9"

[chips.cloud]
vendor = "somewhere"
handoff_ms = 10

[models.{model}]
reasoning = 3
coding = 3
extraction = 3
vision = 0
context = 400000

[[offers]]
model = "{model}"
chip = "cloud"
litellm = "openai/{model}"
output_tps = 500
prefill_tps = 20000
ttft_ms = 50
concurrency = 4
input_per_mtok = 1.0
output_per_mtok = 2.0
api_base = "{url}"
"""

# ~24 KB of ordinary English: ~5,000 tokens in o200k_base, 24,000 one token a byte.
WORDS = (
    "The supplier shall deliver the goods within thirty days of the order, and the buyer "
    "shall pay each invoice within sixty days of receiving it. "
)
DOC = WORDS * 170
BUDGET = "0.01"  # the byte bound reserves ~$0.024; an exact count ~$0.0055


def setup(home, server, model: str):
    (home / "flow.het").write_text(FLOW)
    (home / "doc.txt").write_text(DOC)
    (home / "catalog.toml").write_text(CATALOG.format(model=model, url=server.url))
    return [
        "run",
        str(home / "flow.het"),
        "--catalog",
        str(home / "catalog.toml"),
        "-i",
        f"doc=@{home / 'doc.txt'}",
        "--budget",
        BUDGET,
        "--no-cache",
        "--trace",
        str(home / "t.jsonl"),
    ]


def o200k_usage(body: dict, reply: str) -> tuple[int, int]:
    """What OpenAI bills: the messages in o200k_base with its framing, and the reply."""
    enc = tokens._encoding("o200k_base")
    msgs = body["messages"]
    n = 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in msgs)
    return n, len(enc.encode(reply))


def byte_usage(body: dict, reply: str) -> tuple[int, int]:
    """A provider whose tokenizer spends a token a byte (believable: within the bound)."""
    n = sum(len(m["content"].encode()) for m in body["messages"])
    return n, max(1, len(reply) // 4)


def trace(home) -> list[dict]:
    return [json.loads(line) for line in (home / "t.jsonl").read_text().splitlines()]


def test_an_openai_model_is_counted_exactly_and_the_run_spends_within_the_budget(
    server, home, capsys
):
    server.script("gpt-5-mini", reply="Goods in 30 days, invoices paid in 60.", usage=o200k_usage)
    argv = setup(home, server, "gpt-5-mini")
    assert len(DOC.encode()) * 1.0 / 1e6 > float(BUDGET)  # one token a byte would not fit

    code = main(argv)
    out = capsys.readouterr()

    assert code == 0, out.err
    assert json.loads(out.out) == {"gist": "Goods in 30 days, invoices paid in 60."}
    [call] = trace(home)
    assert call["error"] is None and len(server.seen()) == 1
    assert 0 < call["cost_usd"] <= float(BUDGET)
    assert call["tokens_in"] < len(DOC.encode()) / 3  # charged the real count, not bytes
    assert "warning" not in out.err


def test_an_unknown_tokenizer_is_refused_before_any_call_with_why_and_the_fix(server, home, capsys):
    server.script("acme-7b", reply="gist", usage=byte_usage)
    code = main(setup(home, server, "acme-7b"))
    out = capsys.readouterr()

    assert code == 1 and server.requests == []
    assert json.loads(out.out) == {}
    first, last = out.err.splitlines()[0], out.err.strip().splitlines()[-1]
    # said up front, from the plan's estimate ...
    assert first.startswith("hetflow run: warning: a call of step 'gist' on acme-7b@cloud "), first
    assert "--input-bound typical" in first
    # ... and exactly, by the call that could not start
    assert last.startswith("hetflow: error: budget $0.01 reached after 0 calls: "), last
    for part in (
        "step 'gist' on acme-7b@cloud needs $0.025 reserved to start (its worst case: up to ",
        "input tokens, one token a byte: the tokenizer of openai/acme-7b is not known",
        "and at least 100 output tokens",
        "more than the $0.01 left",
        "the plan estimates $0.0",
        "give a budget of at least $0.025",
        "--input-bound typical",
        "; finished: none; not run: gist",
    ):
        assert part in last, (part, last)


def test_typical_runs_and_a_provider_billing_past_it_is_stated(server, home, capsys):
    """The user's accepted risk: reserved at 4 bytes a token x1.5; a provider that bills
    a token a byte is charged in full, the overrun said, exit 1."""
    server.script("acme-7b", reply="gist", usage=o200k_usage)
    argv = setup(home, server, "acme-7b")
    code = main([*argv, "--input-bound", "typical"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.err.startswith("hetflow: warning: --input-bound typical: ")
    assert json.loads(out.out) == {"gist": "gist"}
    assert trace(home)[0]["cost_usd"] <= float(BUDGET)

    server.script("acme-7b", reply="gist", usage=byte_usage)
    code = main([*argv, "--input-bound", "typical", "--journal", str(home / "j2.sqlite")])
    out = capsys.readouterr()
    assert code == 1
    assert json.loads(out.out) == {"gist": "gist"}  # paid for, so kept
    last = out.err.strip().splitlines()[-1]
    assert last.startswith("hetflow: error: budget $0.01 passed by $0.01"), last
    msgs = server.seen()[-1].body["messages"]
    billed, reserved = byte_usage({"messages": msgs}, "")[0], tokens.typical(msgs)
    assert f"(spent ${(billed * 1.0 + 2.0) / 1e6:.6f})" in last  # 1 output token at $2/M
    assert (
        f"step 'gist' on acme-7b@cloud read {billed:,} input tokens where {reserved:,} were "
        "reserved (4 bytes a token x1.5 under --input-bound typical, as the tokenizer of "
        "openai/acme-7b is not known); no call started after that"
    ) in last


def test_a_resumed_run_reserves_as_its_first_run_did(server, home, capsys):
    server.script("acme-7b", down=400)  # fails for good: the run ends, journaled
    argv = setup(home, server, "acme-7b")
    assert main([*argv, "--input-bound", "typical"]) == 1
    capsys.readouterr()

    server.script("acme-7b", reply="gist", usage=o200k_usage)
    code = main([*argv, "--resume"])  # strict would refuse this call; typical was kept
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out) == {"gist": "gist"}


def test_the_python_api_takes_input_bound(server, home):
    import hetflow

    server.script("acme-7b", reply="gist", usage=o200k_usage)
    setup(home, server, "acme-7b")
    kw = dict(catalog=str(home / "catalog.toml"), budget=0.01, cache=False, journal=False)
    strict = hetflow.run_sync(str(home / "flow.het"), {"doc": DOC}, **kw)
    assert strict.stopped and "reached after 0 calls: step 'gist'" in strict.stopped
    typical = hetflow.run_sync(str(home / "flow.het"), {"doc": DOC}, input_bound="typical", **kw)
    assert typical.stopped is None and typical.outputs == {"gist": "gist"}


def test_a_journal_from_before_run_settings_opens_and_resumes(tmp_path):
    """Journals written before the runs table kept settings gain the column on open."""
    import sqlite3

    from hetflow.runtime.journal import Journal

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
        "workflow TEXT NOT NULL, started REAL NOT NULL, status TEXT NOT NULL DEFAULT "
        "'running'); INSERT INTO runs (key, workflow, started) VALUES ('k', 'w', 0);"
    )
    db.commit()
    db.close()
    j = Journal(path)
    assert j.start("k", "w", resume=True, settings={"input_bound": "typical"}) == 1
    assert j.resumed and j.settings == {}  # none kept: the run reserves strictly
    j.keep_settings({"input_bound": "typical"})
    j.close()
    j = Journal(path)
    j.start("k", "w", resume=True)
    assert j.settings == {"input_bound": "typical"}
    j.close()

"""A run that fails says so (issue 14, item 8): exit 1, why, no '{}', no 'deadline met'."""

from __future__ import annotations

import json
import socket

from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)

from hetflow.commands.main import main

FLOW = """workflow w {
  input q: text
  deadline 30s
  reason a = prompt "Answer: {{ q }}" with retries=1
  output a
}
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_fails_the_run_with_its_reason(home, capsys):
    flow = home / "flow.het"
    flow.write_text(FLOW)
    catalog = local_catalog(home, f"http://127.0.0.1:{_closed_port()}/v1")
    trace = home / "t.jsonl"

    code = main(["run", str(flow), "--catalog", str(catalog), "-i", "q=hi", "--trace", str(trace)])
    out = capsys.readouterr()

    assert code == 1
    assert json.loads(out.out) == {}  # what finished: nothing (stdout is always JSON)
    last = out.err.strip().splitlines()[-1]
    assert last.startswith("hetflow: error: the run failed: step 'a' failed: "), last
    assert "cannot reach the endpoint" in last
    assert "deadline 30s met" not in out.err
    assert "deadline 30s not met: the run did not finish" in out.err
    attempts = len(trace.read_text().splitlines())
    assert attempts >= 2 and f"{attempts} failed attempts: cannot reach the endpoint" in out.err


MAP = """workflow w {
  input xs: list[text]
  map x in xs {
    reason a = prompt "Answer: {{ x }}"
  }
  output a
}
"""


def test_a_map_whose_items_all_fail_says_how_many_and_took_time(server, home, capsys):
    """Seen: a map whose 7 items all failed named only '(item 0)', and its step showed
    0.00s though it had retried for minutes; offers failing alike repeated the reason."""
    too_long = "This model's maximum context length is 8192 tokens."
    for model in ("small", "coder", "big"):
        server.script(
            model,
            latency_s=0.05,
            respond=lambda req: (400, {"error": {"message": too_long, "code": 400}}),
        )
    flow = home / "flow.het"
    flow.write_text(MAP)
    catalog = local_catalog(home, server.url)

    code = main(["run", str(flow), "--catalog", str(catalog), "-i", 'xs=["a","b","c","d"]'])
    err = capsys.readouterr().err

    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.endswith("; 4 of 4 items failed"), last
    assert last.count(too_long) == 1, last  # three offers, one reason, said once
    assert "small@groq-lpu, coder@cerebras-wse3, big@nvidia-h100: " in last
    step_line = next(line for line in err.splitlines() if line.strip().startswith("a: "))
    took = float(step_line.split("time ")[1].split("s vs")[0])
    assert took >= 0.05  # at least one call's time, not 0.00s


def test_a_journal_whose_lock_folder_is_a_file_is_a_one_line_error(server, home, capsys):
    """Seen (a red team): a file where the journal's lock folder goes was an internal
    error (exit 70, 'please report it') with nothing on standard output."""
    flow = home / "flow.het"
    flow.write_text(FLOW)
    catalog = local_catalog(home, server.url)
    journal = home / "j.sqlite"
    (home / "j.sqlite.locks").write_text("not a folder")
    code = main(["run", str(flow), "--catalog", str(catalog), "-i", "q=hi", "--journal",
                 str(journal)])  # fmt: skip
    out = capsys.readouterr()
    assert code == 1
    assert json.loads(out.out) == {}  # standard output is always JSON
    assert out.err.startswith(f"hetflow: error: cannot lock run 1 of {journal}: "), out.err
    assert "give another --journal" in out.err and "internal error" not in out.err
    assert not server.seen()


def test_a_garbage_cache_file_is_said_and_the_run_goes_on(server, home, capsys):
    """Seen (a red team): random bytes in the call cache made every run skip the cache
    silently."""
    flow = home / "flow.het"
    flow.write_text(FLOW)
    catalog = local_catalog(home, server.url)
    cache = home / "cache" / "hetflow" / "calls.sqlite"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(bytes(range(256)) * 40)
    server.script("small", reply="fine")
    server.script("coder", reply="fine")
    server.script("big", reply="fine")
    assert main(["run", str(flow), "--catalog", str(catalog), "-i", "q=hi"]) == 0
    err = capsys.readouterr().err
    assert f"hetflow: warning: the call cache {cache} cannot be used (" in err, err

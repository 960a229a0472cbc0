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
    assert attempts >= 2 and f"{attempts} failed attempts" in out.err

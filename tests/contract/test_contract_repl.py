"""The REPL surface of `recurse` (DESIGN.md "The runtime"), end to end through a run: the
root model writes ```repl / ```python blocks; `context`, `llm_query`, `llm_query_batched`,
`rlm_query`, `FINAL`, `print`; typed answers validated; the sandbox's limits.
"""

from __future__ import annotations

import json

from contract_support import write
from run_support import (
    KEY_ENV,
    RECURSE,
    SECRET,
    _text,
    _worker,
)

import hetflow

TURN_1 = """Let me look.
```repl
lines = context.splitlines()
print("LINES", len(lines))
labels = llm_query_batched(["Label: " + l for l in lines])
one = llm_query("Say one")
deep = rlm_query("Count the characters of your context.", "abcde")
assert isinstance(labels, list) and all(isinstance(x, str) for x in labels), labels
assert isinstance(one, str) and isinstance(deep, str), (one, deep)
print("GOT", labels, one, deep)
```
"""

TURN_2 = """```python
FINAL(str(len(labels)) + "|" + ",".join(labels) + "|" + one + "|" + str(deep))
```"""


def _coder(body: dict) -> str:
    messages = body.get("messages", [])
    turns = sum(m.get("role") == "assistant" for m in messages)
    if turns == 0:
        return TURN_1
    last = str(messages[-1].get("content"))
    if "LINES 3" in last and "GOT" in last:
        return TURN_2
    return (
        "```python\nFINAL('print output did not come back: ' + repr(" + repr(last[:200]) + "))\n```"
    )


def _sub(body: dict):
    text = _text(body)
    if "FINAL" in text:  # a child recursion (rlm_query below the depth): it gets a REPL too
        return "```repl\nFINAL(str(len(context)))\n```"
    return _worker(body)


def test_repl_surface_context_llm_query_batched_rlm_query_final(catalog, server, tmp_path):
    server.script("coder", reply=_coder)
    server.script("worker", reply=_sub)
    het = write(tmp_path, RECURSE, "repl.het")
    plan = hetflow.compile(het, catalog=catalog, objective="cost")
    ids = {n.id for n in plan.nodes}
    assert {"r.root", "r.sub"} <= ids, ids
    result = hetflow.run_sync(
        plan, inputs={"doc": "alpha\nbeta\ngamma"}, journal=tmp_path / "j.sqlite", cache=False
    )
    assert result.outputs["r"] == "3|L:a,L:b,L:g|one-answer|5", result.outputs
    labels = [r for r in server.seen("worker") if "Label: " in _text(r.body)]
    assert len(labels) == 3
    assert server.seen("coder"), "the root ran on the coding model"
    # every sub-call is a traced, paid call like any other
    traced = [
        t
        for t in result.trace
        if '"worker"' in json.dumps(t, default=str) or "openai/worker" in json.dumps(t, default=str)
    ]
    assert len(traced) == len(server.seen("worker")), (len(traced), result.trace)
    assert result.cost_usd > 0


TYPED_RECURSE = """
schema Tally {
  label: enum(entity, location)
  count: number
}

workflow typed {
  input doc: text
  objective cost
  recurse tallies: list[Tally] over doc depth 1 {
    task "Count the labels."
    root needs coding >= 5
    sub needs reasoning >= 2
  }
  output tallies
}
"""


def _typed_coder(body: dict) -> str:
    messages = body.get("messages", [])
    turns = sum(m.get("role") == "assistant" for m in messages)
    if turns == 0:
        return '```repl\nFINAL("not a list of tallies")\n```'
    return (
        '```repl\nFINAL([{"label": "entity", "count": len(context.splitlines())},'
        ' {"label": "location", "count": 1}])\n```'
    )


def test_recurse_final_is_validated_against_the_type(catalog, server, tmp_path):
    server.script("coder", reply=_typed_coder)
    plan = hetflow.compile(
        write(tmp_path, TYPED_RECURSE, "typed.het"), catalog=catalog, objective="cost"
    )
    result = hetflow.run_sync(
        plan, inputs={"doc": "a\nb\nc\nd"}, journal=tmp_path / "j.sqlite", cache=False
    )
    assert result.outputs["tallies"] == [
        {"label": "entity", "count": 4},
        {"label": "location", "count": 1},
    ]
    assert len(server.seen("coder")) == 2  # the invalid FINAL went back to the model


ESCAPE = """```repl
import os
found = []
found.append("env:" + str(os.environ.get("{key_env}")))
try:
    found.append("file:" + open("/etc/passwd").read()[:12])
except Exception as e:
    found.append("file-refused")
try:
    found.append("user-file:" + open({user_file!r}).read()[:12])
except Exception as e:
    found.append("user-file-refused")
try:
    import socket
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    found.append("net-open")
except Exception as e:
    found.append("net-refused")
import tempfile
kept = "scratch-refused"
for where in (os.getcwd(), tempfile.gettempdir(), os.path.expanduser("~")):
    try:
        with open(os.path.join(where, "scratch.txt"), "w") as f:
            f.write("kept")
        kept = "scratch:" + open(os.path.join(where, "scratch.txt")).read()
        break
    except Exception:
        pass
found.append(kept)
FINAL("|".join(found))
```"""


def test_the_repl_sees_no_key_no_files_no_network_but_its_scratch(catalog, server, tmp_path):
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    server.script("coder", reply=ESCAPE.format(key_env=KEY_ENV, port=port, user_file=str(catalog)))
    het = write(tmp_path, RECURSE, "escape.het")
    plan = hetflow.compile(het, catalog=catalog, objective="cost")
    result = hetflow.run_sync(plan, inputs={"doc": "x"}, journal=False, cache=False)
    value = result.outputs["r"]
    assert SECRET not in value and "env:None" in value, value
    assert "file-refused" in value and "user-file-refused" in value, value
    assert "net-refused" in value, value
    assert "scratch:kept" in value, value
    assert len(server.seen("coder")) == 1  # only the root's one turn reached the server
    for r in server.requests:
        assert SECRET not in json.dumps(r.body)


def test_repl_output_is_truncated_before_it_reaches_the_model(catalog, server, tmp_path):
    def coder(body: dict) -> str:
        messages = body.get("messages", [])
        if not any(m.get("role") == "assistant" for m in messages):
            return '```repl\nprint("A" * 3_000_000)\n```'
        return '```repl\nFINAL("done")\n```'

    server.script("coder", reply=coder)
    plan = hetflow.compile(write(tmp_path, RECURSE, "loud.het"), catalog=catalog, objective="cost")
    result = hetflow.run_sync(plan, inputs={"doc": "x"}, journal=False, cache=False)
    assert result.outputs["r"] == "done"
    second = server.seen("coder")[1]
    assert "AAAA" in _text(second.body)  # the output came back...
    assert len(json.dumps(second.body)) < 1_000_000  # ...cut to a third or less

"""Running plans (DESIGN.md "The runtime", "The Python API", `hetflow run`) against a local
OpenAI-compatible server on 127.0.0.1: real litellm calls, real HTTP, no network.

Each reply is computed by the server's script from the request it got, so an output is
right only when hetflow rendered, split, mapped, validated and reduced for real.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from contract_support import FIXTURES, cli, write
from support.openai_server import OpenAIServer

import hetflow

KEY_ENV = "CONTRACT_RUN_KEY"
SECRET = "sk-contract-run-0123456789-DO-NOT-LEAK"

CATALOG = """
[catalog]
name = "contract-run"

[chips.local]
vendor = "Local"
handoff_ms = 1

[models.worker]
reasoning = 4
coding = 1
extraction = 4
vision = 0
context = 200000

[models.coder]
reasoning = 5
coding = 5
extraction = 5
vision = 0
context = 200000

[[offers]]
model = "worker"
chip = "local"
litellm = "openai/worker"
output_tps = 1000
prefill_tps = 100000
ttft_ms = 10
concurrency = 8
input_per_mtok = 1.0
output_per_mtok = 2.0
api_base = "{url}"
api_key_env = "{key_env}"

[[offers]]
model = "coder"
chip = "local"
litellm = "openai/coder"
output_tps = 1000
prefill_tps = 100000
ttft_ms = 10
concurrency = 8
input_per_mtok = 30.0
output_per_mtok = 60.0
api_base = "{url}"
api_key_env = "{key_env}"
"""

CONTRACT_TEXT = (
    "1. The seller shall indemnify the buyer against all claims.\n\n"
    "2. Payment is due in thirty days.\n\n"
    "3. Either party may terminate this agreement with notice.\n\n"
    "4. This clause mentions {{ contract }} and {% raw %} literally."
)
RISKY = {1, 3}


def _text(body: dict) -> str:
    return "\n".join(str(m.get("content")) for m in body.get("messages", []))


def _worker(body: dict):
    text = _text(body)
    if "Clause:" in text:
        clause = re.search(r"Clause: (\d)\.", text)
        number = int(clause.group(1)) if clause else 0
        return {"risky": number in RISKY, "why": f"clause {number}"}
    if text.startswith("Label: ") or "Label: " in text:
        return "L:" + text.split("Label: ", 1)[1].strip()[:1]
    if "Say one" in text:
        return "one-answer"
    if "Summarize the risky clauses" in text:
        return "SUMMARY-OK"
    return "worker-default"


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        srv.script("worker", reply=_worker)
        yield srv


@pytest.fixture
def catalog(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "run.toml"
    path.write_text(CATALOG.format(url=server.url, key_env=KEY_ENV))
    return path


def _review_plan(catalog: Path):
    return hetflow.compile(
        FIXTURES / "example_contract_review.het", catalog=catalog, objective="cost"
    )


def test_run_sync_computes_the_contract_review(catalog, server, tmp_path):
    plan = _review_plan(catalog)
    result = hetflow.run_sync(
        plan, inputs={"contract": CONTRACT_TEXT}, journal=tmp_path / "j.sqlite", cache=False
    )
    assert result.outputs["risky"] == len(RISKY)
    assert result.outputs["summary"] == "SUMMARY-OK"
    assert result.cost_usd > 0
    assert isinstance(result.trace, list) and result.trace
    clause_calls = [r for r in server.seen("worker") if "Clause:" in _text(r.body)]
    assert len(clause_calls) == 4  # split(sep="\n\n") made four clauses, one call each


def test_triple_quoted_prompt_arrives_dedented_with_values_filled_in(catalog, server, tmp_path):
    hetflow.run_sync(
        _review_plan(catalog),
        inputs={"contract": CONTRACT_TEXT},
        journal=tmp_path / "j.sqlite",
        cache=False,
    )
    texts = [_text(r.body) for r in server.seen("worker") if "Clause: 1." in _text(r.body)]
    assert texts, [_text(r.body) for r in server.seen()]
    sent = texts[0]
    assert (
        "Clause: 1. The seller shall indemnify the buyer against all claims.\n"
        "Keyword hits: " in sent
    )
    assert "\nIs this clause risky for the buyer?" in sent
    assert "\n      Is this clause" not in sent  # dedented


def test_input_values_are_never_rendered_as_templates(catalog, server, tmp_path):
    hetflow.run_sync(
        _review_plan(catalog),
        inputs={"contract": CONTRACT_TEXT},
        journal=tmp_path / "j.sqlite",
        cache=False,
    )
    texts = [_text(r.body) for r in server.seen("worker") if "Clause: 4." in _text(r.body)]
    assert texts
    assert "{{ contract }}" in texts[0] and "{% raw %}" in texts[0]


def test_the_key_is_used_but_never_written(catalog, server, tmp_path, capsys):
    journal = tmp_path / "j.sqlite"
    result = hetflow.run_sync(
        _review_plan(catalog), inputs={"contract": CONTRACT_TEXT}, journal=journal, cache=False
    )
    assert any(SECRET in (r.authorization or "") for r in server.seen())
    assert SECRET not in json.dumps(result.trace, default=str)
    assert SECRET not in json.dumps(result.outputs, default=str)
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    if journal.exists():
        with sqlite3.connect(journal) as db:
            for (table,) in db.execute("select name from sqlite_master where type='table'"):
                for row in db.execute(f"select * from {table}"):
                    assert SECRET not in repr(row)


def test_a_missing_key_is_one_line_naming_the_variable_before_any_call(
    catalog, server, tmp_path, monkeypatch
):
    plan = _review_plan(catalog)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(hetflow.HetError) as info:
        hetflow.run_sync(plan, inputs={"contract": CONTRACT_TEXT}, journal=False, cache=False)
    assert KEY_ENV in str(info.value) and "\n" not in str(info.value).strip()
    assert server.requests == []


def test_hetflow_run_cli_prints_outputs_as_json(catalog, server, tmp_path):
    contract = tmp_path / "contract.txt"
    contract.write_text(CONTRACT_TEXT)
    ran = cli(
        "run",
        FIXTURES / "example_contract_review.het",
        "--input",
        f"contract=@{contract}",
        "--catalog",
        catalog,
        "--journal",
        tmp_path / "j.sqlite",
    )
    assert ran.code == 0, ran.text
    outputs = json.loads(ran.out)
    assert outputs["risky"] == len(RISKY) and outputs["summary"] == "SUMMARY-OK"
    assert ran.err.strip()  # the summary goes to standard error
    assert SECRET not in ran.text


def test_hetflow_run_a_saved_plan_with_an_inline_input(catalog, server, tmp_path):
    plan_path = tmp_path / "plan.json"
    _review_plan(catalog).save(plan_path)
    ran = cli(
        "run",
        plan_path,
        "--input",
        "contract=1. We indemnify you.",
        "--journal",
        tmp_path / "j.sqlite",
    )
    assert ran.code == 0, ran.text
    assert json.loads(ran.out)["risky"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--input", "nosuch=1"],
        ["--input", "contract"],
        ["--input", "contract=@/no/such/file.txt"],
        [],
    ],
)
def test_hetflow_run_input_mistakes_are_one_line_errors(args, catalog, server, tmp_path):
    ran = cli(
        "run",
        FIXTURES / "example_contract_review.het",
        "--catalog",
        catalog,
        "--journal",
        tmp_path / "j.sqlite",
        *args,
    )
    assert ran.code in (1, 2), ran.text
    assert "Traceback" not in ran.text and ran.err.strip()
    assert server.requests == []


# ---------------------------------------------------------------- the REPL surface

RECURSE = """
workflow repl_surface {
  input doc: text
  objective cost

  recurse r over doc depth 2 {
    task "Label every line, then report."
    root needs coding >= 5
    sub needs reasoning >= 2
  }
  output r
}
"""

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


def test_a_missing_key_of_a_hosted_offer_stops_before_any_call(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    text = CATALOG.format(url="", key_env=KEY_ENV).replace('api_base = ""\n', "")
    path = tmp_path / "hosted.toml"
    path.write_text(text)
    plan = _review_plan(path)
    with pytest.raises(hetflow.HetError) as info:
        hetflow.run_sync(plan, inputs={"contract": CONTRACT_TEXT}, journal=False, cache=False)
    assert KEY_ENV in str(info.value) and "\n" not in str(info.value).strip()


# ---------------------------------------------------------------- typed output, trace, resume


def test_invalid_typed_output_is_retried_until_valid(catalog, server, tmp_path):
    answers = iter(["this is not JSON", '{"risky": "very", "why": 3}'])

    def flaky(body: dict):
        if "Clause: 1." in _text(body):
            return next(answers, None) or {"risky": True, "why": "valid at last"}
        return _worker(body)

    server.script("worker", reply=flaky)
    result = hetflow.run_sync(
        _review_plan(catalog),
        inputs={"contract": CONTRACT_TEXT},
        journal=tmp_path / "j.sqlite",
        cache=False,
    )
    assert result.outputs["risky"] == len(RISKY), result
    clause_1 = [r for r in server.seen("worker") if "Clause: 1." in _text(r.body)]
    assert len(clause_1) == 3  # two invalid replies, then a valid one


def test_the_trace_names_each_calls_model_and_chip(catalog, server, tmp_path):
    result = hetflow.run_sync(
        _review_plan(catalog),
        inputs={"contract": CONTRACT_TEXT},
        journal=tmp_path / "j.sqlite",
        cache=False,
    )
    calls = [t for t in result.trace if "worker" in json.dumps(t, default=str)]
    assert len(calls) >= 5, result.trace  # four clauses and the summary
    for t in calls:
        flat = json.dumps(t, default=str)
        assert "local" in flat  # the chip
        assert re.search(r'"[a-z_]*cost[a-z_]*": \d', flat), t
        assert re.search(r'"[a-z_]*tokens[a-z_]*": \d', flat), t


WRITER = """
[models.writer]
reasoning = 5
coding = 0
extraction = 3
vision = 0
context = 200000

[[offers]]
model = "writer"
chip = "local"
litellm = "openai/writer"
output_tps = 1000
prefill_tps = 100000
ttft_ms = 10
concurrency = 8
input_per_mtok = 5.0
output_per_mtok = 5.0
api_base = "{url}"
api_key_env = "{key_env}"
"""


def test_resume_pays_for_no_call_twice(catalog, server, tmp_path):
    # The summary needs reasoning >= 4: make it run on `writer` (or `coder`), and have
    # both down in the first run, so that the run fails after the clauses are paid for.
    text = catalog.read_text().replace("reasoning = 4\ncoding = 1", "reasoning = 3\ncoding = 1")
    catalog.write_text(text + WRITER.format(url=server.url, key_env=KEY_ENV))
    server.script("writer", reply="SUMMARY-OK", down=404)
    server.script("coder", reply="SUMMARY-OK", down=404)
    contract = tmp_path / "contract.txt"
    contract.write_text(CONTRACT_TEXT)
    args = [
        "run",
        FIXTURES / "example_contract_review.het",
        "--input",
        f"contract=@{contract}",
        "--catalog",
        catalog,
        "--journal",
        tmp_path / "journal.sqlite",
    ]
    first = cli(*args)
    assert first.code != 0 and "Traceback" not in first.text, first.text
    clause_calls = [r for r in server.seen("worker") if "Clause:" in _text(r.body)]
    assert len(clause_calls) == 4
    server.script("writer", reply="SUMMARY-OK")
    server.script("coder", reply="SUMMARY-OK")
    second = cli(*args, "--resume")
    assert second.code == 0, second.text
    assert json.loads(second.out) == {"summary": "SUMMARY-OK", "risky": len(RISKY)}
    clause_calls = [r for r in server.seen("worker") if "Clause:" in _text(r.body)]
    assert len(clause_calls) == 4, "a resumed run paid for a clause twice"


# ---------------------------------------------------------------- the template sandbox


@pytest.mark.parametrize(
    "probe",
    [
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ doc.__class__.__mro__ }}",
        "{% include 'run.toml' %}",
        "{% import 'os' as os %}{{ os }}",
    ],
)
def test_templates_cannot_reach_beyond_fields(probe, catalog, server, tmp_path):
    het = write(
        tmp_path,
        f"""
workflow probe {{
  input doc: text
  reason a = prompt "Read {{{{ doc }}}} {probe}" needs reasoning >= 2
  output a
}}
""",
        "probe.het",
    )
    try:
        plan = hetflow.compile(het, catalog=catalog, objective="cost")
        result = hetflow.run_sync(plan, inputs={"doc": "hello"}, journal=False, cache=False)
    except hetflow.HetError as exc:  # refused by the checker or at render: both keep the rule
        assert "Traceback" not in str(exc)
    else:
        assert "a" not in result.outputs or result.failed, result.outputs
    for r in server.requests:
        sent = _text(r.body)
        for leak in ("__builtins__", "<module", "<class", "mro", "api_key_env", "[catalog]"):
            assert leak not in sent, (probe, sent)


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


async def test_python_api_run_is_awaitable(catalog, server, tmp_path):
    plan = _review_plan(catalog)
    result = await hetflow.run(
        plan, inputs={"contract": CONTRACT_TEXT}, journal=tmp_path / "j.sqlite", cache=False
    )
    assert result.outputs["risky"] == len(RISKY)


NETWORK_PROBE = """
import ipaddress, json, socket, sys
attempts = []
real = socket.socket.connect
def connect(self, address):
    if isinstance(address, tuple):
        host = address[0]
        try:
            local = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = False
        if not local:
            attempts.append(str(address))
            raise ConnectionRefusedError("no network in this test")
    return real(self, address)
socket.socket.connect = connect
real_getaddrinfo = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    if host not in ("127.0.0.1", "localhost", "::1"):
        attempts.append("dns:" + str(host))
    return real_getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = getaddrinfo
from hetflow.cli import main
code = main(sys.argv[1:])
print("ATTEMPTS", json.dumps(attempts), "CODE", code)
"""


def test_a_run_makes_no_network_call_but_the_model_calls(catalog, server, tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("LITELLM_")}
    plan_path = tmp_path / "plan.json"
    _review_plan(catalog).save(plan_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            NETWORK_PROBE,
            "run",
            str(plan_path),
            "--input",
            "contract=1. We indemnify you.",
            "--journal",
            str(tmp_path / "j.sqlite"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert "ATTEMPTS [] CODE 0" in proc.stdout, (proc.stdout, proc.stderr[-2000:])
    assert server.seen("worker")


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
try:
    with open("scratch.txt", "w") as f:
        f.write("kept")
    found.append("scratch:" + open("scratch.txt").read())
except Exception as e:
    found.append("scratch-refused:" + type(e).__name__)
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


def test_a_run_never_spends_past_its_budget_and_says_so(catalog, server, tmp_path):
    text = catalog.read_text().replace(
        "input_per_mtok = 1.0\noutput_per_mtok = 2.0",
        "input_per_mtok = 1000.0\noutput_per_mtok = 1000.0",
    )
    catalog.write_text(text)
    server.script("worker", reply=_worker, usage=lambda body, reply: (50, 10))
    contract = tmp_path / "contract.txt"
    contract.write_text(CONTRACT_TEXT)
    # compiled without a budget (the estimate is above $0.20), run with one
    het = write(
        tmp_path,
        (FIXTURES / "example_contract_review.het").read_text().replace("  budget $0.20\n", ""),
        "review.het",
    )
    plan = tmp_path / "review.plan.json"
    assert cli("compile", het, "-o", plan, "--catalog", catalog).code == 0
    ran = cli(
        "run",
        plan,
        "--input",
        f"contract=@{contract}",
        "--journal",
        tmp_path / "j.sqlite",
        "--no-cache",
        "--budget",
        "0.20",
    )
    assert "Traceback" not in ran.text
    paid = len(server.seen("worker"))
    assert paid * (50 * 1000 + 10 * 1000) / 1e6 <= 0.20 + 1e-9, paid  # at most 3 calls
    assert paid < 5  # the whole run (4 clauses and a summary) would cost $0.30
    assert "budget" in ran.err.lower(), ran.err  # it says why it stopped
    json.loads(ran.out)  # and prints what it has


# ---------------------------------------------------------------- zoom

SEER = """
[models.eye]
reasoning = 1
coding = 0
extraction = 2
vision = 3
context = 100000

[models.seer]
reasoning = 4
coding = 0
extraction = 3
vision = 3
context = 100000

[[offers]]
model = "eye"
chip = "local"
litellm = "openai/eye"
output_tps = 1000
prefill_tps = 100000
ttft_ms = 10
concurrency = 8
input_per_mtok = 0.5
output_per_mtok = 0.5
api_base = "{url}"
api_key_env = "{key_env}"

[[offers]]
model = "seer"
chip = "local"
litellm = "openai/seer"
output_tps = 1000
prefill_tps = 100000
ttft_ms = 10
concurrency = 8
input_per_mtok = 2.0
output_per_mtok = 2.0
api_base = "{url}"
api_key_env = "{key_env}"
"""


def _images_in(body: dict):
    import base64
    import io

    from PIL import Image

    found = []
    for url in re.findall(r"data:image/[a-z]+;base64,([A-Za-z0-9+/=]+)", json.dumps(body)):
        found.append(Image.open(io.BytesIO(base64.b64decode(url))).convert("RGB"))
    return found


def test_zoom_crops_where_the_vision_model_points(catalog, server, tmp_path):
    from PIL import Image

    catalog.write_text(catalog.read_text() + SEER.format(url=server.url, key_env=KEY_ENV))
    shot = Image.new("RGB", (200, 100), (0, 0, 255))
    shot.paste((255, 0, 0), (100, 0, 200, 100))  # the right half is red
    shot_path = tmp_path / "shot.png"
    shot.save(shot_path)
    server.script("eye", reply={"x0": 0.5, "y0": 0.0, "x1": 1.0, "y1": 1.0})
    seen_by_seer = []

    def seer(body: dict):
        seen_by_seer.extend(_images_in(body))
        return {"kind": "click", "target": "the red button", "value": None}

    server.script("seer", reply=seer)
    ran = cli(
        "run",
        FIXTURES / "example_web_step.het",
        "--input",
        f"screenshot=@{shot_path}",
        "--input",
        "goal=press the red button",
        "--catalog",
        catalog,
        "--journal",
        tmp_path / "j.sqlite",
        "--no-cache",
    )
    assert ran.code == 0, ran.text
    action = json.loads(ran.out)["action"]
    assert action["kind"] == "click" and action["target"] == "the red button"
    assert len(_images_in(server.seen("eye")[0].body)) == 1  # the vision model saw the shot
    assert seen_by_seer, "the reasoner got no image"
    crop = seen_by_seer[0]
    w, h = crop.size
    for x, y in [(1, 1), (w - 2, h - 2), (w // 2, h // 2), (1, h - 2)]:
        r, g, b = crop.getpixel((x, y))
        assert r > 200 and b < 60, (crop.size, (x, y), (r, g, b))  # only the red half


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
    assert len(json.dumps(second.body)) < 300_000  # ...cut to a size a model can read


def test_a_down_model_falls_back_to_the_next_alternative(catalog, server, tmp_path):
    server.script("worker", down=404)
    server.script("coder", reply=_worker)
    plan = _review_plan(catalog)
    verdict = next(n for n in plan.nodes if n.id == "verdict")
    assert verdict.assignment.model == "worker"
    assert [a.model for a in verdict.alternatives] == ["coder"]
    result = hetflow.run_sync(plan, inputs={"contract": CONTRACT_TEXT}, journal=False, cache=False)
    assert result.outputs == {"summary": "SUMMARY-OK", "risky": len(RISKY)}
    assert len([r for r in server.seen("coder") if "Clause:" in _text(r.body)]) == 4


def test_the_cache_serves_a_repeated_run(catalog, server, tmp_path):
    plan = _review_plan(catalog)
    first = hetflow.run_sync(plan, inputs={"contract": CONTRACT_TEXT}, journal=False)
    asked = len(server.requests)
    second = hetflow.run_sync(plan, inputs={"contract": CONTRACT_TEXT}, journal=False)
    assert second.outputs == first.outputs
    assert len(server.requests) == asked  # every call served from the cache


def test_after_a_map_its_body_names_are_lists_of_every_items_value(catalog, server, tmp_path):
    hetflow.run_sync(
        _review_plan(catalog), inputs={"contract": CONTRACT_TEXT}, journal=False, cache=False
    )
    summary = [
        _text(r.body)
        for r in server.seen("worker")
        if "Summarize the risky clauses" in _text(r.body)
    ]
    assert len(summary) == 1
    for n in range(1, 5):
        assert f"clause {n}" in summary[0], summary[0]  # every verdict's `why`, in one list


# ---------------------------------------------------------------- concurrency (ordering only)

PARALLEL = """
workflow parallel {
  input doc: text
  input docs: list[text]
  objective cost
  reason left = prompt "LEFT {{ doc }}" needs reasoning >= 2
  reason right = prompt "RIGHT {{ doc }}" needs reasoning >= 2
  reason both = prompt "BOTH {{ left }} {{ right }}" needs reasoning >= 2
  map d in docs {
    reason each = prompt "EACH {{ d }}" needs reasoning >= 2
  }
  output both, each
}
"""


def test_independent_steps_overlap_and_a_map_stays_within_concurrency(catalog, server, tmp_path):
    catalog.write_text(catalog.read_text().replace("concurrency = 8", "concurrency = 2", 1))
    server.script("worker", reply="ok", latency_s=0.3)
    plan = hetflow.compile(
        write(tmp_path, PARALLEL, "parallel.het"), catalog=catalog, objective="cost"
    )
    result = hetflow.run_sync(
        plan,
        inputs={"doc": "d", "docs": [f"item {i}" for i in range(6)]},
        journal=False,
        cache=False,
    )
    assert result.ok, result.reason

    def one(word):
        (r,) = [r for r in server.seen("worker") if _text(r.body).startswith(word)]
        return r

    left, right, both = one("LEFT"), one("RIGHT"), one("BOTH")
    # left and right are independent: they run at once (their calls overlap)...
    assert left.started < right.ended and right.started < left.ended
    # ...and `both` waits for the two
    assert both.started >= max(left.ended, right.ended)
    assert server.high_water["worker"] == 2  # the offer's concurrency, reached, not passed

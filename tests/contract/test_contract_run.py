"""Running plans (DESIGN.md "The runtime", "The Python API", `hetflow run`) against a local
OpenAI-compatible server on 127.0.0.1: real litellm calls, real HTTP, no network.

Each reply is computed by the server's script from the request it got, so an output is
right only when hetflow rendered, split, mapped, validated and reduced for real.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from contract_support import FIXTURES, cli, write
from run_support import (
    CONTRACT_TEXT,
    KEY_ENV,
    RISKY,
    RUN_CATALOG,
    SECRET,
    _review_plan,
    _text,
)

import hetflow


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
    assert ran.err.strip()  # the summary goes to standard error...
    assert re.search(r"estimat|predict", ran.err), ran.err  # ...against the plan's estimate
    assert "$" in ran.err
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


def test_a_missing_key_of_a_hosted_offer_stops_before_any_call(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    text = RUN_CATALOG.format(url="", key_env=KEY_ENV).replace('api_base = ""\n', "")
    path = tmp_path / "hosted.toml"
    path.write_text(text)
    plan = _review_plan(path)
    with pytest.raises(hetflow.HetError) as info:
        hetflow.run_sync(plan, inputs={"contract": CONTRACT_TEXT}, journal=False, cache=False)
    assert KEY_ENV in str(info.value) and "\n" not in str(info.value).strip()


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
from hetflow.commands.main import main
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


def test_a_plan_runs_without_its_het_file_or_its_prompt_files(catalog, server, tmp_path):
    work = tmp_path / "work"
    (work / "prompts").mkdir(parents=True)
    (work / "prompts" / "ask.txt").write_text(
        "FROM-A-FILE: Summarize the risky clauses: {{ doc }}\n"
    )
    het = write(
        work,
        """
workflow from_file {
  input doc: text
  objective cost
  reason answer = prompt file "prompts/ask.txt" needs reasoning >= 2
  output answer
}
""",
        "flow.het",
    )
    plan_path = tmp_path / "plan.json"
    hetflow.compile(het, catalog=catalog, objective="cost").save(plan_path)
    import shutil

    shutil.rmtree(work)
    result = hetflow.run_sync(
        hetflow.Plan.load(plan_path), inputs={"doc": "1. We indemnify."}, journal=False, cache=False
    )
    assert result.outputs["answer"] == "SUMMARY-OK"
    (sent,) = [_text(r.body) for r in server.seen("worker")]
    assert "FROM-A-FILE: Summarize the risky clauses: 1. We indemnify." in sent

"""`hetflow lsp` as an editor meets it: a client speaking the protocol over stdio.

The client is written here from the protocol (Content-Length framed JSON-RPC), not taken
from pygls, so the test sees exactly the bytes an editor would.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("pygls")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

BROKEN = """\
workflow review {
  input contract: text
  extract clauses = split(contrat, sep="\\n\\n")
  map clause in clauses {
    reason verdict: Verdict = prompt "Is this risky? {{ clause }}" needs reasoning >= 2
  }
  reduce risky = count(verdict, where="risky")
  map v in verdict {
    reason why = prompt "Say again: {{ v.why }}"
  }
  output verdict, risky, why
}

schema Verdict {
  risky: bool
  why: text
}
"""


class Client:
    def __init__(self, cwd: Path):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hetflow", "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
        )
        self.next_id = 0
        self.responses: dict[int, dict] = {}
        self.notifications: queue.Queue[dict] = queue.Queue()
        self.lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode().strip()
                if not line:
                    break
                k, v = line.split(":", 1)
                headers[k.lower()] = v.strip()
            msg = json.loads(out.read(int(headers["content-length"])))
            if "id" in msg and "method" not in msg:
                with self.lock:
                    self.responses[msg["id"]] = msg
                    self.lock.notify_all()
            elif "id" in msg:  # a request from the server (e.g. workspace/configuration)
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            else:
                self.notifications.put(msg)

    def _send(self, msg: dict) -> None:
        body = json.dumps(msg).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def request(self, method: str, params: dict, timeout: float = 30) -> dict:
        self.next_id += 1
        rid = self.next_id
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        with self.lock:
            while rid not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer to {method} in {timeout}s")
                self.lock.wait(left)
            msg = self.responses.pop(rid)
        assert "error" not in msg, msg
        return msg["result"]

    def notify(self, method: str, params: dict) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self, uri: str, timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.notifications.get(timeout=max(deadline - time.monotonic(), 0.01))
            if msg["method"] == "textDocument/publishDiagnostics" and msg["params"]["uri"] == uri:
                return msg["params"]["diagnostics"]

    def close(self) -> int:
        try:
            self.request("shutdown", None)  # type: ignore[arg-type]
            self.notify("exit", None)  # type: ignore[arg-type]
            return self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def client(tmp_path):
    c = Client(tmp_path)
    c.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": tmp_path.as_uri(),
            "capabilities": {"textDocument": {"hover": {"contentFormat": ["markdown"]}}},
        },
    )
    c.notify("initialized", {})
    yield c
    if c.proc.poll() is None:
        c.close()


def _open(client: Client, path: Path, text: str) -> str:
    uri = path.as_uri()
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "het", "version": 1, "text": text}},
    )
    return uri


def _pos(text: str, needle: str, offset: int = 0) -> dict:
    """The 0-based position of ``needle`` (plus ``offset`` characters) in ``text``."""
    at = text.index(needle) + offset
    line = text.count("\n", 0, at)
    return {"line": line, "character": at - (text.rfind("\n", 0, at) + 1)}


def _hover(client: Client, uri: str, pos: dict) -> str:
    got = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": pos})
    return got["contents"]["value"] if got else ""


def test_broken_file_diagnostics_hover_definition_completion(client, tmp_path):
    path = tmp_path / "review.het"
    path.write_text(BROKEN)
    uri = _open(client, path, BROKEN)

    diags = client.diagnostics(uri)
    assert len(diags) == 1, diags
    (d,) = diags
    assert d["message"] == "name 'contrat' is not defined; did you mean 'contract'?"
    assert d["severity"] == 1 and d["source"] == "hetflow"
    assert d["range"] == {
        "start": {"line": 2, "character": 26},
        "end": {"line": 2, "character": 33},
    }
    # the same as `hetflow check --format json`
    checked = subprocess.run(
        [sys.executable, "-m", "hetflow", "check", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    (c,) = json.loads(checked.stdout)
    assert (c["line"] - 1, c["column"] - 1, c["end_column"] - 1) == (2, 26, 33)
    assert c["message"] == d["message"]

    # hover on a name: its definition and type; inside the map it is per item
    text = _hover(client, uri, _pos(BROKEN, "{{ clause }}", 4))
    assert "`clause: text`" in text and "item of `map clause in clauses`" in text
    text = _hover(client, uri, _pos(BROKEN, "count(verdict", 7))
    assert "`verdict: list[Verdict]`" in text and "reason step (line 5)" in text

    # a field of a record in a template: the field's type first
    text = _hover(client, uri, _pos(BROKEN, "{{ v.why }}", 4))
    assert text.startswith("`v.why: text`") and "item of `map v in verdict`" in text

    # hover on a step of a file with errors: kind, reads, type, given needs
    text = _hover(client, uri, _pos(BROKEN, "verdict: Verdict"))
    assert "**reason** `verdict: Verdict`" in text
    assert "reads: `clause` text" in text
    assert "`list[Verdict]` after the map" in text
    assert "reasoning ≥ 2" in text
    assert "fix the errors" in text

    # hover on a type: the schema
    text = _hover(client, uri, _pos(BROKEN, ": Verdict", 3))
    assert "schema Verdict" in text and "risky: bool" in text

    # go to definition: a template's name, a type
    got = client.request(
        "textDocument/definition",
        {"textDocument": {"uri": uri}, "position": _pos(BROKEN, "{{ clause }}", 4)},
    )
    assert got["uri"] == uri and got["range"]["start"] == {"line": 3, "character": 6}
    got = client.request(
        "textDocument/definition",
        {"textDocument": {"uri": uri}, "position": _pos(BROKEN, ": Verdict", 3)},
    )
    assert got["range"]["start"] == {"line": 13, "character": 7}

    # completion inside a template: names in scope there (the map's item too)
    got = client.request(
        "textDocument/completion",
        {"textDocument": {"uri": uri}, "position": _pos(BROKEN, "{{ clause }}", 3)},
    )
    labels = {i["label"] for i in got["items"]}
    assert {"contract", "clauses", "clause", "verdict", "risky"} <= labels
    assert "split" not in labels  # a template takes names, not builtins
    # and elsewhere: builtins with signatures, step kinds, skills, schemas, types
    got = client.request(
        "textDocument/completion",
        {"textDocument": {"uri": uri}, "position": _pos(BROKEN, "  reduce risky")},
    )
    items = {i["label"]: i for i in got["items"]}
    assert items["split"]["detail"].startswith("split(x, lines=N")
    assert items["reason"]["kind"] == 15  # snippet
    assert {"reasoning", "Verdict", "text", "map", "count"} <= set(items)
    # fields after a dot
    fixed = BROKEN.replace("contrat", "contract").replace(
        "{{ clause }}", "{{ clause }} {{ verdict. }}"
    )
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]},
    )

    # the outline
    got = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    names = [s["name"] for s in got]
    assert names == ["review", "Verdict"]
    review = got[0]
    assert [c["name"] for c in review["children"]] == [
        "contract",
        "clauses",
        "map clause in clauses",
        "risky",
        "map v in verdict",
    ]
    assert client.close() == 0


def test_hover_shows_the_placement_compiled_off_the_request_path(client, tmp_path):
    src = (EXAMPLES / "contract_review.het").read_text()
    path = tmp_path / "contract_review.het"
    path.write_text(src)
    uri = _open(client, path, src)
    assert client.diagnostics(uri) == []
    pos = _pos(src, "summary = prompt")
    deadline = time.monotonic() + 60
    while True:  # the first hovers answer at once, saying it is compiling
        started = time.monotonic()
        text = _hover(client, uri, pos)
        assert time.monotonic() - started < 5
        if "@" in text or time.monotonic() > deadline:
            break
        assert "compiling" in text
        time.sleep(0.2)
    assert "**reason** `summary: text`" in text
    assert " @ " in text and "est. $" in text and " call" in text
    assert "needs (given): reasoning ≥ 4" in text
    assert "default catalog" in text
    # a broken edit keeps the last placement, marked as old
    broken = src.replace("reduce risky", "reduc risky")
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": broken}]},
    )
    diags = client.diagnostics(uri)
    assert [d["range"]["start"]["line"] for d in diags] == [14]
    text = _hover(client, uri, pos)
    assert " @ " in text and "last version that compiled" in text
    # formatting goes through hetflow fmt
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 3},
            "contentChanges": [{"text": src.replace("  output summary", "output    summary")}],
        },
    )
    edits = client.request(
        "textDocument/formatting",
        {"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}},
    )
    assert len(edits) == 1 and edits[0]["newText"] == src


def test_definition_across_use(client):
    path = EXAMPLES / "paper_qa.het"
    src = path.read_text()
    uri = _open(client, path, src)
    assert client.diagnostics(uri) == []
    got = client.request(
        "textDocument/definition",
        {"textDocument": {"uri": uri}, "position": _pos(src, "list[Finding]", 6)},
    )
    assert got["uri"] == (EXAMPLES / "lib" / "papers.het").resolve().as_uri()
    lib = (EXAMPLES / "lib" / "papers.het").read_text()
    assert got["range"]["start"] == _pos(lib, "Finding {")
    got = client.request(
        "textDocument/definition",
        {"textDocument": {"uri": uri}, "position": _pos(src, '"lib/papers.het"', 3)},
    )
    assert got["uri"].endswith("examples/lib/papers.het")

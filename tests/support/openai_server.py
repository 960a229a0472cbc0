"""A scriptable OpenAI-compatible chat server on 127.0.0.1, for tests and benches.

It speaks ``POST /v1/chat/completions`` (plain and JSON mode: the reply script decides
what to answer) in a thread of its own, and records every request: the model, when it
came in and went out, the Authorization header, the messages.  Per model name it can be
told what to reply, how long to take, what fraction of requests to fail with 429/500,
or to be down altogether; it tracks how many requests per model were in flight at once
(the high-water mark).

    with OpenAIServer() as server:
        server.script("small", reply="hello", latency_s=0.05, concurrency=...)
        offer api_base = server.url, litellm = "openai/small"
"""

from __future__ import annotations

import json
import math
import random
import select
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    """How one model behaves. ``reply`` is text, a dict (sent as JSON) or a function of
    the request body returning either."""

    reply: Any = "ok"
    latency_s: float = 0.0
    fail_rate: float = 0.0  # fraction of requests answered 429 or 500
    fail_codes: tuple[int, ...] = (429, 500)
    down: int | None = None  # answer every request with this status (503, 404, ...)
    usage: Callable[[dict, str], tuple[int, int]] | None = None  # (prompt, completion)
    fail: Callable[[dict], int | None] | None = None  # a status to answer this request with
    echo_auth: bool = False  # error messages repeat the Authorization header (a leak test)
    # Hidden reasoning tokens per request (a number, or a function of the request body),
    # written before the answer and counted in completion_tokens, as OpenAI does: a
    # max_tokens they reach leaves the content empty (finish_reason "length").
    reasoning: int | Callable[[dict], int] | None = None
    honor_max_tokens: bool = True  # False: write past max_tokens (and report it)
    headers: dict[str, str] = field(default_factory=dict)  # sent with errors (Retry-After)
    # A misbehaving server: given the request, return (status, payload) to send instead
    # of the scripted answer (payload: a dict sent as JSON, or a Raw body), or None.
    respond: Callable[[Request], tuple[int, Any] | None] | None = None


@dataclass
class Raw:
    """A body sent as it is; ``cut`` sends only its first ``cut`` bytes then hangs up
    (a truncated reply: the Content-Length promises the whole)."""

    data: bytes
    cut: int | None = None


@dataclass
class Request:
    model: str
    started: float
    ended: float = 0.0
    status: int = 0
    authorization: str | None = None
    body: dict = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return json.dumps(self.body.get("messages"), sort_keys=True)


def _content_text(messages: list[dict]) -> str:
    out = []
    for m in messages or []:
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out.extend(str(p.get("text", "")) for p in c if isinstance(p, dict))
    return "\n".join(out)


class OpenAIServer:
    def __init__(self, seed: int = 0):
        self.scripts: dict[str, Script] = {}
        self.default = Script()
        self.requests: list[Request] = []
        self.in_flight: dict[str, int] = defaultdict(int)
        self.high_water: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ control
    def script(self, model: str, **kwargs: Any) -> Script:
        self.scripts[model] = Script(**kwargs)
        return self.scripts[model]

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> OpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without this, Nagle's algorithm
                # and the client's delayed ACK add ~40 ms to every reply.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "bad json"}})
                    return
                status, payload, req = server._handle(body, self.headers.get("Authorization"))
                if status == 200 and self._client_gone():
                    req.status = 499  # the client died waiting (kill -9): never delivered
                    return
                script = server.scripts.get(req.model, server.default)
                self._send(status, payload, script.headers if status != 200 else {})

            def do_GET(self) -> None:  # noqa: N802
                """``/stats``: requests and high-water marks (for a server in another process)."""
                self._send(
                    200, {"requests": len(server.requests), "high_water": dict(server.high_water)}
                )

            def _client_gone(self) -> bool:
                readable, _, _ = select.select([self.connection], [], [], 0)
                if not readable:
                    return False
                try:
                    return self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def _send(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                raw = payload if isinstance(payload, Raw) else Raw(json.dumps(payload).encode())
                data = raw.data
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if raw.cut is None:
                    self.wfile.write(data)
                    return
                self.wfile.write(data[: raw.cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512

            def handle_error(self, request, client_address) -> None:
                pass  # a client that gave up (a timeout under test) is not news

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------ queries
    def seen(self, model: str | None = None, ok_only: bool = True) -> list[Request]:
        return [
            r
            for r in self.requests
            if (model is None or r.model == model) and (not ok_only or r.status == 200)
        ]

    def repeated_prompts(self) -> int:
        """How many successful requests repeated an earlier successful one exactly."""
        seen: set[tuple[str, str]] = set()
        repeats = 0
        for r in self.seen():
            key = (r.model, r.prompt)
            repeats += key in seen
            seen.add(key)
        return repeats

    # ------------------------------------------------------------ serving
    def _handle(self, body: dict, auth: str | None) -> tuple[int, Any, Request]:
        req = Request(str(body.get("model", "")), time.monotonic(), authorization=auth, body=body)
        status, payload = self._answer(req)
        return status, payload, req

    def _answer(self, req: Request) -> tuple[int, Any]:
        body, model = req.body, req.model
        script = self.scripts.get(model, self.default)
        with self._lock:
            self.requests.append(req)
            self.in_flight[model] += 1
            self.high_water[model] = max(self.high_water[model], self.in_flight[model])
            fail = script.fail_rate > 0 and self._rng.random() < script.fail_rate
            code = self._rng.choice(script.fail_codes) if fail else 0
        try:
            if script.latency_s:
                time.sleep(script.latency_s)
            if script.down:
                return self._error(req, script.down, f"model {model} is down")
            if code:
                return self._error(req, code, "injected failure")
            if script.respond is not None:
                custom = script.respond(req)
                if custom is not None:
                    req.status = custom[0]
                    return custom
            forced = script.fail(body) if script.fail else None
            if forced:
                why = f"refused (status {forced})"
                if script.echo_auth:
                    why += f"; you sent Authorization: {req.authorization}"
                return self._error(req, forced, why)
            reply = script.reply(body) if callable(script.reply) else script.reply
            text = reply if isinstance(reply, str) else json.dumps(reply)
            if script.usage:
                pt, ct = script.usage(body, text)
            else:
                pt = math.ceil(len(_content_text(body.get("messages", []))) / 4) + 4
                ct = max(1, math.ceil(len(text) / 4))
            max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
            thought = script.reasoning(body) if callable(script.reasoning) else script.reasoning
            finish = "stop"
            usage: dict[str, Any] = {}
            if thought is not None:
                thought = min(int(thought), int(max_tokens)) if max_tokens else int(thought)
                room = int(max_tokens) - thought if max_tokens else ct
                if room < ct:
                    finish = "length"
                    ct = room
                    text = text[: 4 * ct] if ct > 0 else ""
                usage["completion_tokens_details"] = {"reasoning_tokens": thought}
                ct += thought
            elif max_tokens and script.honor_max_tokens and ct > int(max_tokens):
                ct = int(max_tokens)  # stop writing there, as a real server does
                text = text[: 4 * ct]
                finish = "length"
            req.status = 200
            return 200, {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": finish,
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {
                    "prompt_tokens": pt,
                    "completion_tokens": ct,
                    "total_tokens": pt + ct,
                    **usage,
                },
            }
        finally:
            req.ended = time.monotonic()
            with self._lock:
                self.in_flight[model] -= 1

    def _error(self, req: Request, status: int, message: str) -> tuple[int, dict]:
        req.status = status
        kind = {429: "rate_limit_error", 404: "not_found_error"}.get(status, "server_error")
        return status, {"error": {"message": message, "type": kind, "code": status}}


def main() -> None:
    """Serve in a process of its own (benches: the client's CPU is then not the server's).

    ``python tests/support/openai_server.py --model m --latency 0.05`` prints its URL.
    """
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--reply", default="ok")
    args = ap.parse_args()
    server = OpenAIServer().start()
    for model in args.model:
        server.script(model, reply=args.reply, latency_s=args.latency)
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

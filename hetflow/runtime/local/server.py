"""Local offers served in this process by llama.cpp (the ``local`` extra, xllamacpp).

A run starts one OpenAI-compatible server per local offer its plan uses, on its first
call (lazily), with as many slots as the offer's ``concurrency`` and each slot the
offer's window (``n_ctx``); calls then reach it through litellm like any other
self-hosted endpoint, so budget, retries, journal, cache and trace are the same.  The
servers stop when the run ends, however it ends (:meth:`LocalServers.close` runs in
the backend's ``finally``); they live in this process's threads, so no process can be
left behind, and they listen on 127.0.0.1 only, on a port the system picks (``port = 0``
unless the offer names one).

Every check that can be made before a call is made by :meth:`LocalServers.check` when
the run starts, before any call (paid or not): the ``local`` extra is installed, the
weights are on this machine, whole and (when pinned) the right ones, they are a chat
model, they fit in memory, and a named port is free.  Each failure is one line naming
the offer and the fix.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hetflow.errors import HetError
from hetflow.runtime.local import gguf, weights

DEFAULT_N_CTX = 4096
# What llama.cpp needs beyond the weights and the KV cache (compute buffers, runtime).
OVERHEAD_BYTES = 256 << 20


@dataclass
class Ready:
    """A checked local offer: where its weights are and how to start its server."""

    offer_id: str
    path: Path
    slots: int
    n_ctx: int  # per slot
    threads: int
    port: int
    needs_bytes: int


def is_local(offer: Any) -> bool:
    return getattr(offer, "serve", None) == "local"


def xllamacpp():
    try:
        import xllamacpp as x
    except ImportError:
        return None
    return x


def default_threads() -> int:
    """Half the cores (at least one): llama.cpp's threads wait on each other at every
    step, so a thread whose core is taken (by the run itself, another server, another
    program) stalls them all — measured on 2 busy cores: 2 threads took 20x longer than 1.
    """
    return max(1, (os.cpu_count() or 2) // 2)


def available_bytes() -> int | None:
    """Memory this machine can still give (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def prepare(offer: Any) -> Ready:
    """Check one local offer; a one-line error naming it and the fix."""
    name = offer.offer or f"{offer.model}@{offer.chip}"
    if xllamacpp() is None:
        raise HetError(
            f"offer '{name}' is served locally but the local extra is not installed:"
            ' pip install "hetflow[local]"'
        )
    if not offer.gguf:
        raise HetError(f"offer '{name}' has serve = \"local\" but no gguf (the weights)")
    spec = weights.parse_spec(offer.gguf)
    path = weights.locate(spec)
    if path is None:
        if spec.path is not None:
            raise HetError(f"offer '{name}': no GGUF file at {spec.path}")
        raise HetError(
            f"offer '{name}': its weights ({spec}) are not on this machine:"
            f" run `hetflow models pull {offer.model}` (with --catalog FILE when the offer"
            " is in a catalog of your own)"
        )
    try:
        header = gguf.read(path)
    except (gguf.NotGguf, OSError) as err:
        fix = (
            f"run `hetflow models pull {offer.model}` again"
            if spec.path is None
            else "give a whole GGUF file"
        )
        raise HetError(f"offer '{name}': {path} is {err}: {fix}") from None
    if header.chat_template is None:
        raise HetError(
            f"offer '{name}': {path.name} has no chat template, so it is not a chat"
            " (instruction-tuned) model; use an instruct GGUF"
        )
    sha = getattr(offer, "gguf_sha256", None)
    if sha and weights.sha256_of(path) != sha:
        raise HetError(
            f"offer '{name}': {path} does not match its pinned sha256 (damaged or replaced):"
            f" run `hetflow models pull {offer.model}` again"
        )
    slots = max(1, int(offer.concurrency or 1))
    n_ctx = int(offer.n_ctx or offer.context or DEFAULT_N_CTX)
    trained = header.get("context_length")
    if isinstance(trained, int) and n_ctx > trained:
        raise HetError(
            f"offer '{name}': n_ctx {n_ctx:,} is longer than the model's trained"
            f" context ({trained:,}); set n_ctx <= {trained}"
        )
    needs = path.stat().st_size + header.kv_bytes_per_token() * n_ctx * slots + OVERHEAD_BYTES
    free = available_bytes()
    if free is not None and needs > free:
        raise HetError(
            f"offer '{name}' needs ~{needs / 2**30:.1f} GiB ({slots} slots x {n_ctx:,} tokens"
            f" + weights) but {free / 2**30:.1f} GiB is free: lower its concurrency or n_ctx"
        )
    port = int(getattr(offer, "port", None) or 0)
    if port:
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise HetError(
                f"offer '{name}': port {port} on 127.0.0.1 is taken; drop `port` (any free"
                " port is then used) or name a free one"
            ) from None
        finally:
            probe.close()
    threads = int(offer.threads or default_threads())
    return Ready(name, path, slots, n_ctx, threads, port, needs)


class Server:
    """One llama.cpp server in this process."""

    def __init__(self, ready: Ready):
        x = xllamacpp()
        assert x is not None
        p = x.CommonParams()
        p.model.path = str(ready.path)
        p.n_parallel = ready.slots
        p.n_ctx = ready.n_ctx * ready.slots  # llama.cpp splits n_ctx evenly over slots
        p.port = ready.port
        p.hostnames = ["127.0.0.1"]
        p.cpuparams.n_threads = ready.threads
        p.cpuparams_batch.n_threads = ready.threads
        p.verbosity = -1 if not os.environ.get("HETFLOW_LLAMA_LOG") else 1
        p.endpoint_metrics = True
        try:
            self._server = x.Server(p)
        except RuntimeError as err:
            raise HetError(
                f"offer '{ready.offer_id}': llama.cpp could not load {ready.path.name}"
                f" ({err}); set HETFLOW_LLAMA_LOG=1 to see its log"
            ) from None
        self.ready = ready
        self.base = self._server.listening_address.rstrip("/")

    @property
    def api_base(self) -> str:
        return self.base + "/v1"

    def metrics(self) -> dict[str, float]:
        """llama.cpp's counters (``prompt_tokens_total``, ``tokens_predicted_total``...)."""
        import urllib.request

        found: dict[str, float] = {}
        with urllib.request.urlopen(self.base + "/metrics", timeout=5) as r:  # noqa: S310
            for line in r.read().decode().splitlines():
                if line.startswith("llamacpp:"):
                    key, _, value = line[len("llamacpp:") :].partition(" ")
                    try:
                        found[key] = float(value)
                    except ValueError:
                        pass
        return found

    def stop(self) -> None:
        server, self._server = self._server, None
        del server  # ~Server stops its loop, closes the socket and joins its threads


# The servers of the last run, by offer: their address and what llama.cpp counted
# (``prompt_tokens_total``, ``tokens_predicted_total`` ...), read just before each stopped.
LAST_RUN: dict[str, dict[str, Any]] = {}


class LocalServers:
    """The local servers of one run: checked at start, started lazily, all stopped at end."""

    def __init__(self) -> None:
        self._ready: dict[str, Ready] = {}
        self._servers: dict[str, Server] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._guard = threading.Lock()
        self._closed = False

    def check(self, offers: list[Any]) -> None:
        """Check every local offer before any call; raise on the first bad one."""
        for offer in offers:
            key = offer.offer or f"{offer.model}@{offer.chip}"
            if is_local(offer) and key not in self._ready:
                self._ready[key] = prepare(offer)

    async def api_base(self, offer: Any) -> str:
        """The offer's server address, starting the server on first use."""
        key = offer.offer or f"{offer.model}@{offer.chip}"
        server = self._servers.get(key)
        if server is not None:
            return server.api_base
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            server = self._servers.get(key)
            if server is None:
                ready = self._ready.get(key) or prepare(offer)
                self._ready[key] = ready
                server = await asyncio.to_thread(self._start, key, ready)
        return server.api_base

    def _start(self, key: str, ready: Ready) -> Server:
        server = Server(ready)
        with self._guard:
            if self._closed:  # the run ended while this one loaded
                server.stop()
                raise HetError(f"offer '{key}': the run ended while its server started")
            self._servers[key] = server
        return server

    def running(self) -> list[str]:
        return list(self._servers)

    def close(self) -> None:
        with self._guard:
            self._closed = True
            servers, self._servers = self._servers, {}
        for key, server in servers.items():
            seen: dict[str, Any] = {"address": server.base}
            try:
                seen.update(server.metrics())
            except Exception:  # a server that no longer answers is stopped all the same
                pass
            LAST_RUN[key] = seen
            server.stop()

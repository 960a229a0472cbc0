"""Placements for hover: each workflow of a text compiled against the workspace's catalog.

Compiling runs in a worker process, never on the server's event loop, so typing and
every request go on while the optimizer works; a hover shows what is ready (the
placement of the text as it is, or of the last version that compiled, marked so) and
never waits for it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A hover is no place for a long solve: the best plan found by then is good enough.
TIME_LIMIT_S = 5.0


def compile_text(text: str, file: str, catalog: str | None) -> dict[str, Any]:
    """{workflow name: plan as JSON, or {"error": message}} for every workflow of a text.

    Runs in the worker process; everything it returns is plain data.  The compiler is
    imported here, in the worker, so that the server starts without it.
    """
    from hetflow.compiler import compile
    from hetflow.errors import DiagnosticError, HetError
    from hetflow.syntax.loader import load_text

    out: dict[str, Any] = {}
    try:
        program, diags = load_text(text, file, Path(file).resolve().parent)
    except DiagnosticError as exc:
        return {"": {"error": str(exc)}}
    if any(d.is_error for d in diags):
        return {"": {"error": DiagnosticError(diags).args[0]}}
    for wf in program.workflows:
        if wf.pos.file != file:
            continue
        try:
            plan = compile(program, catalog=catalog, workflow=wf.name, time_limit=TIME_LIMIT_S)
            out[wf.name] = plan.model_dump(mode="json")
        except HetError as exc:
            out[wf.name] = {"error": str(exc)}
        except Exception as exc:  # a bug of ours must not take the server down
            out[wf.name] = {"error": f"internal error: {type(exc).__name__}: {exc}"}
    return out


def _quiet_stdout() -> None:
    """In the worker: whatever writes to standard output (a solver's banner, a stray
    print) goes to standard error, because the server's standard output is the protocol
    and the worker inherits it."""
    import os
    import sys

    os.dup2(2, 1)
    sys.stdout = sys.stderr


def _warm() -> None:
    """Import the compiler in the worker before the first hover needs it."""
    import hetflow.compiler  # noqa: F401


def key(text: str, catalog: str | None) -> str:
    return hashlib.sha256(f"{catalog}\0{text}".encode()).hexdigest()


@dataclass
class Placements:
    """The plans of a document: the newest asked for, and the last that compiled."""

    pending: dict[str, Future] = field(default_factory=dict)  # uri -> compile of the newest text
    pending_key: dict[str, str] = field(default_factory=dict)
    ready: dict[str, tuple[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # uri -> (key, plans)
    _pool: ProcessPoolExecutor | None = None

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: the server has threads, and a forked copy of them is unsafe
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet_stdout
            )
        return self._pool

    def warm(self) -> None:
        """Start the worker and load the compiler in it, while the editor opens files."""
        self.pool().submit(_warm)

    def request(self, uri: str, text: str, file: str, catalog: str | None) -> None:
        """Compile this text in the background, unless it is the one done or under way."""
        k = key(text, catalog)
        if self.pending_key.get(uri) == k or (uri in self.ready and self.ready[uri][0] == k):
            return
        old = self.pending.get(uri)
        if old is not None:
            old.cancel()  # still queued: never started
        fut = self.pool().submit(compile_text, text, file, catalog)
        self.pending[uri] = fut
        self.pending_key[uri] = k

        def done(f: Future, uri: str = uri, k: str = k) -> None:
            if f.cancelled() or f.exception() is not None:
                return
            plans = f.result()
            if any("error" not in p for p in plans.values()):  # something compiled
                prev = self.ready.get(uri, ("", {}))[1]
                merged = {**prev, **{n: p for n, p in plans.items() if "error" not in p}}
                errors = {n: p for n, p in plans.items() if "error" in p}
                self.ready[uri] = (k, {**merged, **{f"!{n}": p for n, p in errors.items()}})
            elif uri in self.ready:  # keep the last plans, and say why they are old
                self.ready[uri] = (self.ready[uri][0], {**self.ready[uri][1], "!": plans})
            else:
                self.ready[uri] = ("", {"!": plans})

        fut.add_done_callback(done)

    def plan(self, uri: str, text: str, catalog: str | None, workflow: str):
        """(plan dict or None, is it of this very text, error message or None)."""
        got = self.ready.get(uri)
        if got is None:
            return None, False, None
        k, plans = got
        current = k == key(text, catalog)
        error = plans.get(f"!{workflow}", {}).get("error") if current else None
        return plans.get(workflow), current, error

    def busy(self, uri: str) -> bool:
        f = self.pending.get(uri)
        return f is not None and not f.done()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

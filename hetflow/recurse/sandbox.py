"""The sandboxed REPL a `recurse` step's root model writes code into.

The model's code never runs in hetflow's process: :class:`Sandbox` starts a separate
``python -I -S`` process (``child.py``) with a scrubbed environment, which confines
itself before the first cell (namespaces, Landlock, seccomp, rlimits: see
``confine.py``) and then talks to us over its standard input and output, one JSON
object a line.  The sub-call functions of the REPL are the only requests it can make;
each becomes an awaited ``on_call(SubCall)``, batches concurrently.

A limit hit, a crash or a hang is a :class:`CellResult` with ``error`` set, never an
exception in hetflow: the next cell starts a fresh process if the old one died.

>>> import asyncio
>>> async def answer(call): return "42"
>>> async def demo():
...     async with Sandbox("some text", on_call=answer) as box:
...         return (await box.run_cell("print(len(context), llm_query('q'))")).output
>>> asyncio.run(demo())
'9 42\\n'
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import importlib.util
import json
import logging
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hetflow.errors import HetError

log = logging.getLogger("hetflow.recurse")

_CHILD = str(Path(__file__).with_name("child.py"))
_INTERRUPT_GRACE_S = 2.0


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandbox may use.  CPU and wall time are per cell; memory per process."""

    cpu_seconds: float = 60
    cpu_seconds_total: float = 600  # the process's whole life; past it, a fresh process
    memory_mb: int = 1024
    wall_seconds_per_cell: float = 120
    output_chars: int = 20_000
    max_file_bytes: int = 50_000_000
    startup_seconds: float = 30
    # Mechanisms that must be on, else the sandbox refuses to start (e.g. ("landlock",)).
    required: tuple[str, ...] = ()


@dataclass
class SubCall:
    """One request from the model's code: a plain model call or a recursive one."""

    kind: Literal["llm", "rlm"]
    prompt: str
    context: Any | None = None


@dataclass
class CellResult:
    """What running one code block gave: printed output, an error, or the final answer."""

    output: str
    error: str | None = None
    final: bool = False
    final_value: Any = None


class SandboxError(HetError):
    """The sandbox could not be started (hetflow's environment, not the model's code)."""


def _to_json(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _seccomp_module() -> str | None:
    spec = importlib.util.find_spec("pyseccomp")
    return spec.origin if spec and spec.origin else None


def _cpu_seconds_used(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_warned: set[tuple[str, str]] = set()


def _is_off(status: str) -> bool:
    return status.startswith(("off", "partial")) or "failed" in status or "refused" in status


class Sandbox:
    """A confined Python process holding `context`; state persists between cells."""

    def __init__(
        self,
        context: Any,
        *,
        on_call: Callable[[SubCall], Awaitable[str]],
        limits: SandboxLimits = SandboxLimits(),
        scratch_dir: Path | None = None,
    ):
        self.limits = limits
        self.isolation: dict[str, str] = {}
        self.restarts = 0
        self._on_call = on_call
        try:
            self._init = json.dumps(
                {
                    "op": "init",
                    "context": context,
                    "limits": dataclasses.asdict(limits),
                    "seccomp_module": _seccomp_module(),
                },
                default=_to_json,
            )
        except (TypeError, ValueError) as e:
            raise SandboxError(f"the context cannot be handed to the sandbox: {e}") from None
        self._given_scratch = scratch_dir
        self._scratch: Path | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr_tail: collections.deque[bytes] = collections.deque(maxlen=16)
        self._stderr_task: asyncio.Task | None = None
        self._line_limit = max(64 << 20, 4 * len(self._init))
        self._lock = asyncio.Lock()  # one cell at a time: the REPL is sequential

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def scratch_dir(self) -> Path | None:
        return self._scratch

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the child process and wait until it says it is confined."""
        if self._proc is not None:
            return
        if self._scratch is None:
            if self._given_scratch is not None:
                self._scratch = Path(self._given_scratch).resolve()
                self._scratch.mkdir(parents=True, exist_ok=True)
            else:
                self._scratch = Path(tempfile.mkdtemp(prefix="hetflow-sandbox-"))
        scratch = str(self._scratch)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": scratch, "TMPDIR": scratch}
        init = self._init[:-1] + f', "scratch": {json.dumps(scratch)}}}\n'
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", "-B", _CHILD,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, cwd=scratch,
                start_new_session=True, limit=self._line_limit,
            )  # fmt: skip
        except OSError as e:
            raise SandboxError(f"cannot start the sandbox process: {e}") from None
        self._proc = proc
        self._stderr_tail.clear()
        self._stderr_task = asyncio.ensure_future(self._drain_stderr(proc))
        try:
            proc.stdin.write(init.encode())
            await proc.stdin.drain()
            ready = await asyncio.wait_for(self._read(), self.limits.startup_seconds)
        except (OSError, asyncio.TimeoutError, EOFError, ValueError) as e:
            await self._kill()
            raise SandboxError(
                f"the sandbox process did not start ({type(e).__name__}: {e}); "
                f"its last words: {self._last_words() or '(none)'}"
            ) from None
        if ready.get("op") != "ready":
            await self._kill()
            raise SandboxError(f"the sandbox process said {ready.get('op')!r} instead of ready")
        self.isolation = {
            "process": "separate, python -I -S",
            "environment": "scrubbed",
            **{str(k): str(v) for k, v in ready.get("isolation", {}).items()},
            "cpu_limit": self._arm_cpu_limit(),
        }
        await self._report_isolation()

    async def _report_isolation(self) -> None:
        for name, status in self.isolation.items():
            if _is_off(status) and (name, status) not in _warned:
                _warned.add((name, status))
                message = f"hetflow sandbox: {name} is {status}; the model's code is less confined"
                log.warning(message)
                warnings.warn(message, RuntimeWarning, stacklevel=3)
        missing = [n for n in self.limits.required if _is_off(self.isolation.get(n, "off"))]
        if missing:
            await self._kill()
            detail = ", ".join(f"{n}: {self.isolation.get(n, 'off')}" for n in missing)
            raise SandboxError(f"required sandbox isolation is missing ({detail})")

    def _arm_cpu_limit(self) -> str:
        """Give the next cell `cpu_seconds` more CPU time (the parent may raise limits)."""
        if self._proc is None:
            return "off: no process"
        budget = math.ceil(self.limits.cpu_seconds)
        try:
            hard = resource.prlimit(self._proc.pid, resource.RLIMIT_CPU)[1]
            soft = math.ceil(_cpu_seconds_used(self._proc.pid)) + budget
            resource.prlimit(self._proc.pid, resource.RLIMIT_CPU, (min(soft, hard), hard))
        except (OSError, ValueError, AttributeError) as e:
            return f"per process ({budget} s; per-cell prlimit refused: {e})"
        return f"per cell ({budget} s), per process ({hard} s)"

    async def close(self) -> None:
        """Stop the process and remove a scratch directory this sandbox made."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(OSError):
                proc.stdin.write(b'{"op": "exit"}\n')
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), 1.0)
        await self._kill()
        if self._scratch is not None and self._given_scratch is None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._stderr_task, 1.0)

    async def _drain_stderr(self, proc: asyncio.subprocess.Process) -> None:
        while chunk := await proc.stderr.read(4096):
            self._stderr_tail.append(chunk)

    def _last_words(self) -> str:
        text = b"".join(self._stderr_tail).decode("utf-8", "replace").strip()
        return text[-600:]

    # -- the protocol ------------------------------------------------------------------

    async def _read(self) -> dict:
        line = await self._proc.stdout.readline()
        if not line:
            raise EOFError("the sandbox process closed its pipe")
        msg = json.loads(line)
        if not isinstance(msg, dict):
            raise ValueError("not a JSON object")
        return msg

    async def _send(self, msg: dict) -> None:
        self._proc.stdin.write((json.dumps(msg, default=_to_json) + "\n").encode())
        await self._proc.stdin.drain()

    async def run_cell(self, code: str) -> CellResult:
        """Run one code block; its printed output, error or FINAL come back."""
        async with self._lock:
            return await self._run_cell(code)

    async def _run_cell(self, code: str) -> CellResult:
        if self._proc is None or self._proc.returncode is not None:
            if self._proc is not None:
                await self._kill()
                self.restarts += 1
            await self.start()
        else:
            self.isolation["cpu_limit"] = self._arm_cpu_limit()
        self._call_failure: BaseException | None = None
        try:
            result = await self._converse(code)
        except asyncio.CancelledError:
            await self._kill()
            raise
        if self._call_failure is not None:
            raise self._call_failure
        return result

    async def _converse(self, code: str) -> CellResult:
        wall = self.limits.wall_seconds_per_cell
        interrupted = False
        try:
            await self._send({"op": "cell", "code": code})
            while True:
                started = time.monotonic()
                try:
                    msg = await asyncio.wait_for(self._read(), max(wall, 0.001))
                except asyncio.TimeoutError:
                    if interrupted:
                        return await self._died(
                            f"it ran past its wall-clock limit ({self._wall_s()})"
                        )
                    # SIGINT first: a KeyboardInterrupt keeps the variables.
                    interrupted, wall = True, _INTERRUPT_GRACE_S
                    with contextlib.suppress(ProcessLookupError):
                        self._proc.send_signal(signal.SIGINT)
                    continue
                wall -= time.monotonic() - started
                op = msg.get("op")
                if op == "done":
                    return self._done(msg, interrupted)
                if op == "call" and interrupted:  # it asked for more after the deadline
                    return await self._died(f"it ran past its wall-clock limit ({self._wall_s()})")
                if op != "call":
                    return await self._died(f"it broke the protocol ({op!r} message)")
                # Time spent on sub-calls is the models', not the cell's.
                await self._send(await self._serve(msg.get("calls")))
        except (EOFError, OSError):
            return await self._died(None)
        except ValueError as e:  # not JSON, or a line past the size limit
            return await self._died(f"it broke the protocol ({str(e)[:200]})")

    def _wall_s(self) -> str:
        return f"{self.limits.wall_seconds_per_cell:g} s"

    def _done(self, msg: dict, interrupted: bool) -> CellResult:
        output = str(msg.get("output", ""))[: self.limits.output_chars + 200]
        error = msg.get("error")
        if interrupted:
            error = (
                f"TimeoutError: the cell ran past its wall-clock limit ({self._wall_s()}) "
                "and was interrupted; variables are kept"
            )
        return CellResult(
            output=output,
            error=None if error is None else str(error),
            final=bool(msg.get("final")),
            final_value=msg.get("final_value"),
        )

    async def _died(self, why: str | None) -> CellResult:
        proc = self._proc
        await self._kill()
        self.restarts += 1
        if why is None:
            code = proc.returncode if proc else None
            if code is not None and code < 0:
                name = signal.Signals(-code).name
                why = {
                    "SIGKILL": "it was killed (SIGKILL: CPU-time or memory limit)",
                    "SIGXCPU": "it used up its CPU time limit",
                    "SIGSEGV": "it crashed (SIGSEGV: a segmentation fault, e.g. stack overflow)",
                }.get(name, f"it was killed by {name}")
            else:
                why = f"it exited (status {code})"
        last = self._last_words()
        return CellResult(
            output="",
            error=(
                f"SandboxCrash: the REPL process stopped: {why}. The next cell starts a "
                "fresh REPL: variables from earlier cells are lost, `context` is still there."
                + (f"\nIts last words:\n{last}" if last else "")
            ),
        )

    async def _serve(self, calls: Any) -> dict:
        if self._call_failure is not None:
            return {"op": "reply", "error": f"an earlier sub-call failed: {self._call_failure}"}
        try:
            subs = [
                SubCall(
                    kind="rlm" if c.get("kind") == "rlm" else "llm",
                    prompt=str(c["prompt"]),
                    context=c.get("context"),
                )
                for c in calls
            ]
        except (TypeError, KeyError, AttributeError):
            return {"op": "reply", "error": "malformed sub-call"}
        tasks = [asyncio.ensure_future(self._on_call(s)) for s in subs]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            for t in tasks:
                t.cancel()
            raise
        for t in pending:
            t.cancel()
        failed = next((t.exception() for t in done if t.exception() is not None), None)
        if failed is not None:
            self._call_failure = failed
            return {"op": "reply", "error": f"{type(failed).__name__}: {failed}"}
        return {"op": "reply", "results": [str(t.result()) for t in tasks]}

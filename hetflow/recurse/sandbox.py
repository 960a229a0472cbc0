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
import fcntl
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
_SCRATCH_PREFIX = "hetflow-sandbox-"

# Every layer of confine.py.  Required by default: a `recurse` step does not start
# on a host that lacks one, unless the user opts out (`hetflow run --sandbox weak`).
LAYERS: tuple[str, ...] = ("rlimits", "namespaces", "landlock", "capabilities", "seccomp")

# How to get each layer back, for the refusal's message.
_FIXES = {
    "seccomp": "install libseccomp (apt install libseccomp2) and pyseccomp "
    "(pip install pyseccomp) where hetflow runs",
    "landlock": "use a Linux kernel >= 5.13 with Landlock enabled "
    "(CONFIG_SECURITY_LANDLOCK=y and 'landlock' in the lsm= boot parameter)",
    "namespaces": "allow user namespaces (sysctl kernel.unprivileged_userns_clone=1; on "
    "Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0), or run hetflow as root",
    "capabilities": "let the sandbox call capset (a seccomp or container policy refuses it)",
    "rlimits": "let the sandbox set its resource limits (a container policy refuses them)",
}

# Tests simulate a weaker host through this: {"disabled": [layer, ...] (also "pid"),
# "landlock_abi_max": N}.  Never set outside tests.
_SIMULATE: dict[str, Any] = {}

# A message on the protocol pipe: the sub-calls in one request, and what of a `done`
# message's error text reaches the next prompt.
MAX_CALLS_PER_REQUEST = 10_000
_ERROR_CHARS = 10_000


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


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
    # Layers that must be on, else the sandbox refuses to start, naming the layer and
    # the fix.  All of them by default; `()` is the loud opt-out (`--sandbox weak`).
    required: tuple[str, ...] = LAYERS
    # Sandboxes alive at once per recursion level, across the whole process (each is
    # a process of ~15 MB that may grow to memory_mb); more wait for a slot.
    max_sandboxes: int = _env_int("HETFLOW_MAX_SANDBOXES", 8)
    # Child REPLs (rlm_query below the last level) one step may start in all; past
    # it, rlm_query raises SubCallError in the model's code.
    max_child_sandboxes: int = _env_int("HETFLOW_MAX_CHILD_SANDBOXES", 64)


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


class SubCallRefused(Exception):
    """`on_call` refuses a sub-call for a reason the model can act on (too many REPLs).

    Unlike any other exception from `on_call`, it does not fail the step: the model's
    code gets it as `SubCallError` and may go on.
    """


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
    return status.startswith(("off", "partial"))


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - 2 * half:,} characters left out] ...\n{text[-half:]}"


def _sweep_dead_scratch(tmp: Path) -> None:
    """Remove scratch directories whose run is gone (its lock is free: it was killed)."""
    uid = os.geteuid()
    for lock in tmp.glob(f"{_SCRATCH_PREFIX}*.lock"):
        try:  # only our own, and never through a symbolic link someone else planted
            if lock.lstat().st_uid != uid or lock.with_suffix("").lstat().st_uid != uid:
                continue
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its run is alive
            shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
            with contextlib.suppress(OSError):
                lock.unlink()
        finally:
            os.close(fd)


def _locked_scratch() -> tuple[Path, int]:
    """A new scratch directory and the open, locked descriptor that says we own it.

    The lock (``DIR.lock`` next to it) is taken before it gets its name, so a sweep by
    another hetflow never sees it unlocked while we live; the kernel frees it when we
    die, however we die.
    """
    tmp = Path(tempfile.gettempdir())
    _sweep_dead_scratch(tmp)
    scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH_PREFIX))
    fd, staging = tempfile.mkstemp(prefix=".hetflow-lock-", dir=tmp)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, f"{os.getpid()}\n".encode())
    os.rename(staging, f"{scratch}.lock")
    return scratch, fd


def refusal(isolation: dict[str, str], required: tuple[str, ...]) -> str | None:
    """Why a sandbox with this isolation may not run model code, or None if it may."""
    missing = [n for n in required if _is_off(isolation.get(n, "off: not reported"))]
    if not missing:
        return None
    lines = [
        f"{n} is {isolation.get(n, 'off: not reported')}"
        + (f"; fix: {_FIXES[n]}" if n in _FIXES else "")
        for n in missing
    ]
    return (
        "the sandbox cannot confine the model's code on this host: "
        + "; ".join(lines)
        + ". To run anyway with weaker isolation: `hetflow run --sandbox weak` "
        "(Settings(sandbox='weak'), or SandboxLimits(required=()))"
    )


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
        self._scratch_lock: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._inner_pid: int | None = None  # the REPL (in a PID namespace, not _proc)
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
        """The process that runs the cells (as hetflow's PID namespace numbers it)."""
        return self._inner_pid or (self._proc.pid if self._proc else None)

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
                self._scratch, self._scratch_lock = _locked_scratch()
        scratch = str(self._scratch)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": scratch, "TMPDIR": scratch}
        extra = f', "scratch": {json.dumps(scratch)}'
        if _SIMULATE:
            extra += f', "simulate": {json.dumps(_SIMULATE)}'
        init = self._init[:-1] + extra + "}\n"
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

        async def handshake() -> dict:
            stdin, _ = self._pipes()
            stdin.write(init.encode())
            await stdin.drain()
            return await self._read()

        try:
            ready = await asyncio.wait_for(handshake(), self.limits.startup_seconds)
        except (OSError, asyncio.TimeoutError, EOFError, ValueError) as e:
            await self._kill()
            raise SandboxError(
                f"the sandbox process did not start ({type(e).__name__}: {e}); "
                f"its last words: {self._last_words() or '(none)'}"
            ) from None
        if ready.get("op") != "ready":
            await self._kill()
            raise SandboxError(f"the sandbox process said {ready.get('op')!r} instead of ready")
        inner = ready.get("pid")
        self._inner_pid = inner if isinstance(inner, int) and inner > 1 else proc.pid
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
        why = refusal(self.isolation, self.limits.required)
        if why:
            await self._kill()
            raise SandboxError(why)

    def _arm_cpu_limit(self) -> str:
        """Give the next cell `cpu_seconds` more CPU time (the parent may raise limits)."""
        if self._proc is None:
            return "off: no process"
        budget = math.ceil(self.limits.cpu_seconds)
        pid = self.pid or self._proc.pid
        try:
            hard = resource.prlimit(pid, resource.RLIMIT_CPU)[1]
            soft = math.ceil(_cpu_seconds_used(pid)) + budget
            resource.prlimit(pid, resource.RLIMIT_CPU, (min(soft, hard), hard))
        except (OSError, ValueError, AttributeError) as e:
            return f"partial: per process only ({budget} s; per-cell prlimit refused: {e})"
        return f"per cell ({budget} s), per process ({hard} s)"

    async def close(self) -> None:
        """Stop the process and remove a scratch directory this sandbox made."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(OSError, EOFError):
                self._pipes()[0].write(b'{"op": "exit"}\n')
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), 1.0)
        await self._kill()
        if self._scratch is not None and self._given_scratch is None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.unlink(f"{self._scratch}.lock")
            self._scratch = None
        if self._scratch_lock is not None:
            os.close(self._scratch_lock)
            self._scratch_lock = None

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        inner, self._inner_pid = self._inner_pid, None
        if proc is None:
            return
        if proc.returncode is None:
            if inner and inner != proc.pid:  # its waiter has not reaped it yet
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(inner, signal.SIGKILL)
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
        if proc.stderr is None:
            return
        while chunk := await proc.stderr.read(4096):
            self._stderr_tail.append(chunk)

    def _last_words(self) -> str:
        text = b"".join(self._stderr_tail).decode("utf-8", "replace").strip()
        return text[-600:]

    # -- the protocol ------------------------------------------------------------------

    def _pipes(self) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
        """The running process's stdin and stdout (EOFError when there is none)."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise EOFError("the sandbox process is not running")
        return proc.stdin, proc.stdout

    async def _read(self) -> dict:
        line = await self._pipes()[1].readline()
        if not line:
            raise EOFError("the sandbox process closed its pipe")
        try:
            msg = json.loads(line)
        except RecursionError:
            raise ValueError("a message nested too deeply") from None
        if not isinstance(msg, dict):
            raise ValueError("not a JSON object")
        return msg

    async def _send(self, msg: dict) -> None:
        """Write one message; the caller bounds the wait (a child may never read)."""
        stdin, _ = self._pipes()
        stdin.write((json.dumps(msg, default=_to_json) + "\n").encode())
        await stdin.drain()

    async def run_cell(self, code: str) -> CellResult:
        """Run one code block; its printed output, error or FINAL come back."""
        async with self._lock:
            return await self._run_cell(code)

    async def _run_cell(self, code: str) -> CellResult:
        if self._proc is None or self._proc.returncode is not None:
            if self._proc is not None:
                await self._kill()
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
                    target = self.pid or (self._proc.pid if self._proc is not None else None)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        if target is not None:
                            os.kill(target, signal.SIGINT)
                    continue
                wall -= time.monotonic() - started
                op = msg.get("op")
                if op == "done":
                    return self._done(msg, interrupted)
                if op == "call" and interrupted:  # it asked for more after the deadline
                    return await self._died(f"it ran past its wall-clock limit ({self._wall_s()})")
                if op != "call":
                    return await self._died(f"it broke the protocol ({op!r} message)")
                # Time spent on sub-calls is the models', not the cell's; handing the
                # answers back is the cell's (a child that never reads must not hang us).
                reply = await self._serve(msg.get("calls"))
                started = time.monotonic()
                try:
                    await asyncio.wait_for(self._send(reply), max(wall, 0.001))
                except asyncio.TimeoutError:
                    return await self._died(
                        "it stopped reading the answers to its sub-calls "
                        f"(wall-clock limit, {self._wall_s()})"
                    )
                wall -= time.monotonic() - started
        except (EOFError, OSError):
            return await self._died(None)
        except ValueError as e:  # not JSON, or a line past the size limit
            return await self._died(f"it broke the protocol ({str(e)[:200]})")

    def _wall_s(self) -> str:
        return f"{self.limits.wall_seconds_per_cell:g} s"

    def _done(self, msg: dict, interrupted: bool) -> CellResult:
        output = str(msg.get("output", ""))[: self.limits.output_chars + 200]
        error = msg.get("error")
        if error is not None:
            error = _clip(str(error), max(_ERROR_CHARS, self.limits.output_chars))
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
        if len(subs) > MAX_CALLS_PER_REQUEST:
            return {
                "op": "reply",
                "error": f"too many sub-calls in one batch ({len(subs):,} > "
                f"{MAX_CALLS_PER_REQUEST:,}); send them in smaller batches",
            }
        tasks = [asyncio.ensure_future(self._on_call(s)) for s in subs]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            for t in tasks:
                t.cancel()
            raise
        for t in pending:
            t.cancel()
        # Every exception is looked at (asyncio logs the ones nobody retrieved).
        errors = [t.exception() for t in tasks if t in done]
        # A runtime failure (budget, provider) outranks a refusal the model may handle.
        errors.sort(key=lambda e: isinstance(e, SubCallRefused))
        failed = next((e for e in errors if e is not None), None)
        if isinstance(failed, SubCallRefused):  # the model's to handle, not the step's
            return {"op": "reply", "error": str(failed)}
        if failed is not None:
            self._call_failure = failed
            return {"op": "reply", "error": f"{type(failed).__name__}: {failed}"}
        return {"op": "reply", "results": [str(t.result()) for t in tasks]}

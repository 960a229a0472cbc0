"""The REPL surface a root model sees (a contract), and the sandbox's limits."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from hetflow.recurse import CellResult, Sandbox, SandboxLimits, SubCall

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


async def echo(call: SubCall) -> str:
    return f"{call.kind}:{call.prompt}"


async def test_context_is_a_variable_and_state_persists():
    async with Sandbox("line one\nline two", on_call=echo) as box:
        r = await box.run_cell("lines = context.splitlines()\nprint(len(lines))")
        assert r == CellResult(output="2\n", error=None, final=False, final_value=None)
        r = await box.run_cell("lines[1].upper()")  # a last expression is shown
        assert r.output == "'LINE TWO'\n"


async def test_structured_context():
    async with Sandbox({"docs": ["a", "b"]}, on_call=echo) as box:
        r = await box.run_cell("print(type(context).__name__, context['docs'][1])")
        assert r.output == "dict b\n"


async def test_llm_query_goes_through_on_call():
    seen: list[SubCall] = []

    async def on_call(call: SubCall) -> str:
        seen.append(call)
        return "forty-two"

    async with Sandbox("ctx", on_call=on_call) as box:
        r = await box.run_cell("answer = llm_query('what is it?')\nprint(answer)")
    assert r.output == "forty-two\n" and r.error is None
    assert seen == [SubCall(kind="llm", prompt="what is it?", context=None)]


async def test_batched_calls_run_concurrently():
    spans: list[tuple[float, float]] = []

    async def slow(call: SubCall) -> str:
        start = time.monotonic()
        await asyncio.sleep(0.4)
        spans.append((start, time.monotonic()))
        return call.prompt.upper()

    async with Sandbox("", on_call=slow) as box:
        r = await box.run_cell("print(llm_query_batched(['a', 'b', 'c', 'd']))")
    assert r.output == "['A', 'B', 'C', 'D']\n"
    # Every call started before any call ended: they overlapped in time.
    assert max(s for s, _ in spans) < min(e for _, e in spans)


async def test_rlm_query_passes_the_sub_context():
    seen: list[SubCall] = []

    async def on_call(call: SubCall) -> str:
        seen.append(call)
        return "sub-answer"

    async with Sandbox("big", on_call=on_call) as box:
        r = await box.run_cell("print(rlm_query('summarize', context[:2] + '!'))")
    assert r.output == "sub-answer\n"
    assert seen == [SubCall(kind="rlm", prompt="summarize", context="bi!")]


async def test_final_and_final_var():
    async with Sandbox("x", on_call=echo) as box:
        r = await box.run_cell("FINAL({'count': 3, 'labels': ('a', 'b')})\nprint('not reached')")
        assert r.final and r.final_value == {"count": 3, "labels": ["a", "b"]}
        assert r.output == ""
        r = await box.run_cell("tally = {'x': 1}\nFINAL_VAR('tally')")
        assert r.final and r.final_value == {"x": 1}
        r = await box.run_cell("FINAL_VAR('nope')")
        assert not r.final and "NameError" in r.error and "tally" in r.error


async def test_final_survives_a_bare_except_exception():
    async with Sandbox("x", on_call=echo) as box:
        r = await box.run_cell("try:\n    FINAL(1)\nexcept Exception:\n    print('caught')")
    assert r.final and r.final_value == 1 and r.output == ""


async def test_model_errors_come_back_as_short_tracebacks():
    async with Sandbox("x", on_call=echo) as box:
        r = await box.run_cell("def f():\n    return 1 / 0\nf()")
        assert r.error.startswith("Traceback") and "ZeroDivisionError" in r.error
        assert "<cell 1>" in r.error and "child.py" not in r.error
        r = await box.run_cell("print(1")
        assert "SyntaxError" in r.error
        r = await box.run_cell("llm_query(['not', 'a', 'str'])")
        assert "TypeError" in r.error


async def test_output_is_truncated_with_a_marker():
    limits = SandboxLimits(output_chars=1000)
    async with Sandbox("x", on_call=echo, limits=limits) as box:
        r = await box.run_cell("for i in range(10000):\n    print('line', i)")
    assert len(r.output) < 1300
    assert "output truncated" in r.output
    assert r.output.startswith("line 0\n") and r.output.rstrip().endswith("line 9999")


async def test_on_call_failure_is_raised_from_run_cell():
    class BudgetExceeded(Exception):
        pass

    async def broke(call: SubCall) -> str:
        raise BudgetExceeded("budget $0.50 spent")

    async with Sandbox("x", on_call=broke) as box:
        with pytest.raises(BudgetExceeded):
            await box.run_cell("try:\n    llm_query('a')\nexcept Exception as e:\n    print(e)")
        r = await box.run_cell("print('still alive')")  # the REPL itself survived
        assert r.output == "still alive\n"


async def test_isolation_reports_every_mechanism():
    async with Sandbox("x", on_call=echo) as box:
        iso = box.isolation
    for name in ("process", "environment", "rlimits", "namespaces", "landlock", "seccomp"):
        assert name in iso


async def test_scratch_directory_is_the_working_directory_and_is_removed():
    async with Sandbox("x", on_call=echo) as box:
        r = await box.run_cell("open('notes.txt', 'w').write('hi')\nimport os; print(os.getcwd())")
        scratch = box.scratch_dir
        assert r.output.strip() == str(scratch)
        assert (scratch / "notes.txt").read_text() == "hi"
    assert not scratch.exists()


async def test_required_isolation_refuses_to_start_without_it():
    from hetflow.recurse import SandboxError

    box = Sandbox("x", on_call=echo, limits=SandboxLimits(required=("no-such-layer",)))
    with pytest.raises(SandboxError, match="no-such-layer"):
        await box.start()
    await box.close()


async def test_cpu_limit_is_per_cell_and_keeps_variables():
    limits = SandboxLimits(cpu_seconds=1, wall_seconds_per_cell=10)
    async with Sandbox("x", on_call=echo, limits=limits) as box:
        await box.run_cell("kept = 1")
        r = await box.run_cell("while True:\n    kept += 1")
        assert "CpuLimitExceeded" in r.error
        r = await box.run_cell("print(kept > 1)")
        assert r.output == "True\n"
        # The next cell gets its own CPU seconds again.
        r = await box.run_cell(
            "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5:\n    pass\nprint('ok')"
        )
        assert r.output == "ok\n" and r.error is None


async def test_wall_time_excludes_sub_calls():
    async def slow(call: SubCall) -> str:
        await asyncio.sleep(0.5)
        return "done"

    limits = SandboxLimits(wall_seconds_per_cell=0.8)
    async with Sandbox("x", on_call=slow, limits=limits) as box:
        r = await box.run_cell("print([llm_query('a') for _ in range(3)])")
    assert r.error is None and r.output == "['done', 'done', 'done']\n"


async def test_a_missing_layer_is_reported_loudly(monkeypatch):
    from hetflow.recurse import SandboxError
    from hetflow.recurse import sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "_seccomp_module", lambda: None)
    monkeypatch.setattr(sandbox_module, "_warned", set())
    weak = SandboxLimits(required=())  # the opt-out: run, but say so
    with pytest.warns(RuntimeWarning, match="seccomp is off: pyseccomp missing"):
        async with Sandbox("x", on_call=echo, limits=weak) as box:
            assert box.isolation["seccomp"] == "off: pyseccomp missing"
            assert box.isolation["landlock"].startswith("abi") or "off" in box.isolation["landlock"]
    box = Sandbox("x", on_call=echo)  # the default requires every layer
    with pytest.raises(SandboxError, match="seccomp is off: pyseccomp missing; fix: install"):
        await box.start()
    await box.close()


async def test_cells_on_one_sandbox_run_one_at_a_time():
    async with Sandbox("x", on_call=echo) as box:
        results = await asyncio.gather(*(box.run_cell(f"n = {i}\nprint(n)") for i in range(5)))
    assert [r.output for r in results] == [f"{i}\n" for i in range(5)]


def _can_unshare() -> bool:
    """Whether this machine lets a process take new user and network namespaces."""
    code = (
        "import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
        "sys.exit(0 if libc.unshare(0x10000000 | 0x40000000) == 0 else 1)"
    )
    return subprocess.run([sys.executable, "-c", code]).returncode == 0


async def test_the_namespace_layer_really_moves_the_cell_into_new_namespaces():
    """Not only the layer's name: the cell's process sits in other user, net and IPC
    namespaces than ours (so no socket reaches any network), whenever the machine can."""
    cell = "import os; print(*(os.readlink(f'/proc/self/ns/{k}') for k in ('user', 'net', 'ipc')))"
    ours = [os.readlink(f"/proc/self/ns/{k}") for k in ("user", "net", "ipc")]
    async with Sandbox("x", on_call=echo) as box:
        r = await box.run_cell(cell)
        layer = box.isolation["namespaces"]
    theirs = r.output.split()
    assert r.error is None and len(theirs) == 3, r
    if _can_unshare():
        assert {"user", "net", "ipc"} <= set(layer.split(", ")), layer
        assert all(a != b for a, b in zip(theirs, ours, strict=True)), (theirs, ours)
    else:  # the layer says it is off, and it is
        assert layer.startswith("off") and theirs[1] == ours[1], (layer, theirs, ours)

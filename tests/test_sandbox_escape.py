"""The escape suite: model-written code that tries to get out, and must not.

Each attack runs in a fresh sandbox; it must end with a clean ``CellResult.error``
(or a harmless output), leave no effect outside the scratch directory, and leave
the sandbox able to run the next cell.  The test process itself is the parent: that
it is still running and answering is the "parent still healthy" check.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hetflow
from hetflow.recurse import Sandbox, SandboxLimits, SubCall

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# Attacks that would really fork if seccomp were missing: refuse to run them unconfined.
FAST = SandboxLimits(
    cpu_seconds=1, wall_seconds_per_cell=1.5, memory_mb=256, max_file_bytes=1 << 20
)


NO_FORK = dataclasses.replace(FAST, required=("seccomp",))


async def no_calls(call: SubCall) -> str:
    return ""


async def attack(code: str, limits: SandboxLimits = FAST, context: str = "ctx"):
    """Run `code`; then check the sandbox still answers.  Returns the attack's result."""
    async with Sandbox(context, on_call=no_calls, limits=limits) as box:
        result = await box.run_cell(code)
        after = await box.run_cell("print(6 * 7)")
        assert after.output == "42\n" and after.error is None, after
    return result


def blocked(result, *needles: str) -> None:
    text = f"{result.error}\n{result.output}"
    assert result.error is not None, result
    assert any(n in text for n in needles), text


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    with pytest.raises(BlockingIOError):
        server.accept()  # nobody got through
    server.close()


@pytest.fixture
def bystander():
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    assert proc.poll() is None, "the sandbox killed a process outside it"
    proc.kill()
    proc.wait()


# -- files -------------------------------------------------------------------------


async def test_read_etc_passwd():
    blocked(await attack("print(open('/etc/passwd').read())"), "PermissionError")


async def test_read_home_files():
    home = Path.home()
    blocked(
        await attack(f"print(os.listdir({str(home)!r}))".replace("print", "import os; print", 1)),
        "PermissionError",
    )


async def test_read_a_secret_next_to_the_parent(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t")
    r = await attack(f"print(open({str(secret)!r}).read())")
    blocked(r, "PermissionError")
    assert "s3cr3t" not in r.output


async def test_write_outside_scratch(tmp_path):
    target = tmp_path / "pwned"
    blocked(await attack(f"open({str(target)!r}, 'w').write('x')"), "PermissionError")
    assert not target.exists()


async def test_list_the_root_directory():
    blocked(await attack("import os; print(os.listdir('/'))"), "PermissionError")


async def test_symlink_out_of_scratch():
    code = "import os; os.symlink('/etc/passwd', 'link'); print(open('link').read())"
    blocked(await attack(code), "PermissionError")


async def test_hard_link_out_of_scratch():
    blocked(await attack("import os; os.link('/etc/passwd', 'hard')"), "PermissionError", "Error")


async def test_import_the_parents_modules_to_tamper():
    src = str(Path(hetflow.__file__).parent.parent)
    code = f"import sys; sys.path.insert(0, {src!r}); import hetflow.recurse.sandbox as s; print(s)"
    blocked(await attack(code), "ModuleNotFoundError", "PermissionError")
    assert hetflow.recurse.sandbox.Sandbox is Sandbox


async def test_write_a_huge_file_in_scratch():
    code = "f = open('big', 'wb')\nfor _ in range(100):\n    f.write(b'x' * (1 << 20))\nf.flush()"
    blocked(await attack(code), "File too large", "OSError")


# -- network -----------------------------------------------------------------------


async def test_tcp_connect_to_a_local_listener(listener):
    port = listener.getsockname()[1]
    code = f"import socket; s = socket.create_connection(('127.0.0.1', {port}), timeout=1)"
    blocked(await attack(code), "PermissionError", "OSError")


async def test_urllib_http(listener):
    port = listener.getsockname()[1]
    code = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=1)"
    blocked(await attack(code), "PermissionError", "URLError")


async def test_udp_send():
    code = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9))"
    blocked(await attack(code), "PermissionError")


async def test_abstract_unix_socket():
    code = "import socket; s = socket.socket(socket.AF_UNIX); s.connect('\\0hetflow-test')"
    blocked(await attack(code), "PermissionError")


# -- processes ---------------------------------------------------------------------


async def test_subprocess_run(tmp_path):
    marker = tmp_path / "ran"
    code = f"import subprocess; subprocess.run(['touch', {str(marker)!r}])"
    blocked(await attack(code, limits=NO_FORK), "PermissionError")
    assert not marker.exists()


async def test_os_system(tmp_path):
    marker = tmp_path / "ran"
    r = await attack(
        f"import os; status = os.system('touch {marker}'); assert status == 0, status",
        limits=NO_FORK,
    )
    blocked(r, "AssertionError")
    assert not marker.exists()


async def test_os_exec():
    blocked(
        await attack("import os; os.execv('/bin/sh', ['sh', '-c', 'id'])", limits=NO_FORK),
        "PermissionError",
    )


async def test_pty_spawn():
    blocked(
        await attack("import pty; pty.spawn('/bin/sh')", limits=NO_FORK),
        "PermissionError",
        "OSError",
    )


async def test_fork_bomb():
    blocked(
        await attack("import os\nwhile True:\n    os.fork()", limits=NO_FORK), "PermissionError"
    )


async def test_multiprocessing():
    code = "import multiprocessing as mp\np = mp.Process(target=print)\np.start()"
    blocked(await attack(code, limits=NO_FORK), "PermissionError", "OSError")


async def test_ctypes_libc_system(tmp_path):
    marker = tmp_path / "ran"
    code = f"import ctypes; rc = ctypes.CDLL(None).system(b'touch {marker}'); assert rc == 0, rc"
    blocked(await attack(code, limits=NO_FORK), "AssertionError")
    assert not marker.exists()


async def test_ctypes_raw_fork_syscall():
    code = "import ctypes; pid = ctypes.CDLL(None).syscall(57); assert pid > 0, pid"
    blocked(await attack(code, limits=NO_FORK), "AssertionError")


async def test_ctypes_ptrace_the_parent():
    code = (
        f"import ctypes; rc = ctypes.CDLL(None).ptrace(16, {os.getpid()}, 0, 0); assert rc == 0, rc"
    )
    blocked(await attack(code), "AssertionError")


async def test_ctypes_crash_is_contained():
    r = await attack("import ctypes; ctypes.string_at(0)")
    blocked(r, "SandboxCrash")


async def test_kill_a_process_outside(bystander):
    blocked(
        await attack(f"import os, signal; os.kill({bystander.pid}, signal.SIGKILL)"),
        "PermissionError",
    )


async def test_signal_the_parent():
    code = f"import os; os.kill({os.getpid()}, 0)"  # signal 0 probes without harm
    blocked(await attack(code), "PermissionError")
    os.kill(os.getpid(), 0)


async def test_raise_own_limits():
    code = "import resource; resource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))"
    blocked(await attack(code), "ValueError", "PermissionError", "not allowed")


async def test_unshare_and_mount_via_ctypes():
    code = "import ctypes; libc = ctypes.CDLL(None); assert libc.unshare(0x00020000) == 0"
    blocked(await attack(code), "AssertionError")


# -- secrets -----------------------------------------------------------------------


async def test_api_keys_do_not_reach_the_child(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-leak-123")
    r = await attack("import os; print(dict(os.environ))")
    assert "sk-test-do-not-leak-123" not in r.output and "OPENAI_API_KEY" not in r.output


async def test_parent_environ_through_proc(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-leak-456")
    # hetflow's pid as hetflow sees it: inside a PID namespace, getppid() says 0.
    r = await attack(f"print(open('/proc/{os.getpid()}/environ').read())")
    blocked(r, "PermissionError")
    assert "sk-test-do-not-leak-456" not in r.output


# -- resources ---------------------------------------------------------------------


async def test_memory_bomb():
    blocked(await attack("x = bytearray(2 * 1024 ** 3)"), "MemoryError")


async def test_growing_memory_bomb():
    blocked(await attack("xs = []\nwhile True:\n    xs.append(' ' * 10 ** 7)"), "MemoryError")


async def test_infinite_loop_hits_the_cpu_limit_and_keeps_state():
    async with Sandbox("ctx", on_call=no_calls, limits=FAST) as box:
        await box.run_cell("kept = 'yes'")
        r = await box.run_cell("while True:\n    pass")
        blocked(r, "CPU", "wall-clock")
        assert (await box.run_cell("print(kept)")).output == "yes\n"


async def test_ignoring_sigxcpu_is_refused():
    code = "import signal; signal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass"
    blocked(await attack(code), "PermissionError", "CPU", "wall-clock")


async def test_sleep_forever_hits_the_wall_limit():
    blocked(await attack("import time; time.sleep(10 ** 6)"), "wall-clock")


async def test_sleep_that_swallows_the_interrupt_is_killed():
    code = "import time\nwhile True:\n    try:\n        time.sleep(100)\n    except KeyboardInterrupt:\n        pass"
    blocked(await attack(code), "wall-clock")


async def test_huge_output_is_truncated():
    r = await attack(
        "print('x' * 50_000_000)", limits=SandboxLimits(output_chars=5_000, memory_mb=512)
    )
    assert len(r.output) < 6_000 and "truncated" in r.output


async def test_deep_recursion():
    blocked(await attack("def f(n):\n    return f(n + 1)\nf(0)"), "RecursionError")


async def test_deep_recursion_past_the_c_stack_is_contained():
    code = "import sys; sys.setrecursionlimit(10 ** 8)\ndef f(n):\n    return f(n + 1)\nf(0)"
    blocked(await attack(code), "SandboxCrash", "RecursionError", "MemoryError")


async def test_forged_protocol_message():
    # The protocol pipe is the only way out; garbage on it ends the REPL, not hetflow.
    code = "import os\nfor fd in range(3, 10):\n    try:\n        os.write(fd, b'not json\\n')\n    except OSError:\n        pass\nprint('wrote')"
    r = await attack(code)
    assert r.error is None or "protocol" in r.error or "SandboxCrash" in r.error


async def test_protocol_line_past_the_size_limit():
    code = "import os\nos.write(4, b'{' + b' ' * (70 << 20))"
    r = await attack(code, limits=SandboxLimits(memory_mb=512))
    assert r.error is None or "SandboxCrash" in r.error


async def test_thread_bomb():
    code = "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()"
    blocked(
        await attack(code),
        "RuntimeError",
        "MemoryError",
        "can't start",
        "CPU",
        "wall-clock",
        "SandboxCrash",
    )


def test_no_sandbox_process_is_left_behind():
    """No child.py process of ours survives its sandbox (others' test runs may have some)."""
    mine = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"hetflow/recurse/child.py" in cmdline and ppid == os.getpid():
            mine.append(entry.name)
    assert mine == []


async def test_sys_exit_is_an_error_not_an_exit():
    blocked(await attack("import sys; sys.exit(3)"), "SystemExit")


async def test_os_exit_ends_only_the_repl():
    blocked(await attack("import os; os._exit(0)"), "SandboxCrash")


async def test_closing_the_protocol_pipe_ends_only_the_repl():
    blocked(
        await attack(
            "import os\nfor fd in range(3, 10):\n    try:\n        os.close(fd)\n    except OSError:\n        pass"
        ),
        "SandboxCrash",
    )


def test_the_child_dies_with_its_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        "import asyncio, sys\n"
        "from hetflow.recurse import Sandbox\n"
        "async def main():\n"
        "    async def on_call(c): return ''\n"
        "    box = Sandbox('x', on_call=on_call)\n"
        "    await box.start()\n"
        "    print(box.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-W", "ignore", str(script)], stdout=subprocess.PIPE, text=True
    )
    child_pid = int(parent.stdout.readline())
    os.kill(child_pid, 0)  # alive while its parent is
    parent.kill()
    parent.wait()
    for _ in range(100):
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child_pid, signal.SIGKILL)
        pytest.fail("the sandbox process outlived its parent")


# -- issue 12: metadata outside the scratch directory --------------------------------


@pytest.fixture
def outside(tmp_path):
    """A file and a directory outside the scratch directory, owned by whoever runs the test."""
    target = tmp_path / "victim.txt"
    target.write_text("v")
    target.chmod(0o600)
    os.utime(target, (1_000_000, 1_000_000))
    before = (target.stat(), tmp_path.stat(), os.listxattr(target))
    yield target
    after = (target.stat(), tmp_path.stat(), os.listxattr(target))
    assert after[0].st_mode == before[0].st_mode, "the file's mode changed"
    assert after[0].st_mtime == before[0].st_mtime, "the file's times changed"
    assert (after[0].st_uid, after[0].st_gid) == (before[0].st_uid, before[0].st_gid)
    assert after[1].st_mode == before[1].st_mode, "the directory's mode changed"
    assert after[2] == before[2], "the file's extended attributes changed"


async def test_chmod_setuid_outside_scratch(outside):
    blocked(await attack(f"import os; os.chmod({str(outside)!r}, 0o4777)"), "PermissionError")


async def test_chmod_a_directory_outside_scratch(outside):
    blocked(await attack(f"import os; os.chmod({str(outside.parent)!r}, 0o777)"), "PermissionError")


async def test_utime_outside_scratch(outside):
    blocked(await attack(f"import os; os.utime({str(outside)!r}, (0, 0))"), "PermissionError")


async def test_setxattr_outside_scratch(outside):
    code = f"import os; os.setxattr({str(outside)!r}, 'user.x', b'y')"
    blocked(await attack(code), "PermissionError")


async def test_removexattr_outside_scratch(outside):
    code = f"import os; os.removexattr({str(outside)!r}, 'user.x')"
    blocked(await attack(code), "PermissionError")


async def test_chown_group_outside_scratch(outside):
    code = f"import os; os.chown({str(outside)!r}, -1, 12345)"
    blocked(await attack(code), "PermissionError")


async def test_lchown_and_fchmodat2_by_raw_syscall(outside):
    # fchmodat2 (452) and setxattrat (463) are newer than some libseccomp name tables.
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"p = {str(outside).encode()!r}\n"
        "rc1 = libc.syscall(452, -100, p, 0o4777, 0)\n"
        "rc2 = libc.syscall(463, -100, p, 0, b'user.y', None, 0)\n"
        "rc3 = libc.syscall(466, -100, p, 0, b'user.y')\n"
        "assert rc1 == 0 or rc2 == 0 or rc3 == 0, (rc1, rc2, rc3)"
    )
    blocked(await attack(code), "AssertionError")


async def test_fchmod_of_an_open_file_is_refused():
    code = "import os; f = open('mine', 'w'); os.fchmod(f.fileno(), 0o4777)"
    blocked(await attack(code), "PermissionError")


# -- issue 12: outliving hetflow --------------------------------------------------------


async def test_clearing_the_parent_death_signal_is_refused():
    code = "import ctypes; rc = ctypes.CDLL(None).prctl(1, 0, 0, 0, 0); assert rc != 0, rc"
    r = await attack(code)
    assert r.error is None, r


def _parent_script(tmp_path, cell: str) -> Path:
    script = tmp_path / "parent.py"
    script.write_text(
        "import asyncio, sys\n"
        "from hetflow.recurse import Sandbox\n"
        "async def main():\n"
        "    async def on_call(c): return ''\n"
        "    box = Sandbox('x', on_call=on_call)\n"
        "    await box.start()\n"
        f"    task = asyncio.ensure_future(box.run_cell({cell!r}))\n"
        "    await asyncio.sleep(1)\n"
        "    print(box.pid, box.scratch_dir, task.done(), flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    return script


def _wait_dead(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie of a reaped-late parent counts as dead
            if (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def _sandbox_pids(scratch: str) -> list[int]:
    """Every live process whose environment says HOME=<scratch> (the REPL and its kin)."""
    needle = f"HOME={scratch}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_the_child_dies_with_its_parent_after_clearing_pdeathsig(tmp_path):
    cell = "import ctypes, time; ctypes.CDLL(None).prctl(1, 0, 0, 0, 0); time.sleep(1000)"
    parent = subprocess.Popen(
        [sys.executable, "-W", "ignore", str(_parent_script(tmp_path, cell))],
        stdout=subprocess.PIPE,
        text=True,
    )
    _, scratch, _ = parent.stdout.readline().split(" ", 2)
    assert _sandbox_pids(scratch), "the sandbox should be running"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while (left := _sandbox_pids(scratch)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "the sandbox process outlived hetflow"


def test_scratch_of_a_killed_run_is_removed_at_the_next_start(tmp_path):
    import asyncio

    parent = subprocess.Popen(
        [sys.executable, "-W", "ignore", str(_parent_script(tmp_path, "open('f', 'w')"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    _, scratch, _ = parent.stdout.readline().split(" ", 2)
    assert Path(scratch, "f").exists()
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while _sandbox_pids(scratch) and time.monotonic() < deadline:
        time.sleep(0.05)

    async def start_another():
        async with Sandbox("x", on_call=no_calls, limits=FAST):
            pass

    asyncio.run(start_another())
    assert not Path(scratch).exists(), "the dead run's scratch directory is still there"


# -- issue 12: the protocol ---------------------------------------------------------


async def test_forged_calls_never_read_do_not_hang_hetflow():
    async def big(call: SubCall) -> str:
        return "x" * 100_000

    code = (
        "import json, os, time\n"
        "line = (json.dumps({'op': 'call', 'calls': [{'kind': 'llm', 'prompt': 'q'}]}) + '\\n').encode()\n"
        "for _ in range(50):\n"
        "    os.write(4, line)\n"
        "time.sleep(1000)"
    )

    async def go():
        async with Sandbox("ctx", on_call=big, limits=FAST) as box:
            r = await box.run_cell(code)
            after = await box.run_cell("print(6 * 7)")
        return r, after

    started = time.monotonic()
    r, after = await asyncio_wait_for(go(), 30)
    assert r.error is not None and time.monotonic() - started < 15, r
    assert after.output == "42\n"


async def asyncio_wait_for(coro, seconds):
    import asyncio

    try:
        return await asyncio.wait_for(coro, seconds)
    except asyncio.TimeoutError:
        pytest.fail(f"hetflow hung for {seconds} s")


async def test_too_many_forged_calls_in_one_message_are_refused():
    seen = []

    async def count(call: SubCall) -> str:
        seen.append(call)
        return ""

    code = (
        "import json, os\n"
        "msg = {'op': 'call', 'calls': [{'kind': 'llm', 'prompt': 'q'}] * 100_000}\n"
        "os.write(4, (json.dumps(msg) + '\\n').encode())\n"
        "print(os.read(3, 100))"
    )
    async with Sandbox(
        "ctx", on_call=count, limits=dataclasses.replace(FAST, memory_mb=512)
    ) as box:
        r = await box.run_cell(code)
    assert len(seen) == 0, len(seen)
    assert r.error is not None or "too many" in r.output


async def test_a_deeply_nested_forged_line_is_an_error_for_the_model():
    code = "import os, time; os.write(4, b'[' * 200_000 + b'\\n'); time.sleep(5)"
    r = await attack(code)
    blocked(r, "protocol")


async def test_a_huge_forged_error_is_truncated():
    code = (
        "import json, os, time\n"
        "os.write(4, (json.dumps({'op': 'done', 'output': '', 'error': 'E' * 30_000_000}) + '\\n').encode())\n"
        "time.sleep(5)"
    )
    async with Sandbox(
        "ctx", on_call=no_calls, limits=dataclasses.replace(FAST, memory_mb=512)
    ) as box:
        r = await box.run_cell(code)
    assert r.error is not None and len(r.error) < 30_000, len(r.error or "")


# -- issue 12: failing closed, and a weaker host simulated -------------------------


@pytest.fixture
def simulate(monkeypatch):
    """Make the next sandboxes confine themselves as on a host lacking some layers."""
    from hetflow.recurse import sandbox as sandbox_module

    def set_(**how):
        monkeypatch.setattr(sandbox_module, "_SIMULATE", how)

    return set_


@pytest.mark.parametrize(
    ("off", "named"),
    [
        ("seccomp", "seccomp"),
        ("landlock", "landlock"),
        ("namespaces", "namespaces"),
        ("pid", "namespaces"),
        ("capabilities", "capabilities"),
        ("rlimits", "rlimits"),
    ],
)
async def test_a_missing_layer_refuses_to_start_by_default(simulate, off, named):
    from hetflow.recurse import SandboxError

    simulate(disabled=[off])
    box = Sandbox("x", on_call=no_calls, limits=FAST)
    with pytest.raises(SandboxError) as caught:
        await box.start()
    await box.close()
    message = str(caught.value)
    assert f"{named} is " in message and "--sandbox weak" in message, message
    assert "fix:" in message


async def test_weak_mode_runs_and_reports_the_layer_off(simulate):
    simulate(disabled=["landlock"])
    async with Sandbox("x", on_call=no_calls, limits=dataclasses.replace(FAST, required=())) as box:
        assert box.isolation["landlock"].startswith("off"), box.isolation
        assert all(not v.startswith("off") for k, v in box.isolation.items() if k != "landlock"), (
            box.isolation
        )


async def test_old_landlock_abi_says_what_it_leaves_to_seccomp(simulate):
    simulate(landlock_abi_max=5)
    async with Sandbox("x", on_call=no_calls, limits=FAST) as box:
        assert box.isolation["landlock"].startswith("abi 5"), box.isolation
        assert "signals and unix sockets left to seccomp" in box.isolation["landlock"]


async def test_old_landlock_abi_rt_sigqueueinfo_to_a_bystander(simulate, bystander):
    simulate(landlock_abi_max=5)
    code = (
        "import ctypes\n"
        "info = (ctypes.c_int * 32)(15, 0, -1)  # si_signo=SIGTERM, si_code=SI_QUEUE\n"
        "libc = ctypes.CDLL(None)\n"
        f"rc1 = libc.syscall(129, {bystander.pid}, 15, info)\n"
        f"rc2 = libc.syscall(297, {bystander.pid}, {bystander.pid}, 15, info)\n"
        "assert rc1 == 0 or rc2 == 0, (rc1, rc2)"
    )
    blocked(await attack(code), "AssertionError")


async def test_old_landlock_abi_fcntl_setown_to_hetflow(simulate):
    simulate(landlock_abi_max=5)
    hetflow_pid = os.getpid()
    for cmd, arg in ((8, hetflow_pid), (10, 9), (15, 0)):  # F_SETOWN, F_SETSIG, F_SETOWN_EX
        code = f"import fcntl, os\nr, w = os.pipe()\nfcntl.fcntl(r, {cmd}, {arg})"
        blocked(await attack(code), "PermissionError")
    os.kill(hetflow_pid, 0)


async def test_old_landlock_abi_kill_a_bystander(simulate, bystander):
    simulate(landlock_abi_max=5)
    blocked(await attack(f"import os; os.kill({bystander.pid}, 15)"), "PermissionError")


async def test_old_landlock_abi_pathname_unix_socket(simulate):
    import tempfile

    simulate(landlock_abi_max=5)
    with tempfile.TemporaryDirectory() as where:
        path = os.path.join(where, "s")
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        server.listen(1)
        server.setblocking(False)
        code = f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({path!r})"
        blocked(await attack(code), "PermissionError")
        with pytest.raises(BlockingIOError):
            server.accept()
        server.close()


async def test_weak_mode_without_seccomp_a_forked_daemon_dies_with_the_step(simulate):
    simulate(disabled=["seccomp"])
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
        "print('forked')"
    )
    async with Sandbox("x", on_call=no_calls, limits=dataclasses.replace(FAST, required=())) as box:
        r = await box.run_cell(code)
        assert r.output == "forked\n", r
        scratch = str(box.scratch_dir)
        assert len(_sandbox_pids(scratch)) >= 2, "the daemon should be running"
    deadline = time.monotonic() + 5
    while (left := _sandbox_pids(scratch)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "a process the model started outlived its step"


# -- issue 12: host denial of service through child REPLs ----------------------------


def _fan_out_model(n: int, peak: list[int]):
    """A root that asks for n child recursions at once; children note how many overlap."""
    import asyncio

    active = [0]

    async def model(level: int, messages: list[dict]) -> str:
        if level == 0:
            return (
                "```python\n"
                "try:\n"
                f"    FINAL(rlm_query_batched(['q'] * {n}, ['c'] * {n}))\n"
                "except Exception as e:\n"
                "    FINAL('refused: ' + str(e))\n"
                "```"
            )
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await asyncio.sleep(0.2)
        active[0] -= 1
        return "```python\nFINAL('ok')\n```"

    return model


async def test_a_batch_of_child_recursions_is_capped_in_concurrency():
    from hetflow.recurse import run_recursion

    peak = [0]
    limits = dataclasses.replace(FAST, max_sandboxes=3)
    result = await run_recursion(
        "t", "ctx", depth=2, call_model=_fan_out_model(10, peak), limits=limits
    )
    assert result.value == ["ok"] * 10
    assert peak[0] <= 3, f"{peak[0]} child sandboxes ran at once"


async def test_a_step_starts_a_bounded_number_of_child_recursions():
    from hetflow.recurse import run_recursion

    peak = [0]
    limits = dataclasses.replace(FAST, max_child_sandboxes=4)
    result = await run_recursion(
        "t", "ctx", depth=2, call_model=_fan_out_model(30, peak), limits=limits
    )
    assert isinstance(result.value, str) and result.value.startswith("refused: "), result.value
    assert "child REPLs" in result.value


async def test_watching_files_outside_with_inotify():
    code = "import ctypes; fd = ctypes.CDLL(None).inotify_init1(0); assert fd >= 0, fd"
    blocked(await attack(code), "AssertionError")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make another user's files")
def test_the_scratch_sweep_leaves_other_users_and_links_alone(tmp_path, monkeypatch):
    import tempfile

    from hetflow.recurse.sandbox import _sweep_dead_scratch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    theirs = tmp_path / "hetflow-sandbox-theirs"
    theirs.mkdir()
    (theirs / "f").write_text("x")
    Path(f"{theirs}.lock").write_text("1\n")
    for p in (theirs, Path(f"{theirs}.lock")):
        os.chown(p, 12345, 12345)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("x")
    (tmp_path / "hetflow-sandbox-link").symlink_to(victim)
    Path(tmp_path / "hetflow-sandbox-link.lock").symlink_to(tmp_path / "victim" / "keep")
    dead = tmp_path / "hetflow-sandbox-dead"
    dead.mkdir()
    Path(f"{dead}.lock").write_text("1\n")

    _sweep_dead_scratch(tmp_path)

    assert (theirs / "f").exists() and (victim / "keep").exists()
    assert not dead.exists() and not Path(f"{dead}.lock").exists()

"""Confine the current process before it runs model-written code.

This module runs INSIDE the sandbox child (``python -I -S``), so it imports only the
standard library (and, optionally, ``pyseccomp`` loaded by file path).  It is also
importable by the parent, which never calls :func:`confine` on itself.

The layers, each reported in the returned dict so a missing one is visible:

- ``rlimits``: address space, file size, open files, core dumps, CPU time.
- ``namespaces``: a new user + PID + network + IPC namespace, so no socket reaches any
  network (not even loopback) whatever the other layers say, and the REPL is PID 1 of
  its own PID namespace (everything it starts dies with it).
- ``landlock``: file access only to the standard library, shared libraries and the
  scratch directory; TCP bind/connect denied (ABI >= 4); signals and abstract UNIX
  sockets scoped to the sandbox (ABI >= 6).  Root's file permissions stop nothing,
  Landlock does.
- ``seccomp``: no fork, exec, sockets, ptrace, mounts, new namespaces or rlimit
  changes; no metadata changes (chmod, chown, utime, xattrs), which Landlock does not
  mediate; no signals to other processes by any route, whatever Landlock's ABI; the
  parent-death signal stays set.
- ``capabilities``: dropped (root inside the user namespace keeps none).

Why by hand and not the ``landlock`` PyPI binding: it only knows file-system rules
(ABI 1-3), while the network and signal scopes are what keep the child off the
parent's listener and the parent's pid.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import sys

# -- Landlock (include/uapi/linux/landlock.h) ---------------------------------------

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
_WRITE_TREE = (
    FS_WRITE_FILE
    | FS_READ_FILE
    | FS_READ_DIR
    | FS_REMOVE_DIR
    | FS_REMOVE_FILE
    | FS_MAKE_DIR
    | FS_MAKE_REG
    | FS_MAKE_SYM
    | FS_MAKE_FIFO
    | FS_REFER
    | FS_TRUNCATE
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is unavailable."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(int(abi), 0)


def _landlock(abi: int, read_paths: list[str], write_paths: list[str], rw_files: list[str]) -> str:
    if abi < 1:
        return "off: Landlock not available in this kernel"
    handled_fs = (1 << 13) - 1
    if abi >= 2:
        handled_fs |= FS_REFER
    if abi >= 3:
        handled_fs |= FS_TRUNCATE
    if abi >= 5:
        handled_fs |= FS_IOCTL_DEV
    attr = _RulesetAttr(handled_fs, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if fd < 0:
        return f"off: create_ruleset: {os.strerror(ctypes.get_errno())}"
    try:
        rules = [(p, _READ) for p in read_paths] + [(p, _WRITE_TREE) for p in write_paths]
        rules += [(p, FS_READ_FILE | FS_WRITE_FILE) for p in rw_files]
        for path, access in rules:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not os.path.isdir(path):  # files take file rights only
                    access &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE
                rule = _PathBeneath(access & handled_fs, pfd)
                if libc.syscall(_SYS_ADD_RULE, fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0):
                    return f"off: add_rule {path}: {os.strerror(ctypes.get_errno())}"
            finally:
                os.close(pfd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
            return f"off: no_new_privs: {os.strerror(ctypes.get_errno())}"
        if libc.syscall(_SYS_RESTRICT_SELF, fd, 0):
            return f"off: restrict_self: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(fd)
    # Say what this ABI leaves to the other layers, not only what it does.
    scopes = "fs, tcp" if abi >= 4 else "fs; tcp left to the namespaces and seccomp"
    if abi < 3:
        scopes += "; truncate left to seccomp"
    if abi >= 6:
        scopes += ", signals, abstract sockets"
    else:
        scopes += "; signals and unix sockets left to seccomp"
    return f"abi {abi} ({scopes})"


# -- namespaces ---------------------------------------------------------------------

_CLONE_NEWIPC = 0x08000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _namespaces(pid: bool) -> tuple[str, bool]:
    """Unshare user, PID, network and IPC namespaces; (status, whether a PID one was made)."""
    if not sys.platform.startswith("linux"):
        return "off: not Linux", False
    uid, gid = os.geteuid(), os.getegid()
    libc = _libc()
    base = _CLONE_NEWNET | _CLONE_NEWIPC
    pid_flag = _CLONE_NEWPID if pid else 0
    names = "pid, net, ipc" if pid else "net, ipc"
    missing = "" if pid else " (pid namespace: disabled)"
    if libc.unshare(_CLONE_NEWUSER | pid_flag | base) != 0:
        err = os.strerror(ctypes.get_errno())
        # Root without user namespaces can still take the others.
        if libc.unshare(pid_flag | base) != 0:
            return f"off: unshare: {err}", False
        return f"partial: {names} (user namespace refused: {err})", bool(pid_flag)
    try:  # keep our uid inside, so files in the scratch directory stay ours
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as e:
        return f"partial: user, {names} (uid map failed: {e.strerror})", bool(pid_flag)
    if missing:
        return f"partial: user, {names}{missing}", False
    return f"user, {names}", True


def _become_pid_one() -> None:
    """Fork into the new PID namespace; this process stays outside as a waiter.

    The child is PID 1 of the namespace: whatever the model's code starts there
    (when seccomp is off and fork is possible) is killed by the kernel when it ends.
    The child dies with this waiter (parent-death signal, which seccomp keeps set),
    and the waiter dies with hetflow.  The waiter keeps none of the protocol's pipes
    and exits the way the child did, so hetflow sees the child's end as before.
    """
    child = os.fork()
    if child == 0:
        _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        return
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    for signum in (signal.SIGINT, signal.SIGXCPU, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        killed_by = os.WTERMSIG(status)
        signal.signal(killed_by, signal.SIG_DFL)
        os.kill(os.getpid(), killed_by)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]


def _drop_capabilities() -> str:
    libc = _libc()
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        return f"off: capset: {os.strerror(ctypes.get_errno())}"
    return "dropped"


# -- seccomp ------------------------------------------------------------------------

_DENY = (
    "execve execveat fork vfork socket socketpair ptrace process_vm_readv "
    "process_vm_writev kcmp pidfd_open pidfd_getfd pidfd_send_signal mount umount2 "
    "move_mount open_tree fsopen fsmount fspick pivot_root chroot unshare setns "
    "setrlimit keyctl add_key request_key bpf perf_event_open userfaultfd "
    "io_uring_setup io_uring_enter io_uring_register init_module finit_module "
    "delete_module kexec_load kexec_file_load reboot swapon swapoff acct quotactl "
    "settimeofday clock_settime clock_adjtime adjtimex syslog personality mknod mknodat "
    "name_to_handle_at open_by_handle_at fanotify_init lookup_dcookie vhangup capset "
    # Metadata: Landlock does not mediate these, and the owner of a file (root, mapped
    # to itself in the user namespace) may change it anywhere.  Denied everywhere,
    # the scratch directory included: no cell needs them.
    "chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat utime utimes "
    "utimensat futimesat setxattr lsetxattr fsetxattr removexattr lremovexattr "
    "fremovexattr "
    # Watching files outside (what changes in /etc, when) is not a cell's business.
    "inotify_init inotify_init1 inotify_add_watch"
).split()
# x86_64 syscalls newer than some libseccomp name tables (so named by number):
# setxattrat, removexattrat, file_setattr (path-based metadata again).
_DENY_NUMBERS_X86_64 = {463: "setxattrat", 466: "removexattrat", 469: "file_setattr"}
_PR_SET_PDEATHSIG_ARG = 1
_F_SETOWN, _F_SETSIG, _F_SETOWN_EX = 8, 10, 15
# ioctls that change an inode's flags (append-only, no-dump...) or project id.
_FS_IOC_SETFLAGS = (0x40086602, 0x40046602, 0x401C5820, 0x40087602, 0x40047602)
_CLONE_THREAD = 0x00010000


def _load_pyseccomp(module_path: str | None):
    """Load pyseccomp by file path (``-I -S`` has no site-packages); None if missing."""
    if not module_path:
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("pyseccomp", module_path)
    if spec is None or spec.loader is None:
        return None
    try:
        sc = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sc)
    except (OSError, ImportError, AttributeError):
        return None
    return sc


def _seccomp(sc, landlock_abi: int) -> str:
    if sc is None:
        return "off: pyseccomp missing"
    try:
        f = sc.SyscallFilter(sc.ALLOW)
        eperm = sc.ERRNO(errno.EPERM)
        missing = []  # syscalls this architecture does not have (said in the status)
        for name in _DENY:
            try:
                f.add_rule(eperm, name)
            except (OSError, ValueError, RuntimeError):
                missing.append(name)
        # Threads are fine; a new process is not.  clone3 hides its flags in
        # memory seccomp cannot read, so it says ENOSYS and libc falls back to clone.
        f.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        f.add_rule(eperm, "prlimit64", sc.Arg(2, sc.NE, 0))
        if os.uname().machine == "x86_64":
            for number in _DENY_NUMBERS_X86_64:
                f.add_rule(eperm, number)
        # The parent-death signal is what ends the REPL with hetflow: keep it.
        f.add_rule(eperm, "prctl", sc.Arg(0, sc.EQ, _PR_SET_PDEATHSIG_ARG))
        # No signals to anyone else, whatever Landlock's ABI (signal scoping is ABI 6):
        # not by kill, not queued, not by asking the kernel to signal an fd's owner.
        pid = os.getpid()
        for name in ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
            f.add_rule(eperm, name, sc.Arg(0, sc.NE, pid))
        for cmd in (_F_SETOWN, _F_SETSIG, _F_SETOWN_EX):
            f.add_rule(eperm, "fcntl", sc.Arg(1, sc.EQ, cmd))
        for cmd in _FS_IOC_SETFLAGS:
            f.add_rule(eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, cmd))
        if landlock_abi < 3:  # Landlock cannot stop truncate(2) of a path before ABI 3
            f.add_rule(eperm, "truncate")
        # The CPU and wall limits speak through these two signals: keep their handlers.
        for signum in (signal.SIGXCPU, signal.SIGINT):
            f.add_rule(eperm, "rt_sigaction", sc.Arg(0, sc.EQ, signum))
        f.load()
    except (OSError, AttributeError, RuntimeError, ValueError) as e:
        return f"off: {e}"
    if missing:
        return "on (deny list; not on this architecture: " + ", ".join(missing) + ")"
    return "on (deny list)"


# -- rlimits ------------------------------------------------------------------------


def _rlimits(
    cpu_seconds: float, cpu_seconds_total: float, memory_mb: int, max_file_bytes: int
) -> str:
    # The soft limit (SIGXCPU) is per cell: the parent raises it before each cell.
    # The hard limit (SIGKILL) is for the process's life: nobody may raise it.
    cpu = max(1, int(cpu_seconds + 0.999))
    pairs = {
        resource.RLIMIT_CPU: (cpu, max(cpu + 2, int(cpu_seconds_total))),
        resource.RLIMIT_AS: (memory_mb << 20, memory_mb << 20),
        resource.RLIMIT_FSIZE: (max_file_bytes, max_file_bytes),
        resource.RLIMIT_NOFILE: (64, 64),
        resource.RLIMIT_CORE: (0, 0),
    }
    failed = []
    for which, value in pairs.items():
        try:
            resource.setrlimit(which, value)
        except (OSError, ValueError):
            failed.append(str(which))
    # A too-large write then fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return "on" if not failed else "partial: " + ", ".join(failed)


def read_paths() -> list[str]:
    """What the child may read: its standard library and the shared libraries."""
    paths = [p for p in sys.path if p]
    paths += ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"]
    paths += ["/etc/ld.so.cache", "/dev/urandom", "/dev/zero"]
    return [p for p in dict.fromkeys(paths) if os.path.exists(p)]


LAYERS = ("rlimits", "namespaces", "landlock", "capabilities", "seccomp")

# The process id hetflow sees for this process (in a PID namespace, getpid() says 1).
host_pid = os.getpid()


def confine(
    *,
    scratch: str,
    cpu_seconds: float,
    cpu_seconds_total: float,
    memory_mb: int,
    max_file_bytes: int,
    seccomp_module: str | None,
    disabled: tuple[str, ...] = (),
    landlock_abi_max: int | None = None,
) -> dict[str, str]:
    """Apply every layer to this process; return what each layer achieved.

    `disabled` and `landlock_abi_max` simulate a weaker host (tests of the refusal
    policy): a disabled layer is reported as off, the way a missing one is.
    """
    global host_pid
    off = "off: disabled (simulating a host without it)"
    status: dict[str, str] = {}
    parent = os.getppid()
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before we asked
        os._exit(1)
    sc = None if "seccomp" in disabled else _load_pyseccomp(seccomp_module)
    if "rlimits" in disabled:
        status["rlimits"] = off
    else:
        status["rlimits"] = _rlimits(cpu_seconds, cpu_seconds_total, memory_mb, max_file_bytes)
    if "namespaces" in disabled:
        status["namespaces"], pid_ns = off, False
    else:
        status["namespaces"], pid_ns = _namespaces(pid="pid" not in disabled)
    if pid_ns:
        _become_pid_one()
        host_pid = int(os.readlink("/proc/self"))  # /proc is still the host's
    abi = landlock_abi()
    if landlock_abi_max is not None:
        abi = min(abi, landlock_abi_max)
    if "landlock" in disabled:
        status["landlock"], abi = off, 0
    else:
        status["landlock"] = _landlock(abi, read_paths(), [scratch], ["/dev/null"])
        if _is_off(status["landlock"]):
            abi = 0
    status["capabilities"] = off if "capabilities" in disabled else _drop_capabilities()
    # seccomp needs no_new_privs even where Landlock is missing.
    _libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    status["seccomp"] = off if "seccomp" in disabled else _seccomp(sc, abi)
    return status


def _is_off(status: str) -> bool:
    return status.startswith(("off", "partial"))

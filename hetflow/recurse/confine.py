"""Confine the current process before it runs model-written code.

This module runs INSIDE the sandbox child (``python -I -S``), so it imports only the
standard library (and, optionally, ``pyseccomp`` loaded by file path).  It is also
importable by the parent, which never calls :func:`confine` on itself.

The layers, each reported in the returned dict so a missing one is visible:

- ``rlimits``: address space, file size, open files, core dumps, CPU time.
- ``namespaces``: a new user + network + IPC namespace, so no socket reaches any
  network (not even loopback) whatever the other layers say.
- ``landlock``: file access only to the standard library, shared libraries and the
  scratch directory; TCP bind/connect denied (ABI >= 4); signals and abstract UNIX
  sockets scoped to the sandbox (ABI >= 6).  Root's file permissions stop nothing,
  Landlock does.
- ``seccomp``: no fork, exec, sockets, ptrace, mounts, new namespaces or rlimit
  changes, and no signals to other processes.
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


def _landlock(read_paths: list[str], write_paths: list[str], rw_files: list[str]) -> str:
    abi = landlock_abi()
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
    scopes = "fs, tcp" if abi >= 4 else "fs only"
    scopes += ", signals, abstract sockets" if abi >= 6 else ""
    return f"abi {abi} ({scopes})"


# -- namespaces ---------------------------------------------------------------------

_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _namespaces() -> str:
    if not sys.platform.startswith("linux"):
        return "off: not Linux"
    uid, gid = os.geteuid(), os.getegid()
    libc = _libc()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWIPC) != 0:
        err = ctypes.get_errno()
        # Root without user namespaces can still take a network namespace.
        if libc.unshare(_CLONE_NEWNET | _CLONE_NEWIPC) != 0:
            return f"off: unshare: {os.strerror(err)}"
        return "net, ipc (user namespace refused: " + os.strerror(err) + ")"
    try:  # keep our uid inside, so files in the scratch directory stay ours
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as e:
        return f"user, net, ipc (uid map failed: {e.strerror})"
    return "user, net, ipc"


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
    "name_to_handle_at open_by_handle_at fanotify_init lookup_dcookie vhangup capset"
).split()
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


def _seccomp(sc) -> str:
    if sc is None:
        return "off: pyseccomp missing"
    try:
        f = sc.SyscallFilter(sc.ALLOW)
        eperm = sc.ERRNO(errno.EPERM)
        for name in _DENY:
            try:
                f.add_rule(eperm, name)
            except (OSError, ValueError, RuntimeError):
                pass  # a syscall this architecture does not have
        # Threads are fine; a new process is not.  clone3 hides its flags in
        # memory seccomp cannot read, so it says ENOSYS and libc falls back to clone.
        f.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        f.add_rule(eperm, "prlimit64", sc.Arg(2, sc.NE, 0))
        pid = os.getpid()
        for name in ("kill", "tkill", "tgkill"):
            f.add_rule(eperm, name, sc.Arg(0, sc.NE, pid))
        # The CPU and wall limits speak through these two signals: keep their handlers.
        for signum in (signal.SIGXCPU, signal.SIGINT):
            f.add_rule(eperm, "rt_sigaction", sc.Arg(0, sc.EQ, signum))
        f.load()
    except (OSError, AttributeError, RuntimeError, ValueError) as e:
        return f"off: {e}"
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


def confine(
    *,
    scratch: str,
    cpu_seconds: float,
    cpu_seconds_total: float,
    memory_mb: int,
    max_file_bytes: int,
    seccomp_module: str | None,
) -> dict[str, str]:
    """Apply every layer to this process; return what each layer achieved."""
    status: dict[str, str] = {}
    parent = os.getppid()
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before we asked
        os._exit(1)
    sc = _load_pyseccomp(seccomp_module)  # before Landlock hides site-packages
    status["rlimits"] = _rlimits(cpu_seconds, cpu_seconds_total, memory_mb, max_file_bytes)
    status["namespaces"] = _namespaces()
    status["landlock"] = _landlock(read_paths(), [scratch], ["/dev/null"])
    status["capabilities"] = _drop_capabilities()
    # seccomp needs no_new_privs even where Landlock is missing.
    _libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    status["seccomp"] = _seccomp(sc)
    return status

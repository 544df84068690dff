"""The kernel that runs a learner's notebook during grading, fenced in with what Linux offers.

nbgrader starts this module as the kernel's command (the ``course-sandbox`` kernel spec
names it). Three processes make up the sandbox:

``launcher`` (this module, as started by nbgrader)
    enters new mount, network and PID namespaces (and a user namespace when not root),
    then waits for the init process and leaves with its status. nbgrader's signals reach
    the whole process group, kernel included.
``init`` (PID 1 of the new PID namespace)
    builds the kernel's view of the file system and starts the kernel. It reaps every
    process of the namespace and, when the kernel ends, kills whatever the kernel left
    (daemons, ``setsid`` children): PID 1 leaving takes the whole namespace with it. It
    dies with the launcher (``PR_SET_PDEATHSIG``).
``kernel``
    an ordinary IPython kernel, run as an unprivileged user of its own (as root: the uid
    the grader gives each student slot, never 0), with resource limits (address space,
    CPU seconds, file size, processes, no core dumps), no capabilities and
    ``no_new_privs``.

What the kernel sees (the new root, built on an in-memory file system, then
``pivot_root``): the system's programs and libraries (``/usr``, ``/etc``), the Python
installation and its packages, the ``course`` package, all read-only; its working
folder, home, ``/tmp`` and ``/dev/shm`` as small private in-memory file systems; a few
device nodes; a ``/proc`` of its own PID namespace with ``/proc/sys`` read-only; a
read-only ``/sys`` without the cgroup file system. No repository, no version-control
data, no other checkout, no gradebook, no submissions, no other student. The network
namespace has no interface up; the kernel talks to nbgrader over Unix sockets (ZeroMQ's
``ipc`` transport) in the one real folder it is given, ``home/ipc``.

Where the machine allows no namespaces at all, the kernel runs with the resource limits
only and says so on stderr and in ``SANDBOX_REPORT``. Once in the namespaces, any fence
that fails stops the kernel instead (fail closed): the notebook is then graded as an
error. The settings travel in an environment variable set by the grader (the kernel's
command line is fixed by ``kernel.json``).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys

ENV_SETTINGS = "AUTOGRADER_SANDBOX"
"""JSON: memory_mb, cpu_seconds, processes, uid, home, needed (read-only paths), scratch_mb, started."""
REFUSAL = "autograder sandbox: refusing to run the notebook: "
DEFAULT_UID = 65534            # "nobody", when the grader names no uid

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS = 1, 24, 28, 38
SECURE_NOROOT_AND_NO_SETUID_FIXUP_LOCKED = 0x0F
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SYSTEM_PATHS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")
NEW_ROOT = "/run/autograder-root"    # inside the private mount namespace only

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(OSError):
    pass


def _call(what: str, result: int) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else str(s).encode()  # noqa: E731
    _call(f"mount {target}", _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)))


def _limit(kind: int, value: int) -> None:
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


# -- the launcher --------------------------------------------------------------------------

def _enter_namespaces() -> str:
    """New mount, network and PID namespaces (the PID one holds the children to come)."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID
    if os.geteuid() == 0:
        _call("unshare", _libc.unshare(flags))
        return "mount, network and PID namespaces"
    uid, gid = os.geteuid(), os.getegid()
    _call("unshare", _libc.unshare(CLONE_NEWUSER | flags))
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    return "user, mount, network and PID namespaces"


def _wait_status(status: int) -> int:
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


# -- init: the kernel's view of the file system ----------------------------------------------

def _inside(path: str) -> str:
    return NEW_ROOT + os.path.realpath(path)


def _bind_read_only(path: str) -> None:
    """``path`` at the same place in the new root, read-only (a symbolic link stays one)."""
    target = NEW_ROOT + path
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    real = os.path.realpath(path)
    target = _inside(real)
    if os.path.isdir(real):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(real, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID
    try:
        _mount(None, target, None, flags | MS_NODEV)
    except SandboxError:   # a mount that must keep exec (or dev) as it was: still read-only
        _mount(None, target, None, flags)


def _tmpfs(path: str, size_mb: int, mode: int, uid: int, gid: int) -> None:
    os.makedirs(path, exist_ok=True)
    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={size_mb}m,mode={mode:o},uid={uid},gid={gid},nr_inodes=65536")


def _build_root(settings: dict, uid: int, gid: int) -> None:
    """Mount the kernel's file system below NEW_ROOT and make it the root."""
    cwd, home = os.path.realpath(os.getcwd()), os.path.realpath(settings["home"])
    scratch = int(settings.get("scratch_mb", 128))     # below the file size limit: a full disk says so
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    os.makedirs(NEW_ROOT, exist_ok=True)
    _mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    # first the private /tmp: the installation, the course, cwd and home may all lie below it
    _tmpfs(NEW_ROOT + "/tmp", scratch, 0o1777, 0, 0)
    for path in [p for p in SYSTEM_PATHS if os.path.lexists(p)] + \
            [sys.base_prefix, sys.prefix, *settings.get("needed", [])]:
        _bind_read_only(path)
    # the learner's places: small, private, in memory
    _tmpfs(_inside(cwd), scratch, 0o700, uid, gid)
    _tmpfs(_inside(home), 64, 0o700, uid, gid)
    ipc = os.path.join(home, "ipc")      # the one real folder: the sockets nbgrader connects to
    os.makedirs(_inside(ipc), exist_ok=True)
    _mount(ipc, _inside(ipc), None, MS_BIND)
    os.makedirs(NEW_ROOT + "/dev", exist_ok=True)
    for name in DEVICES:
        open(f"{NEW_ROOT}/dev/{name}", "a").close()
        _mount(f"/dev/{name}", f"{NEW_ROOT}/dev/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{NEW_ROOT}/dev/{name}")
    _tmpfs(NEW_ROOT + "/dev/shm", 64, 0o1777, 0, 0)
    os.makedirs(NEW_ROOT + "/sys", exist_ok=True)
    _mount("sysfs", NEW_ROOT + "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(NEW_ROOT + "/proc", exist_ok=True)
    _mount("proc", NEW_ROOT + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount(NEW_ROOT + "/proc/sys", NEW_ROOT + "/proc/sys", None, MS_BIND)
    _mount(None, NEW_ROOT + "/proc/sys", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    old = NEW_ROOT + "/.old-root"
    os.makedirs(old)
    _call("pivot_root", _libc.syscall(155, NEW_ROOT.encode(), old.encode()))   # SYS_pivot_root (x86_64)
    os.chdir("/")
    _call("umount old root", _libc.umount2(b"/.old-root", MNT_DETACH))
    os.rmdir("/.old-root")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(cwd)


def _drop_capabilities() -> None:
    _libc.prctl(PR_SET_SECUREBITS, SECURE_NOROOT_AND_NO_SETUID_FIXUP_LOCKED, 0, 0, 0)
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    _call("capset", _libc.capset(ctypes.byref(Header(LINUX_CAPABILITY_VERSION_3, 0)), (Data * 2)()))


def _become_learner(uid: int, gid: int) -> None:
    """As root: the student slot's own uid and gid, no groups. Otherwise: no capabilities."""
    if os.geteuid() == 0 and uid != 0 and _is_init_user_namespace():
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)     # from root to a user: every capability is cleared
    _drop_capabilities()
    _call("no_new_privs", _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    if os.geteuid() == 0 and _is_init_user_namespace():
        raise SandboxError(1, "the kernel would run as root")


def _is_init_user_namespace() -> bool:
    with open("/proc/self/uid_map") as f:
        return f.read().split() == ["0", "0", "4294967295"]


def _set_limits(settings: dict, report: dict) -> None:
    memory_mb, cpu_seconds = int(settings.get("memory_mb", 4096)), int(settings.get("cpu_seconds", 900))
    processes = int(settings.get("processes", 256))
    for name, kind, value in ((f"memory limit {memory_mb} MB", resource.RLIMIT_AS, memory_mb * 2**20),
                              (f"CPU limit {cpu_seconds} s", resource.RLIMIT_CPU, cpu_seconds),
                              ("file size limit 256 MB", resource.RLIMIT_FSIZE, 256 * 2**20),
                              (f"process limit {processes}", resource.RLIMIT_NPROC, processes),
                              ("no core dumps", resource.RLIMIT_CORE, 0)):
        try:
            _limit(kind, value)
            report["applied"].append(name)
        except (OSError, ValueError) as err:
            report["not applied"].append(f"{name} ({err})")


def _init(settings: dict, argv: list[str], report: dict) -> None:
    """PID 1 of the sandbox: build the view, start the kernel, reap, and clean up after it."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    uid = int(settings.get("uid", DEFAULT_UID))
    try:
        if os.geteuid() != 0 or not _is_init_user_namespace():
            uid = os.geteuid()   # in a user namespace: the one mapped uid
        _build_root(settings, uid, uid)
        report["applied"].append("private file system view")
    except (OSError, ValueError, KeyError) as err:
        print(REFUSAL + f"file system view ({err})", file=sys.stderr, flush=True)
        os._exit(70)
    kernel = os.fork()
    if kernel == 0:
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _set_limits(settings, report)
            _become_learner(uid, uid)
            report["applied"].append(f"unprivileged (uid {os.geteuid()}), no capabilities, no_new_privs")
            home = os.path.realpath(settings["home"])
            # ipykernel would watch for its parent's pid, which this PID namespace cannot see;
            # the kernel dies with the launcher anyway (init's PR_SET_PDEATHSIG)
            os.environ.pop("JPY_PARENT_PID", None)
            os.environ.update(HOME=home, TMPDIR="/tmp", IPYTHONDIR=os.path.join(home, ".ipython"),
                              MPLCONFIGDIR=os.path.join(home, ".matplotlib"),
                              SANDBOX_REPORT=json.dumps(report))
            os.execv(argv[0], argv)
        except BaseException as err:   # noqa: BLE001 - whatever failed, the kernel must not start
            print(REFUSAL + f"dropping privileges ({err})", file=sys.stderr, flush=True)
        os._exit(70)
    code = 70
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        if pid == kernel:
            code = _wait_status(status)
            try:
                os.kill(-1, signal.SIGKILL)     # everything the kernel left in the namespace
            except ProcessLookupError:
                pass
    os._exit(code)


def run_sandboxed(settings: dict, argv: list[str]) -> None:
    """Start ``argv`` (the kernel) inside the sandbox; return never (this process exits)."""
    report: dict[str, list[str]] = {"applied": [], "not applied": []}
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # an interrupt is for the kernel (its process group)
    try:
        report["applied"].append(_enter_namespaces())
    except (OSError, ValueError) as err:
        report["not applied"].append(f"namespaces ({err})")
        _set_limits(settings, report)
        print(f"autograder sandbox: not applied: {'; '.join(report['not applied'])}", file=sys.stderr)
        os.environ["SANDBOX_REPORT"] = json.dumps(report)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execv(argv[0], argv)
    init = os.fork()
    if init == 0:
        _init(settings, argv, report)
    while True:
        try:
            _, status = os.waitpid(init, 0)
            break
        except InterruptedError:  # pragma: no cover
            continue
    os._exit(_wait_status(status))


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit("usage: python -m autograder.sandbox CONNECTION_FILE")
    settings = json.loads(os.environ.pop(ENV_SETTINGS, "{}"))
    connection_file = argv[1]
    if settings.get("started"):     # where the grader checks that its kernels were this one
        with open(settings["started"], "a") as f:
            f.write(f"{os.getpid()}\n")
    if settings.get("home"):
        # the connection file lives where the kernel cannot look: a copy in its socket folder
        ipc = os.path.join(settings["home"], "ipc")
        copy = os.path.join(ipc, "kernel-connection.json")
        with open(connection_file) as src, open(copy, "w") as dst:
            dst.write(src.read())
        if os.geteuid() == 0:
            uid = int(settings.get("uid", DEFAULT_UID))
            for path in (ipc, copy):
                os.chown(path, uid, uid)
        os.chmod(copy, 0o600)
        connection_file = copy
    run_sandboxed(settings, [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file,
                             "--HistoryManager.hist_file=:memory:"])


if __name__ == "__main__":
    main(sys.argv)

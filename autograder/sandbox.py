"""The kernel that runs a learner's notebook during grading, fenced in with what Linux offers.

nbgrader starts this module as the kernel's command (the ``course-sandbox`` kernel spec
names it). Before it becomes an ordinary IPython kernel it

1. sets resource limits: address space (a memory bomb raises ``MemoryError``), CPU
   seconds, file size, no core dumps;
2. enters new mount and network namespaces (a user namespace too when not root). The
   network namespace has no interface up, so nothing, not even loopback, is reachable;
   the kernel talks to nbgrader over Unix sockets (ZeroMQ's ``ipc`` transport);
3. hides what the learner must not see: the grader's gradebook, the source notebooks
   (solutions, hidden tests), the submissions folder, the output folder and the other
   students' folders are covered by empty, inaccessible file systems;
4. makes every other file system read-only, except its own working folder and home;
5. drops every capability and sets ``no_new_privs``, so none of the above can be undone.

No Docker, no setuid helper: a separate *user* cannot work where the Python
interpreter lives in a private home (``/root/.pyenv`` here). Where the machine allows
no namespaces at all, the kernel runs with the resource limits only and says so on
stderr and in ``SANDBOX_REPORT``. Once in the namespaces, any fence that fails stops
the kernel instead (fail closed): the notebook is then graded as an error.

The settings travel in environment variables set by the grader (the kernel's command
line is fixed by ``kernel.json``).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

ENV_SETTINGS = "AUTOGRADER_SANDBOX"  # JSON: memory_mb, cpu_seconds, hide, writable, home

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS = 24, 28, 38
SECURE_NOROOT_AND_NO_SETUID_FIXUP_LOCKED = 0x0F
LINUX_CAPABILITY_VERSION_3 = 0x20080522
# mount flags that an unprivileged remount must keep
_KEPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
_LEAVE_WRITABLE = ("/proc", "/sys", "/dev")

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


def _enter_namespaces() -> str:
    if os.geteuid() == 0:
        _call("unshare", _libc.unshare(CLONE_NEWNS | CLONE_NEWNET))
        return "mount and network namespaces"
    uid, gid = os.geteuid(), os.getegid()
    _call("unshare", _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET))
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{gid} {gid} 1")
    return "user, mount and network namespaces"


def _mount_points() -> list[tuple[str, set[str]]]:
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            path = fields[4].encode().decode("unicode_escape")
            points.append((path, set(fields[5].split(","))))
    return points


def _hide(path: str) -> None:
    if os.path.isdir(path):
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000")
    elif os.path.exists(path):
        _mount("/dev/null", path, None, MS_BIND)


def _hide_all_but(root: str, keep: list[str]) -> int:
    """Hide every entry below ``root`` that is neither kept nor on the way to something kept.

    This covers what nobody listed: other gradings' leftovers in the temp folder, other
    users' files. Returns how many entries were hidden.
    """
    keep = [os.path.realpath(k) for k in keep]
    hidden = 0

    def walk(folder: str) -> None:
        nonlocal hidden
        for entry in os.scandir(folder):
            path = entry.path
            if path in keep or entry.is_symlink():
                continue
            if any(k.startswith(path + os.sep) for k in keep):
                walk(path)
            elif entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False):
                _hide(path)   # sockets and pipes hold no data to hide
                hidden += 1

    walk(os.path.realpath(root))
    return hidden


def _read_only_except(writable: list[str]) -> None:
    for path in writable:  # separate mounts, left writable below
        _mount(path, path, None, MS_BIND | MS_REC)
    writable = {os.path.realpath(p) for p in writable}
    for path, options in _mount_points():
        if path in writable or path.startswith(_LEAVE_WRITABLE) or "ro" in options:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for name, flag in _KEPT_FLAGS.items():
            if name in options:
                flags |= flag
        try:
            _mount(None, path, None, flags)
        except SandboxError:
            if path == "/":
                raise
            # a mount we cannot touch (e.g. locked by the container) stays as it is
    # the working folder was entered before its writable mount covered it: enter it again
    os.chdir(os.getcwd())


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
    _call("no_new_privs", _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))


def enter_sandbox(settings: dict) -> dict[str, list[str]]:
    """Apply every fence in ``settings``; return what was applied and what could not be."""
    report: dict[str, list[str]] = {"applied": [], "not applied": []}

    def step(name: str, action) -> bool:
        try:
            action()
        except (OSError, ValueError) as err:
            report["not applied"].append(f"{name} ({err})")
            return False
        report["applied"].append(name)
        return True

    memory_mb, cpu_seconds = int(settings.get("memory_mb", 4096)), int(settings.get("cpu_seconds", 900))
    step(f"memory limit {memory_mb} MB", lambda: _limit(resource.RLIMIT_AS, memory_mb * 2**20))
    step(f"CPU limit {cpu_seconds} s", lambda: _limit(resource.RLIMIT_CPU, cpu_seconds))
    step("file size limit 256 MB", lambda: _limit(resource.RLIMIT_FSIZE, 256 * 2**20))
    step("no core dumps", lambda: _limit(resource.RLIMIT_CORE, 0))
    if step("namespaces (no network)", _enter_namespaces):
        # the kernel starts in the folder of the notebook it runs; nbgrader keeps that notebook,
        # hidden tests included, there: the kernel never needs the file (code comes by socket)
        cwd = os.getcwd()
        graded = [os.path.join(cwd, f) for f in os.listdir(cwd) if f.endswith(".ipynb")]
        hidden = [p for p in [*settings.get("hide", []), *graded] if os.path.exists(p)]
        writable = [*settings.get("writable", []), cwd]
        needed = writable + [sys.prefix, sys.base_prefix, *settings.get("needed", [])]
        fences = [("private mounts", lambda: _mount(None, "/", None, MS_REC | MS_PRIVATE)),
                  (f"grader files hidden ({len(hidden)})", lambda: [_hide(p) for p in hidden]),
                  *[(f"everything else in {root} hidden", lambda root=root: _hide_all_but(root, needed))
                    for root in settings.get("hide_all_but_needed", [])],
                  ("read-only file systems", lambda: _read_only_except(writable)),
                  ("capabilities dropped", _drop_capabilities)]
        for name, action in fences:
            if not step(name, action):
                sys.exit(f"autograder sandbox: refusing to run the notebook: {report['not applied'][-1]}")
    home = settings.get("home")
    if home:
        os.environ.update(HOME=home, TMPDIR=home, IPYTHONDIR=os.path.join(home, ".ipython"),
                          MPLCONFIGDIR=os.path.join(home, ".matplotlib"))
    if report["not applied"]:
        print(f"autograder sandbox: not applied: {'; '.join(report['not applied'])}", file=sys.stderr)
    return report


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit("usage: python -m autograder.sandbox CONNECTION_FILE")
    settings = json.loads(os.environ.pop(ENV_SETTINGS, "{}"))
    connection_file = argv[1]
    if settings.get("home"):
        # the connection file may live where the sandbox hides: keep a copy in the kernel's home
        copy = os.path.join(settings["home"], "kernel-connection.json")
        with open(connection_file) as src, open(copy, "w") as dst:
            dst.write(src.read())
        connection_file = copy
    report = enter_sandbox(settings)
    os.environ["SANDBOX_REPORT"] = json.dumps(report)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file,
                              "--HistoryManager.hist_file=:memory:"])


if __name__ == "__main__":
    main(sys.argv)

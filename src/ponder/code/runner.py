"""The child side of the sandbox: run one program and its tests in this (already isolated) process.

``ponder.code.sandbox`` starts a fresh interpreter with ``-c`` and this file's source; it is never imported
by ponder itself and uses the standard library only. It reads a JSON payload from stdin
(``{"code", "tests", "start", "limits"}``), then, before running any untrusted code:

- sets resource limits: CPU seconds (RLIMIT_CPU), address space (RLIMIT_AS), file size (RLIMIT_FSIZE),
  open files (RLIMIT_NOFILE), processes (RLIMIT_NPROC; the kernel ignores it for root), no core dumps;
- points stdout at /dev/null and keeps a private duplicate of the original stdout as the result channel;
- installs an audit hook (PEP 578) that refuses: process creation (fork, exec, spawn, system, subprocess),
  signals to other processes, sockets and DNS, ctypes, changing rlimits, walking the interpreter's objects
  (``gc.get_objects``/referrers) or other threads' frames, opening a directory outside the sandbox (its fd
  would let ``dir_fd`` calls reach outside), and any file write, create, delete, rename, link, mode change or
  SQLite database outside the sandbox's temporary directory; ``mkfifo``/``mknod`` are removed.

It then runs the program once and each test in turn (from ``start``), writing one JSON line per event to
the channel: ``{"setup": ...}`` after the program, ``{"start": i}`` before test i and ``{"index": i,
"passed": ..., "error": ..., "value": ...}`` after it. A test that is a single expression reports the
``repr`` of its value (for clustering candidates by behaviour). Audit hooks cannot be removed, but they
are not a security boundary against a determined attacker: code running in this interpreter can reach the
runner's frames (``sys._getframe(1).f_locals``: the tests, the channel) and forge results; the parent
adds namespaces where it can. Grade adversarial code in a container or VM.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

_MAX_TEXT = 2000
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_BLOCKED = {
    "os.fork": "creating processes",
    "os.forkpty": "creating processes",
    "os.system": "running shell commands",
    "os.exec": "executing programs",
    "os.posix_spawn": "creating processes",
    "os.spawn": "creating processes",
    "subprocess.Popen": "creating processes",
    "os.kill": "signalling processes",
    "os.killpg": "signalling processes",
    "signal.pthread_kill": "signalling processes",
    "socket.__new__": "network access",
    "socket.getaddrinfo": "network access",
    "socket.gethostbyname": "network access",
    "ctypes.dlopen": "loading native code (ctypes)",
    "ctypes.dlsym": "loading native code (ctypes)",
    "resource.setrlimit": "changing resource limits",
    "resource.prlimit": "changing resource limits",
    "gc.get_objects": "walking the interpreter's objects",
    "gc.get_referrers": "walking the interpreter's objects",
    "gc.get_referents": "walking the interpreter's objects",
    "sys._current_frames": "reading other threads' frames",
}
_BLOCKED_IMPORTS = {"_posixsubprocess", "_ctypes", "_socket", "socket", "_multiprocessing"}
_PATH_EVENTS = {
    "os.remove": 1,
    "os.rmdir": 1,
    "os.mkdir": 1,
    "os.chmod": 1,
    "os.chown": 1,
    "os.truncate": 1,
    "os.utime": 1,
    "shutil.rmtree": 1,
    "os.rename": 2,
    "os.link": 2,
    "os.symlink": 2,
    "sqlite3.connect": 1,
}
"""Events whose first one or two arguments are paths that must lie inside the sandbox directory."""


def _inside(root: str, path: Any) -> bool:
    """Whether ``path`` (str, bytes or a file descriptor) resolves to a place inside ``root``."""
    if isinstance(path, int):
        return True
    resolved = os.path.realpath(os.fsdecode(path))
    return resolved == root or resolved.startswith(root + os.sep)


def _check_open(root: str, path: Any, mode: Any, flags: Any) -> None:
    """Refuse opening for writing, or opening a directory (whose fd ``dir_fd`` calls would resolve against),
    outside ``root``."""
    if path is None or _inside(root, path):
        return
    writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        isinstance(flags, int) and flags & _WRITE_FLAGS
    )
    if writes:
        raise PermissionError(f"sandbox: writing {os.fsdecode(path)!r} outside the sandbox directory")
    if os.path.isdir(os.fsdecode(path)):
        raise PermissionError(f"sandbox: opening directory {os.fsdecode(path)!r} outside the sandbox is not allowed")


def _make_hook(root: str) -> Any:
    """The audit hook enforcing the sandbox's rules; it raises PermissionError naming the refused event."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in _BLOCKED:
            raise PermissionError(f"sandbox: {_BLOCKED[event]} is not allowed ({event})")
        if event == "import" and args and args[0] in _BLOCKED_IMPORTS:
            raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
        if event == "open" and len(args) >= 3:
            _check_open(root, *args[:3])
        count = _PATH_EVENTS.get(event)
        if count is not None:
            for path in args[:count]:
                if path is not None and not _inside(root, path):
                    raise PermissionError(f"sandbox: {event} on {os.fsdecode(path)!r} outside the sandbox directory")

    return hook


def _set_limits(limits: dict[str, int]) -> None:
    """Apply resource limits (soft = hard, except CPU whose hard limit is one second later, so SIGXCPU comes
    first)."""
    import resource

    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    for name, key in (("RLIMIT_AS", "memory_bytes"), ("RLIMIT_FSIZE", "file_bytes"), ("RLIMIT_NOFILE", "files")):
        resource.setrlimit(getattr(resource, name), (limits[key], limits[key]))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _disable_special_files() -> None:
    """Remove ``mkfifo`` / ``mknod`` (they raise no audit event) from ``os`` and ``posix``."""
    import posix

    def refused(*args: Any, **kwargs: Any) -> None:
        raise PermissionError("sandbox: creating special files is not allowed")

    for module in (os, posix):
        for name in ("mkfifo", "mknod"):
            if hasattr(module, name):
                setattr(module, name, refused)


def _emit(channel: Any, record: dict[str, Any]) -> None:
    channel.write("\n" + json.dumps(record) + "\n")  # on a line of its own, whatever was written before
    channel.flush()


def _describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, cut to a readable length."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_TEXT]


def _run_test(source: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run one test; an expression reports its value's repr."""
    try:
        try:
            compiled = compile(source, "<test>", "eval")
        except SyntaxError:
            exec(compile(source, "<test>", "exec"), namespace)
            return {"passed": True}
        value = eval(compiled, namespace)
        return {"passed": True, "value": repr(value)[:_MAX_TEXT]}
    except BaseException as exc:  # a test may raise anything, SystemExit included
        return {"passed": False, "error": _describe(exc)}


def main() -> None:
    """Read the payload, lock the process down, run the program and its tests, report on the channel."""
    payload = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    _set_limits(payload["limits"])
    root = os.path.realpath(os.getcwd())
    _disable_special_files()
    sys.addaudithook(_make_hook(root))
    namespace: dict[str, Any] = {"__name__": "__sandbox__", "__builtins__": __builtins__}
    try:
        exec(compile(payload["code"], "<program>", "exec"), namespace)
    except BaseException as exc:
        _emit(channel, {"setup": False, "error": _describe(exc)})
        return
    _emit(channel, {"setup": True})
    for index in range(payload["start"], len(payload["tests"])):
        _emit(channel, {"start": index})
        _emit(channel, {"index": index, **_run_test(payload["tests"][index], namespace)})


if __name__ == "__main__":
    main()

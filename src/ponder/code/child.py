"""Process plumbing of the sandbox: the child's environment, namespaces, killing it, why it died."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys

__all__ = ["crash_reason", "kill_group", "namespace_prefix", "scrubbed_env"]

NAMESPACE_FLAGS = ("--net", "--pid", "--fork", "--kill-child")


def crash_reason(returncode: int | None, stderr: str) -> str:
    """A readable reason for a child that died in the middle of a test."""
    code = returncode or 0
    signum = -code if code < 0 else code - 128 if code > 128 else 0
    if signum == signal.SIGXCPU:
        return "CPU time limit exceeded"
    if signum == signal.SIGKILL:
        return "killed (SIGKILL; memory or CPU limit)"
    tail = stderr.strip().splitlines()[-1:] if stderr.strip() else []
    detail = f": {tail[0][:300]}" if tail else ""
    return f"the process exited during the test (status {code}){detail}"


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole session (it is its own process group) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def scrubbed_env(workdir: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
    }


def namespace_prefix() -> list[str]:
    """``unshare`` flags giving fresh network and PID namespaces when that works here, else []."""
    tool = shutil.which("unshare")
    if tool is None or not sys.platform.startswith("linux"):
        return []
    for extra in ([], ["--user", "--map-root-user"]):
        prefix = [tool, *extra, *NAMESPACE_FLAGS]
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    return []

"""Run untrusted Python (model-written code) against tests in a locked-down subprocess.

``Sandbox.run(code, tests)`` starts a fresh interpreter in a new session, in an empty temporary directory,
with a scrubbed environment (``PATH``, ``HOME`` = the directory, ``LANG``, ``PYTHONHASHSEED=0``), no site
packages and no stdin. The program runs once, then each test; the result is one ``TestOutcome`` per test.
What is enforced, and how:

- wall time: each test (and the program itself) gets ``Limits.timeout`` seconds; past it the whole process
  group is killed, the test is reported ``timed_out`` and a new process runs the remaining tests;
- CPU time, memory (address space), file size, open files: rlimits set in the child (``runner.py``);
  a memory bomb gets a MemoryError, a busy loop SIGXCPU if the wall clock has not stopped it first;
- processes: the child's audit hook refuses fork / exec / spawn / system / subprocess and signals to
  other processes; RLIMIT_NPROC backs this up for non-root users (the kernel ignores it for root);
- network: the audit hook refuses sockets and DNS lookups; where ``unshare`` works (root, or unprivileged
  user namespaces) the child also runs in fresh network and PID namespaces, so it has no network
  interface but loopback, cannot see host processes, and everything it started dies with it;
- files: the audit hook refuses writes, deletions, renames, links and mode changes outside the temporary
  directory (resolved paths, so ``..`` and symlinks do not help); the directory is removed afterwards.

This protects the host from accidents of generated code (loops, bombs, stray writes); it is not a
security boundary against code written to escape (run hostile code in a container or VM). A crash of
the child fails the current test and the rest go on in a new process; the caller always gets a result.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ponder.code.child import crash_reason, kill_group, namespace_prefix, scrubbed_env
from ponder.errors import ConfigError

__all__ = ["Limits", "Sandbox", "SandboxResult", "TestOutcome"]

Isolation = Literal["auto", "namespaces", "process"]
_RUNNER = Path(__file__).with_name("runner.py")
_MAX_FIELD = 4000
"""Longest error or value text kept from a record."""
_MAX_LINE = 1 << 20
"""Longest line read from the child (the runner's records are far shorter)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run; validated on construction."""

    timeout: float = 5.0
    """Wall-clock seconds for the program and for each test."""
    cpu_seconds: int = 10
    """CPU seconds for the whole process (RLIMIT_CPU)."""
    memory_mb: int = 1024
    """Address-space limit in MiB (RLIMIT_AS)."""
    file_mb: int = 16
    """Largest file the code may write, in MiB (RLIMIT_FSIZE)."""
    processes: int = 64
    """RLIMIT_NPROC for non-root users; the kernel counts every process and thread of the user, the host's
    included, so raise it when the host runs many threads. Root is held back by the audit hook instead."""

    def __post_init__(self) -> None:
        if not isinstance(self.timeout, int | float) or not 0 < self.timeout <= 3600:
            raise ConfigError(f"sandbox timeout must be in (0, 3600] seconds, got {self.timeout!r}")
        for name in ("cpu_seconds", "memory_mb", "file_mb", "processes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"sandbox {name} must be an integer >= 1, got {value!r}")

    def for_child(self) -> dict[str, int]:
        """The limits in the units ``runner.py`` applies."""
        return {
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_mb * 2**20,
            "file_bytes": self.file_mb * 2**20,
            "files": 64,
            "processes": self.processes,
        }


@dataclass(frozen=True)
class TestOutcome:
    """What happened to one test."""

    __test__ = False  # not a pytest test class

    index: int
    passed: bool
    error: str | None = None
    """Why it failed: the exception (``AssertionError``, ``PermissionError: sandbox: ...``) or the crash."""
    timed_out: bool = False
    value: str | None = None
    """``repr`` of the test's value when the test is a single expression."""


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of every test of one program, in test order."""

    outcomes: tuple[TestOutcome, ...]
    setup_error: str | None = None
    """Why the program itself failed to run (then every test failed with this error)."""
    isolation: str = "process"
    """"namespaces" when the child also ran in fresh network and PID namespaces."""
    stderr: str = field(default="", repr=False)

    @property
    def passed(self) -> bool:
        """Whether the program ran and every test passed."""
        return self.setup_error is None and all(o.passed for o in self.outcomes)

    @property
    def n_passed(self) -> int:
        return sum(o.passed for o in self.outcomes)


class Sandbox:
    """Runs programs against tests; see the module docstring for what is enforced.

    Args:
        limits: resource limits (defaults: 5 s per test, 1 GiB, 10 CPU seconds).
        isolation: "auto" uses network and PID namespaces when ``unshare`` works here, "namespaces"
            requires them (ConfigError otherwise), "process" never uses them.
        python: the interpreter to run; defaults to the current one.
    """

    def __init__(self, limits: Limits | None = None, *, isolation: Isolation = "auto", python: str | None = None):
        if isolation not in ("auto", "namespaces", "process"):
            raise ConfigError(f"isolation must be 'auto', 'namespaces' or 'process', got {isolation!r}")
        self.limits = limits or Limits()
        self.python = python or sys.executable
        self._prefix: list[str] = []
        if isolation != "process":
            self._prefix = namespace_prefix()
            if not self._prefix and isolation == "namespaces":
                raise ConfigError("isolation='namespaces' needs a working `unshare` (root or user namespaces)")
        self.isolation = "namespaces" if self._prefix else "process"

    def run(self, code: str, tests: Sequence[str]) -> SandboxResult:
        """Run ``code`` once, then each test in ``tests`` (Python source; an expression reports its value)."""
        if not isinstance(code, str) or isinstance(tests, str) or not all(isinstance(t, str) for t in tests):
            raise ConfigError(f"run takes code as a string and tests as a list of strings, got {type(tests)!r}")
        outcomes: dict[int, TestOutcome] = {}
        stderr = ""
        with tempfile.TemporaryDirectory(prefix="ponder-sandbox-") as workdir:
            start = 0
            while True:
                setup_error, stderr = self._attempt(code, list(tests), start, workdir, outcomes)
                if setup_error is not None:
                    timed_out = setup_error.startswith("timed out")
                    failed = [
                        TestOutcome(i, False, f"program failed: {setup_error}", timed_out) for i in range(len(tests))
                    ]
                    return SandboxResult(tuple(failed), setup_error, self.isolation, stderr)
                if len(outcomes) >= len(tests):
                    break
                start = min(i for i in range(len(tests)) if i not in outcomes)
        return SandboxResult(tuple(outcomes[i] for i in range(len(tests))), None, self.isolation, stderr)

    def _attempt(
        self, code: str, tests: list[str], start: int, workdir: str, outcomes: dict[int, TestOutcome]
    ) -> tuple[str | None, str]:
        """One child process running tests from ``start``; fills ``outcomes``; returns (setup error, stderr)."""
        payload = {"code": code, "tests": tests, "start": start, "limits": self.limits.for_child()}
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [*self._prefix, self.python, "-S", "-s", "-B", "-c", _RUNNER.read_text()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=workdir,
                env=scrubbed_env(workdir),
                start_new_session=True,
            )
            try:
                setup_error, setup_seen = _feed_and_collect(proc, payload, self.limits.timeout, outcomes)
            finally:
                kill_group(proc)
            err.seek(0)
            stderr = err.read()[-4000:].decode("utf-8", "replace")
        if setup_error is None and not setup_seen:
            return crash_reason(proc.returncode, stderr), stderr
        missing = [i for i in range(start, len(tests)) if i not in outcomes]
        if setup_error is None and missing and missing[0] == start:
            outcomes[start] = TestOutcome(start, False, crash_reason(proc.returncode, stderr))
        return setup_error, stderr


def _feed_and_collect(
    proc: subprocess.Popen[bytes], payload: dict[str, Any], timeout: float, outcomes: dict[int, TestOutcome]
) -> tuple[str | None, bool]:
    """Send the payload, then read events until the child ends or a step overruns.

    Returns (why the program failed or None, whether the program finished running)."""
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(payload).encode("utf-8"))
        proc.stdin.close()
    except BrokenPipeError:
        pass
    current: int | None = None
    setup_seen = False
    n_tests = len(payload["tests"])
    clock = {"deadline": time.monotonic() + timeout}
    for record in _records(proc.stdout.fileno(), clock):
        if record is None:  # the step overran its wall time
            if not setup_seen:
                return f"timed out after {timeout:g} s while running the program", True
            if current is not None:
                outcomes[current] = TestOutcome(current, False, f"timed out after {timeout:g} s", timed_out=True)
            return None, True
        if "setup" in record:
            setup_seen = True
            if record["setup"] is not True:
                return _text(record.get("error")) or "the program failed", True
        elif "start" in record:
            start = record["start"]
            if isinstance(start, int) and not isinstance(start, bool) and 0 <= start < n_tests:
                current, clock["deadline"] = start, time.monotonic() + timeout
        elif current is not None and record.get("index") == current and isinstance(record.get("passed"), bool):
            error, value = _text(record.get("error")), _text(record.get("value"))
            outcomes[current] = TestOutcome(current, record["passed"], error, value=value)
            current = None
        # anything else (malformed, or an outcome of no running test) is not the runner's: ignored
    return None, setup_seen


def _text(value: Any) -> str | None:
    """A record's text field as a bounded string (None stays None)."""
    return None if value is None else str(value)[:_MAX_FIELD]


def _records(fd: int, clock: dict[str, float]) -> Iterator[dict[str, Any] | None]:
    """JSON records read line by line from ``fd``; yields None (and stops) when ``clock["deadline"]`` (which
    the reader moves on as tests start) passes first."""
    buffer = b""
    poller = select.poll()  # not select.select: it fails on descriptors >= 1024
    poller.register(fd, select.POLLIN)
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                record = json.loads(line)
            except ValueError:
                continue  # not a record of the runner
            if isinstance(record, dict):
                yield record
        buffer = buffer[-_MAX_LINE:]  # a line longer than any record is not one: keep memory bounded
        remaining = clock["deadline"] - time.monotonic()
        ready = poller.poll(remaining * 1000) if remaining > 0 else []
        if not ready:
            yield None
            return
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        buffer += chunk

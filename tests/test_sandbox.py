"""The sandbox really stops each escape: each test attempts it and checks the host is unharmed."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from ponder.code.sandbox import Limits, Sandbox, SandboxResult
from ponder.errors import ConfigError

PROGRAM = "def double(x):\n    return 2 * x\n"
AFTER = "assert double(21) == 42"
"""A test run after each escape attempt: the sandbox keeps going after stopping it."""


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(Limits(timeout=2, cpu_seconds=5, memory_mb=512))


def run_escape(sandbox: Sandbox, attempt: str) -> SandboxResult:
    """Run ``attempt`` as a test between two ordinary ones; the ordinary ones must pass."""
    result = sandbox.run(PROGRAM, [AFTER, attempt, AFTER])
    assert result.outcomes[0].passed and result.outcomes[2].passed, result
    assert not result.outcomes[1].passed
    return result


def test_passing_failing_and_valued_tests(sandbox: Sandbox) -> None:
    result = sandbox.run(PROGRAM, ["assert double(2) == 4", "assert double(2) == 5", "double(5)", "1 / 0"])
    assert [o.passed for o in result.outcomes] == [True, False, True, False]
    assert result.outcomes[1].error == "AssertionError"
    assert result.outcomes[2].value == "10"
    assert result.outcomes[3].error is not None and result.outcomes[3].error.startswith("ZeroDivisionError")
    assert not result.passed and result.n_passed == 2 and result.setup_error is None


def test_a_broken_program_fails_every_test(sandbox: Sandbox) -> None:
    result = sandbox.run("def double(x)\n    return x", [AFTER, AFTER])
    assert result.setup_error is not None and "SyntaxError" in result.setup_error
    assert [o.passed for o in result.outcomes] == [False, False]


def test_infinite_loop_times_out(sandbox: Sandbox) -> None:
    result = run_escape(sandbox, "while True:\n    try:\n        pass\n    except BaseException:\n        pass")
    assert result.outcomes[1].timed_out


def test_infinite_loop_in_the_program_times_out_every_test(sandbox: Sandbox) -> None:
    result = sandbox.run("while True:\n    pass\n", [AFTER])
    assert result.outcomes[0].timed_out and not result.passed


@pytest.mark.parametrize("bomb", ["bytearray(2**40)", "hog = []\nwhile True:\n    hog.append(bytearray(16 * 2**20))"])
def test_memory_bomb_is_stopped(bomb: str) -> None:
    roomy = Sandbox(Limits(timeout=60, memory_mb=256))  # generous wall time: the limit, not the clock, stops it
    result = run_escape(roomy, bomb)
    assert "MemoryError" in (result.outcomes[1].error or "")


def test_fork_bomb_is_stopped(sandbox: Sandbox, tmp_path: Path) -> None:
    marker = tmp_path / "forked"
    bomb = f"import os\nwhile True:\n    if os.fork() == 0:\n        open({str(marker)!r}, 'w').close()"
    result = run_escape(sandbox, bomb)
    assert "not allowed" in (result.outcomes[1].error or "")
    assert not marker.exists()


@pytest.mark.parametrize(
    "attempt",
    [
        "import subprocess\nsubprocess.run(['touch', {marker!r}])",
        "import os\nos.system('touch {marker}')",
        "import os\nos.execv('/usr/bin/touch', ['touch', {marker!r}])",
        "import os\nos.posix_spawn('/usr/bin/touch', ['touch', {marker!r}], {{}})",
        "import multiprocessing\nmultiprocessing.Process(target=open, args=({marker!r}, 'w')).start()",
    ],
)
def test_starting_programs_is_stopped(sandbox: Sandbox, tmp_path: Path, attempt: str) -> None:
    marker = tmp_path / "spawned"
    run_escape(sandbox, attempt.format(marker=str(marker)))
    assert not marker.exists()


def test_killing_host_processes_is_stopped(sandbox: Sandbox) -> None:
    result = run_escape(sandbox, f"import os, signal\nos.kill({os.getpid()}, signal.SIGTERM)")
    assert "not allowed" in (result.outcomes[1].error or "")  # and this test process is still alive


def test_network_is_stopped() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(3)
    port = server.getsockname()[1]
    accepted: list[object] = []
    listener = threading.Thread(target=lambda: accepted.append(_accept(server)))
    listener.start()
    attempts = [
        f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)",
        f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/', timeout=1)",
        "import _socket\n_socket.socket()",
    ]
    try:
        result = Sandbox(Limits(timeout=3)).run(PROGRAM, [*attempts, AFTER])
    finally:
        listener.join()
        server.close()
    assert [o.passed for o in result.outcomes] == [False, False, False, True]
    assert accepted == [None], "nothing connected to the host's server"


def _accept(server: socket.socket) -> object:
    try:
        conn, _ = server.accept()
    except TimeoutError:
        return None
    conn.close()
    return "connected"


@pytest.mark.parametrize(
    "attempt",
    [
        "open({outside!r}, 'w').write('x')",
        "import os\nos.close(os.open({outside!r}, os.O_WRONLY | os.O_CREAT))",
        "import os\nos.chdir('/')\nopen({relative!r}, 'a').write('x')",
        "import os\nos.symlink({outside!r}, 'link')\nopen('link', 'w').write('x')",
        "import pathlib\npathlib.Path({outside!r}).write_text('x')",
        "import os\nd = os.open({folder!r}, os.O_RDONLY)\nos.open('outside.txt', os.O_CREAT | os.O_WRONLY, dir_fd=d)",
        "import sqlite3\nsqlite3.connect({outside!r}).execute('create table t (x)')",
        "import os\nos.mkfifo({outside!r})",
    ],
)
def test_writing_outside_the_directory_is_stopped(sandbox: Sandbox, tmp_path: Path, attempt: str) -> None:
    outside = tmp_path / "outside.txt"
    run_escape(sandbox, attempt.format(outside=str(outside), relative=str(outside).lstrip("/"), folder=str(tmp_path)))
    assert not outside.exists()


def test_raising_its_own_limits_is_stopped(sandbox: Sandbox) -> None:
    result = run_escape(sandbox, "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))")
    assert "changing resource limits is not allowed" in (result.outcomes[1].error or "")


@pytest.mark.parametrize(
    "junk",
    [
        '{"start": "x"}\n{"index": "y", "passed": 1}\n',  # malformed records
        '{"index": 0, "passed": true}\n',  # an outcome for a test that is not running
        "z" * (3 << 20),  # an endless line
    ],
)
def test_junk_on_the_result_channel_is_ignored(sandbox: Sandbox, junk: str) -> None:
    attempt = f"import os\nos.write(3, {junk!r}.encode())\nassert False"  # fd 3: the runner's channel
    result = sandbox.run(PROGRAM, ["assert double(1) == 3", attempt, AFTER])
    assert [o.passed for o in result.outcomes] == [False, False, True]
    assert result.outcomes[1].error == "AssertionError"


@pytest.mark.parametrize(
    "attempt",
    [
        "import os\nos.remove({victim!r})",
        "import os\nos.rename({victim!r}, 'mine')",
        "import os\nos.chmod({victim!r}, 0)",
    ],
)
def test_changing_files_outside_is_stopped(sandbox: Sandbox, tmp_path: Path, attempt: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o644)
    run_escape(sandbox, attempt.format(victim=str(victim)))
    assert victim.read_text() == "keep me" and victim.stat().st_mode & 0o777 == 0o644


def test_writing_inside_the_directory_works_and_is_cleaned_up(sandbox: Sandbox) -> None:
    result = sandbox.run(PROGRAM, ["import os\nopen('scratch.txt', 'w').write('hi')", "os.getcwd()"])
    assert result.passed
    workdir = (result.outcomes[1].value or "").strip("'")
    assert workdir and not os.path.exists(workdir)


def test_environment_is_scrubbed(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PONDER_SECRET_TOKEN", "hunter2")
    result = sandbox.run(PROGRAM, ["import os\nassert 'PONDER_SECRET_TOKEN' not in os.environ"])
    assert result.passed


def test_process_exit_fails_only_that_test(sandbox: Sandbox) -> None:
    result = run_escape(sandbox, "import os\nos._exit(3)")
    assert "status 3" in (result.outcomes[1].error or "")
    result = run_escape(sandbox, "raise SystemExit(0)")
    assert "SystemExit" in (result.outcomes[1].error or "")


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        Limits(timeout=0)
    with pytest.raises(ConfigError, match="memory_mb"):
        Limits(memory_mb=-1)
    with pytest.raises(ConfigError, match="isolation"):
        Sandbox(isolation="docker")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="list of strings"):
        Sandbox().run(PROGRAM, "assert True")


def test_without_namespaces_the_audit_hook_still_stops_escapes(tmp_path: Path) -> None:
    plain = Sandbox(Limits(timeout=2), isolation="process")
    assert plain.isolation == "process"
    marker = tmp_path / "escaped"
    attempts = [
        "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)",
        f"import os\nos.system('touch {marker}')",
        f"open({str(marker)!r}, 'w')",
    ]
    result = plain.run(PROGRAM, [*attempts, AFTER])
    assert [o.passed for o in result.outcomes] == [False, False, False, True]
    assert all("sandbox:" in (o.error or "") for o in result.outcomes[:3])
    assert not marker.exists()

"""The files of one evaluation directory: records, traces, errors, run log; atomic appends and repair.

Layout of ``--out DIR``:

    records.jsonl   one JSON line per (configuration, problem): the graded outcome (see ``records``)
    traces.jsonl    one JSON line per record: {"id", "candidates", "trace"}; a record's ``trace`` field holds
                    the byte offset of its line, so ``RunStore.trace(record)`` reads it directly
    errors.jsonl    one JSON line per problem whose chunk failed (retried on the next run)
    runs.jsonl      one line per invocation: its configuration and start time (how to reproduce it)
    cache.sqlite    the generation cache (``ponder.cache``), unless ``--cache`` puts it elsewhere
    .lock           held while a runner writes, so two runners never write one directory

Appends write whole lines in one ``write``, then flush and fsync; traces are written before the records
that point at them. A process killed mid-write can leave a truncated last line: ``repair`` cuts the file
back to its last newline (with a message) when the directory is opened again. Reading skips, and reports
by line number, any line that is not a JSON object; a record repeated for the same (config, problem) is
kept once (the first) and reported.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ponder.errors import ConfigError

__all__ = ["ERRORS", "RECORDS", "RUNS", "TRACES", "RunStore", "read_jsonl", "repair_jsonl"]

RECORDS = "records.jsonl"
TRACES = "traces.jsonl"
ERRORS = "errors.jsonl"
RUNS = "runs.jsonl"
LOCK = ".lock"

Notify = Callable[[str], None]


def repair_jsonl(path: Path) -> int:
    """Cut a truncated last line (no final newline) off ``path``; the number of bytes removed (0 if none)."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        keep = _last_newline_end(f, size)
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return size - keep


def _last_newline_end(f: IO[bytes], size: int) -> int:
    """The offset just after the last b"\\n" in the file (0 when there is none)."""
    pos = size
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        f.seek(pos)
        chunk = f.read(step)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return pos + cut + 1
    return 0


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The JSON objects of ``path`` and (line number, reason) of each line that is not one."""
    rows: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []
    if not path.exists():
        return rows, bad
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                bad.append((number, f"not JSON ({exc})"))
                continue
            if isinstance(value, dict):
                rows.append(value)
            else:
                bad.append((number, f"not a JSON object ({type(value).__name__})"))
    return rows, bad


def _line(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")


def _append(path: Path, lines: Sequence[bytes]) -> int:
    """Append whole lines with one write, flush and fsync; the offset where they start."""
    with path.open("ab") as f:
        start = f.seek(0, os.SEEK_END)
        f.write(b"".join(lines))
        f.flush()
        os.fsync(f.fileno())
    return start


class RunStore:
    """One evaluation directory, opened for reading and (after ``lock``) appending."""

    def __init__(self, out: str | Path, notify: Notify | None = None) -> None:
        self.out = Path(out).expanduser()
        if self.out.exists() and not self.out.is_dir():
            raise ConfigError(f"--out must be a directory, got the file {str(self.out)!r}")
        self.notify: Notify = notify or (lambda message: None)
        self._lock_file: IO[str] | None = None

    def path(self, name: str) -> Path:
        return self.out / name

    def open_for_writing(self) -> None:
        """Create the directory, take its lock, and repair truncated last lines."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        for name in (RECORDS, TRACES, ERRORS, RUNS):
            dropped = repair_jsonl(self.path(name))
            if dropped:
                self.notify(
                    f"{self.path(name)}: repaired a truncated last line ({dropped} bytes dropped; "
                    "an earlier run was killed while writing it)"
                )

    def _take_lock(self) -> None:
        handle = self.path(LOCK).open("a+")
        try:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no lock, the user must not run two writers
            pass
        except OSError as exc:
            handle.close()
            raise ConfigError(f"another `ponder eval` is writing {str(self.out)!r}; wait for it to finish") from exc
        self._lock_file = handle

    def close(self) -> None:
        """Release the lock (appends stay on disk)."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def records(self) -> list[dict[str, Any]]:
        """The records, one per (config, problem_id), bad lines and repeats reported through ``notify``."""
        rows, bad = read_jsonl(self.path(RECORDS))
        self._report_bad(RECORDS, bad)
        seen: set[tuple[str, str]] = set()
        out = []
        repeats = 0
        for row in rows:
            key = (str(row.get("config")), str(row.get("problem_id")))
            if key in seen:
                repeats += 1
                continue
            seen.add(key)
            out.append(row)
        if repeats:
            self.notify(f"{self.path(RECORDS)}: ignored {repeats} repeated record(s) (kept the first of each)")
        return out

    def errors(self) -> list[dict[str, Any]]:
        rows, bad = read_jsonl(self.path(ERRORS))
        self._report_bad(ERRORS, bad)
        return rows

    def runs(self) -> list[dict[str, Any]]:
        rows, bad = read_jsonl(self.path(RUNS))
        self._report_bad(RUNS, bad)
        return rows

    def _report_bad(self, name: str, bad: list[tuple[int, str]]) -> None:
        if bad:
            shown = "; ".join(f"line {n}: {why}" for n, why in bad[:5])
            more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
            self.notify(f"{self.path(name)}: skipped {len(bad)} unreadable line(s): {shown}{more}")

    def append(self, records: Sequence[dict[str, Any]], traces: Sequence[dict[str, Any]]) -> None:
        """Append traces, then the records pointing at them (``record["trace"]`` = {"file", "offset"})."""
        if len(records) != len(traces):
            raise ValueError(f"{len(records)} records but {len(traces)} traces")
        if not records:
            return
        lines = [_line(t) for t in traces]
        offset = _append(self.path(TRACES), lines)
        for record, line in zip(records, lines, strict=True):
            record["trace"] = {"file": TRACES, "offset": offset}
            offset += len(line)
        _append(self.path(RECORDS), [_line(r) for r in records])

    def append_errors(self, errors: Sequence[dict[str, Any]]) -> None:
        if errors:
            _append(self.path(ERRORS), [_line(e) for e in errors])

    def append_run(self, run: dict[str, Any]) -> None:
        _append(self.path(RUNS), [_line(run)])

    def trace(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The trace line a record points at, or None when it is missing or unreadable."""
        ref = record.get("trace")
        if not isinstance(ref, dict) or not isinstance(ref.get("offset"), int):
            return None
        with contextlib.suppress(OSError, json.JSONDecodeError), self.path(TRACES).open("rb") as f:
            f.seek(ref["offset"])
            value = json.loads(f.readline())
            if isinstance(value, dict) and value.get("id") == record.get("id"):
                return value
        return None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records())

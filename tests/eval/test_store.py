"""The evaluation directory: atomic appends, truncated-line repair, unreadable lines, repeats, the lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ponder.errors import ConfigError
from ponder.eval.store import RECORDS, RunStore, read_jsonl, repair_jsonl


def test_repair_cuts_a_truncated_last_line(tmp_path: Path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "b": "cut her')
    assert repair_jsonl(path) == len(b'{"a": 3, "b": "cut her')
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    assert repair_jsonl(path) == 0  # idempotent


def test_repair_edge_cases(tmp_path: Path):
    assert repair_jsonl(tmp_path / "missing.jsonl") == 0
    empty = tmp_path / "e.jsonl"
    empty.write_bytes(b"")
    assert repair_jsonl(empty) == 0
    one = tmp_path / "one.jsonl"
    one.write_bytes(b'{"partial')
    assert repair_jsonl(one) == 9 and one.read_bytes() == b""
    big = tmp_path / "big.jsonl"
    big.write_bytes(b'{"x": 0}\n' + b"y" * 200_000)  # longer than one read block
    assert repair_jsonl(big) == 200_000 and big.read_bytes() == b'{"x": 0}\n'


def test_unreadable_lines_are_reported_with_their_number(tmp_path: Path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\nnot json\n[1, 2]\n\n{"a": 2}\n')
    rows, bad = read_jsonl(path)
    assert rows == [{"a": 1}, {"a": 2}]
    assert [n for n, _ in bad] == [2, 3]


def test_open_repairs_with_a_message_and_records_are_deduplicated(tmp_path: Path):
    out = tmp_path / "run"
    out.mkdir()
    record = {"id": "c/p1", "config": "c", "problem_id": "p1"}
    lines = [json.dumps(record), json.dumps(record), json.dumps({**record, "problem_id": "p2"})]
    (out / RECORDS).write_text("\n".join(lines) + '\n{"config": "c", "probl')
    messages: list[str] = []
    store = RunStore(out, messages.append)
    store.open_for_writing()
    try:
        assert any("truncated last line" in m for m in messages)
        records = store.records()
        assert [r["problem_id"] for r in records] == ["p1", "p2"]
        assert any("repeated" in m for m in messages)
    finally:
        store.close()


def test_append_writes_traces_first_and_points_records_at_them(tmp_path: Path):
    with RunStore(tmp_path / "run") as store:
        store.open_for_writing()
        records = [{"id": f"c/p{i}", "config": "c", "problem_id": f"p{i}"} for i in range(3)]
        traces = [{"id": f"c/p{i}", "trace": ["x" * i]} for i in range(3)]
        store.append(records, traces)
        store.append([{"id": "c/p9", "config": "c", "problem_id": "p9"}], [{"id": "c/p9", "trace": []}])
        loaded = store.records()
        assert len(loaded) == 4
        assert [store.trace(r)["id"] for r in loaded] == [r["id"] for r in loaded]  # type: ignore[index]
        assert store.trace({"id": "nope"}) is None
        with pytest.raises(ValueError, match="3 records but 1 traces"):
            store.append(records, traces[:1])


def test_a_second_writer_is_refused(tmp_path: Path):
    first = RunStore(tmp_path / "run")
    first.open_for_writing()
    try:
        with pytest.raises(ConfigError, match="another `ponder eval`"):
            RunStore(tmp_path / "run").open_for_writing()
    finally:
        first.close()
    second = RunStore(tmp_path / "run")
    second.open_for_writing()  # free again
    second.close()


def test_out_must_be_a_directory(tmp_path: Path):
    file = tmp_path / "f"
    file.write_text("x")
    with pytest.raises(ConfigError, match="must be a directory"):
        RunStore(file)


def test_cache_statistics_reach_problems_whose_prompts_are_json_encoded_chats() -> None:
    from ponder.backends.openai_prompts import encode_chat
    from ponder.cache import CacheStats
    from ponder.eval.records import attribute_cache
    from ponder.types import Message, Problem

    latex = Problem('Find $\\frac{1}{2}$ of "ten".\nAnswer briefly.', id="latex")
    plain = Problem("What is 2 + 2?", id="plain")
    prompts = {encode_chat([Message("user", p.question)]): CacheStats(hits=i + 1) for i, p in enumerate([latex, plain])}
    stats = attribute_cache(prompts, [latex, plain])
    assert (stats["latex"].hits, stats["plain"].hits) == (1, 2)

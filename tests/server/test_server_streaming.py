"""Streaming happens while the strategy runs, and a client that goes away cancels the work."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import openai
import pytest
from gated import DownBackend, GatedBackend, Start, wait_until

from ponder.server import Limits

Q = [{"role": "user", "content": "What is 6 * 7?"}]
COT_THREE = {"model": "ponder:cot", "messages": Q, "n": 3, "stream": True}
"""Three runs of cot: three backend calls, one progress unit after each."""


def progress_of(chunk: Any) -> dict[str, Any] | None:
    extra = (chunk.model_extra or {}).get("ponder") or {}
    return extra if "progress" in extra else None


def test_first_progress_arrives_before_the_strategy_finishes(start: Start):
    backend = GatedBackend(block_on=2)
    srv = start(backend)
    with openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0, timeout=20) as client:
        stream = client.chat.completions.create(model="ponder:cot", messages=Q, n=3, stream=True)  # type: ignore[call-overload]
        chunks = iter(stream)
        first = next(chunks)
        assert first.choices[0].delta.role == "assistant"
        progress = next(p for p in map(progress_of, chunks) if p is not None)
        # run 1 is done, run 2 is held inside the backend: the strategy has not finished
        assert progress == {"progress": 1, "total": 3}
        wait_until(backend.entered.is_set)  # progress is sent before run 2 enters the backend
        assert len(srv.state.live) == 1 and len(backend.calls) == 1
        backend.release.set()
        rest = list(chunks)
    later = [p["progress"] for p in map(progress_of, rest) if p]
    assert later[-1] == 3 and later == sorted(later)  # updates may be coalesced, never reordered
    texts = ["".join(c.delta.content or "" for ch in rest for c in ch.choices if c.index == i) for i in range(3)]
    assert all("\\boxed{" in t for t in texts)
    wait_until(lambda: not srv.state.live)


def test_client_disconnect_mid_stream_cancels_the_work(start: Start):
    backend = GatedBackend(block_on=2)
    srv = start(backend)
    with httpx.Client(timeout=20) as http, http.stream("POST", f"{srv.url}/v1/chat/completions", json=COT_THREE) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()  # kept referenced: closing the iterator early would close the connection
        for line in lines:
            if line.startswith("data: ") and "progress" in json.loads(line[6:]).get("ponder", {}):
                break
        [job] = list(srv.state.live)
        assert not job.token.cancelled, job.token.reason
        wait_until(backend.entered.is_set)  # call 2 is held (progress is sent before it enters the backend)
    # the connection is closed: the server notices and cancels while call 2 is still held
    wait_until(lambda: job.token.cancelled)
    assert job.thread.is_alive() and len(backend.calls) == 1
    backend.release.set()
    job.thread.join(10)
    assert not job.thread.is_alive() and not srv.state.live
    wait_until(lambda: srv.state.gate.active == 0)
    assert len(backend.calls) == 2  # call 2 finished; call 3 never happened
    assert not [t for t in threading.enumerate() if t.name.startswith("ponder-request-")]


def test_client_disconnect_without_streaming_cancels_too(start: Start):
    backend = GatedBackend(block_on=2)
    srv = start(backend)
    body = {**COT_THREE, "stream": False}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{srv.url}/v1/chat/completions", json=body, timeout=0.5)
    assert backend.entered.is_set()
    wait_until(lambda: all(job.token.cancelled for job in srv.state.live))
    backend.release.set()
    wait_until(lambda: not srv.state.live and srv.state.gate.active == 0)
    assert len(backend.calls) == 2


def test_backend_failure_mid_stream_is_an_error_event(start: Start):
    srv = start(DownBackend(retryable=True))
    with openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0) as client:
        stream = client.chat.completions.create(model="ponder:cot", messages=Q, stream=True)  # type: ignore[call-overload]
        with pytest.raises(openai.APIError, match="backend failed: connection refused"):
            list(stream)


def test_timeout_mid_stream_is_an_error_event_and_cancels(start: Start):
    backend = GatedBackend(block_on=1)
    srv = start(backend, limits=Limits(timeout=0.5))
    with httpx.stream("POST", f"{srv.url}/v1/chat/completions", json=COT_THREE, timeout=20) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    last = json.loads(lines[-1][6:])
    assert last["error"]["type"] == "timeout_error" and "data: [DONE]" not in lines
    backend.release.set()
    wait_until(lambda: not srv.state.live)
    assert len(backend.calls) == 1

"""The serving requirements not covered elsewhere: the documented request forms at full size with usage
checked against every token the backend produced, base-model streaming, a request timing out while queued,
and the official client's typed error for a busy server."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import httpx
import openai
import pytest
from gated import GatedBackend, Start, wait_until

from ponder.backends.fake import FakeBackend
from ponder.server import Limits
from ponder.types import Generation, SamplingParams

Q: Any = [{"role": "user", "content": "What is 6 * 7?"}]


class CountingBackend(FakeBackend):
    """A FakeBackend that adds up every prompt and completion token it hands out."""

    def __init__(self) -> None:
        super().__init__()
        self.prompt_tokens = self.completion_tokens = 0
        self._count_lock = threading.Lock()

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        out = super().generate(prompts, params, n)
        with self._count_lock:
            self.prompt_tokens += sum(g.prompt_tokens for g in out)
            self.completion_tokens += sum(c.n_tokens for g in out for c in g.completions)
        return out


def ponder_field(obj: Any) -> dict[str, Any]:
    return (obj.model_extra or {}).get("ponder") or {}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "ponder:self_consistency?n=8"},
        {"model": "fake", "extra_body": {"ponder": {"strategy": "beam_search", "n": 8}}},
        {"model": "fake", "reasoning_effort": "high"},
    ],
    ids=["model-string", "extra-body", "reasoning-effort"],
)
def test_each_request_form_reports_every_token_spent(start: Start, kwargs: dict[str, Any]):
    backend = CountingBackend()
    srv = start(backend)
    with openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0, timeout=30) as client:
        r = client.chat.completions.create(messages=Q, seed=4, n=2, **kwargs)
    assert [c.index for c in r.choices] == [0, 1]
    assert all(c.message.role == "assistant" and c.finish_reason == "stop" for c in r.choices)
    assert all(c.message.content and "\\boxed{" in c.message.content for c in r.choices)
    info = ponder_field(r)
    assert len(info["runs"]) == 2 and info["seeds"] == [4, 5]
    assert r.usage is not None and r.usage.completion_tokens > 0
    # every sample of both runs, scorer calls included, is in usage
    assert r.usage.completion_tokens == backend.completion_tokens
    assert r.usage.prompt_tokens == backend.prompt_tokens
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_base_model_streams_every_choice(start: Start):
    srv = start()
    with openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0, timeout=20) as client:
        whole = client.chat.completions.create(model="fake", messages=Q, n=2, seed=1, max_tokens=20)
        chunks = list(
            client.chat.completions.create(
                model="fake",
                messages=Q,
                n=2,
                seed=1,
                max_tokens=20,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    for i, choice in enumerate(whole.choices):
        text = "".join(c.delta.content or "" for ch in chunks for c in ch.choices if c.index == i)
        assert text == choice.message.content
        assert [c.finish_reason for ch in chunks for c in ch.choices if c.index == i and c.finish_reason] == [
            choice.finish_reason
        ]
    assert chunks[-1].usage is not None and whole.usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_a_request_still_queued_at_its_deadline_gets_504(start: Start):
    backend = GatedBackend(block_on=1)
    srv = start(backend, limits=Limits(max_concurrency=1, max_queue=4, timeout=1.0))
    body = {"model": "ponder:cot", "messages": Q}
    first: list[httpx.Response] = []
    runner = threading.Thread(target=lambda: first.append(httpx.post(f"{srv.url}/v1/chat/completions", json=body)))
    runner.start()
    wait_until(backend.entered.is_set)
    queued = httpx.post(f"{srv.url}/v1/chat/completions", json=body, timeout=20)
    assert queued.status_code == 504, queued.text
    assert queued.json()["error"]["type"] == "timeout_error" and "queue" in queued.json()["error"]["message"]
    backend.release.set()
    runner.join(20)
    assert first[0].status_code == 504  # the running one timed out too, and its work was cancelled
    wait_until(lambda: not srv.state.live and srv.state.gate.active == 0 and srv.state.gate.waiting == 0)
    assert len(backend.calls) == 1  # the queued request never reached the backend


def test_busy_server_is_a_rate_limit_error_for_the_official_client(start: Start):
    backend = GatedBackend(block_on=1)
    srv = start(backend, limits=Limits(max_concurrency=1, max_queue=0))
    with openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0, timeout=20) as client:
        runner = threading.Thread(target=lambda: client.chat.completions.create(model="ponder:cot", messages=Q))
        runner.start()
        wait_until(backend.entered.is_set)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="ponder:cot", messages=Q)
        assert caught.value.response.headers["retry-after"] == "1"
        backend.release.set()
        runner.join(20)
    wait_until(lambda: not srv.state.live)

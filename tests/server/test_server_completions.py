"""``/v1/completions`` passes through to the backend, so ponder's own ``openai`` backend can use the server."""

from __future__ import annotations

import httpx
import pytest
from gated import Start

from ponder.api import solve
from ponder.backends.fake import FakeBackend
from ponder.server import Limits
from ponder.server.runner import InThread
from ponder.types import SamplingParams

openai_backend = pytest.importorskip("ponder.backends.openai", reason="the openai backend is not there yet")


def test_raw_completions_pass_through(start: Start):
    backend = FakeBackend()
    srv = start(backend)
    body = {"model": "fake", "prompt": ["Hello", "Bye"], "n": 2, "max_tokens": 4, "seed": 9, "logprobs": 1}
    data = httpx.post(f"{srv.url}/v1/completions", json=body, timeout=10).json()
    params = SamplingParams(max_tokens=4, seed=9, logprobs=1)
    assert backend.calls == [(("Hello", "Bye"), params, 2)]
    expected = [c for g in FakeBackend().generate(["Hello", "Bye"], params, 2) for c in g.completions]
    assert data["object"] == "text_completion" and [c["index"] for c in data["choices"]] == [0, 1, 2, 3]
    assert [c["text"] for c in data["choices"]] == [c.text for c in expected]
    assert [c["finish_reason"] for c in data["choices"]] == ["length"] * 4
    lp = data["choices"][0]["logprobs"]
    assert "".join(lp["tokens"]) == expected[0].text and len(lp["token_logprobs"]) == len(lp["text_offset"]) == 4
    assert data["usage"]["completion_tokens"] == sum(c.n_tokens for c in expected) == 16
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + 16


def test_completions_refuses_what_it_cannot_do(shared: InThread):
    for body, param in [
        ({"model": "ponder:cot", "prompt": "x"}, "model"),
        ({"model": "fake", "prompt": "x", "echo": True}, "echo"),
        ({"model": "fake", "prompt": "x", "stream": True}, "stream"),
        ({"model": "fake", "prompt": []}, "prompt"),
        ({"model": "fake", "prompt": [1, 2, 3]}, "prompt.str"),
    ]:
        resp = httpx.post(f"{shared.url}/v1/completions", json=body, timeout=10)
        assert resp.status_code == 400 and resp.json()["error"]["param"] == param, resp.text


def test_ponder_openai_backend_generates_through_the_server(shared: InThread):
    remote = openai_backend.OpenAIBackend(base_url=f"{shared.url}/v1", timeout=10, max_retries=0)
    try:
        assert remote.model == "fake" and remote.mode == "completions"
        caps = remote.capabilities
        assert caps.native_n and caps.logprobs and caps.continuation
        params = SamplingParams(temperature=0.5, max_tokens=12, seed=4, stop=("\n\n",), logprobs=0)
        [gen] = remote.generate(["Hello there"], params, 3)
        # with native n the backend sends one request seeded with sample_seed(0), as it does against vLLM
        [direct] = FakeBackend().generate(["Hello there"], params.replace(seed=params.sample_seed(0)), 3)
        assert [c.text for c in gen.completions] == [c.text for c in direct.completions]
        assert [c.n_tokens for c in gen.completions] == [c.n_tokens for c in direct.completions]
        assert gen.prompt_tokens == direct.prompt_tokens
    finally:
        remote.close()


def test_a_ponder_run_on_top_of_a_ponder_server(start: Start):
    inner = FakeBackend()
    srv = start(inner)
    remote = openai_backend.OpenAIBackend(base_url=f"{srv.url}/v1", timeout=10, max_retries=0)
    try:
        [result] = solve(["What is 6 * 7?"], "self_consistency", backend=remote, n=4, seed=0)
    finally:
        remote.close()
    assert result.answer is not None and len(result.candidates) == 4
    assert result.usage.completion_tokens == sum(c.n_tokens for c in result.candidates) > 0
    assert any("What is 6 * 7?" in prompt for prompts, _, _ in inner.calls for prompt in prompts)


def test_completions_limit_counts_samples_not_prompts_and_n_apart(start: Start):
    srv = start(limits=Limits(max_n=4))
    ok = {"model": "fake", "prompt": ["a", "b"], "n": 2, "max_tokens": 2}
    assert httpx.post(f"{srv.url}/v1/completions", json=ok, timeout=10).status_code == 200
    resp = httpx.post(f"{srv.url}/v1/completions", json={**ok, "prompt": ["a", "b", "c"]}, timeout=10)
    assert resp.status_code == 400 and "got 2 x 3" in resp.json()["error"]["message"]

"""OpenAIBackend against a real HTTP server (fixture_server.py) through the real openai client:
errors, retries, concurrency, lifecycle."""

from __future__ import annotations

import socket
import threading
from typing import Any

import openai
import pytest
from fixture_server import FixtureServer, reply_text
from openai_support import COMPLETIONS, PARAMS, S0, Make

from ponder.backends.openai import OpenAIBackend
from ponder.backends.openai_retry import RetryPolicy, call_with_retries, parse_retry_after
from ponder.budget import Metered
from ponder.catalog import make_registries
from ponder.errors import BackendError, ConfigError

# -- errors and retries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_transient_errors_retried_then_succeed(make: Make, server: FixtureServer, status: int) -> None:
    server.knobs.fail_first, server.knobs.fail_status = 2, status
    [gen] = make(max_retries=4).generate(["q"], PARAMS)
    assert gen.completions[0].text == reply_text("q", S0, 0)
    assert server.count(COMPLETIONS) == 3


def test_persistent_503_raises_retryable_backend_error(make: Make, server: FixtureServer) -> None:
    server.knobs.fail_first = 1000
    with pytest.raises(BackendError) as info:
        make(max_retries=2).generate(["q"], PARAMS)
    assert info.value.retryable is True and "503" in str(info.value) and "3 attempts" in str(info.value)
    assert server.count(COMPLETIONS) == 3


@pytest.mark.parametrize(("status", "verdict", "requests"), [(503, "false", 1), (504, "false", 1), (400, "true", 3)])
def test_server_should_retry_verdict_wins_over_the_status(
    make: Make, server: FixtureServer, status: int, verdict: str, requests: int
) -> None:
    server.knobs.fail_first, server.knobs.fail_status, server.knobs.should_retry = 1000, status, verdict
    with pytest.raises(BackendError) as info:
        make(max_retries=2).generate(["q"], PARAMS)
    assert info.value.retryable is (verdict == "true") and str(status) in str(info.value)
    assert server.count(COMPLETIONS) == requests


def test_bad_request_raises_non_retryable_with_server_message(make: Make, server: FixtureServer) -> None:
    server.knobs.error_400 = "prompt is too long for this model"
    with pytest.raises(BackendError) as info:
        make(max_retries=4).generate(["q"], PARAMS)
    assert info.value.retryable is False and "prompt is too long for this model" in str(info.value)
    assert server.count(COMPLETIONS) == 1


def test_unknown_model_error_is_not_returned_as_text(make: Make) -> None:
    with pytest.raises(BackendError, match="does not exist"):
        make(model="nope").generate(["q"], PARAMS)


def test_connection_refused_is_retryable(make: Make) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendError) as info:
        make(base_url=f"http://127.0.0.1:{port}/v1", max_retries=1).generate(["q"], PARAMS)
    assert info.value.retryable is True


def test_timeout_is_retryable(make: Make, server: FixtureServer) -> None:
    server.knobs.delay = 1.0
    with pytest.raises(BackendError) as info:
        make(timeout=0.1, max_retries=0).generate(["q"], PARAMS)
    assert info.value.retryable is True


def test_retry_after_is_honoured(server: FixtureServer) -> None:
    server.knobs.fail_first, server.knobs.retry_after = 2, "0.25"
    client = openai.OpenAI(base_url=server.url, api_key="EMPTY", max_retries=0)
    slept: list[float] = []
    call = lambda: client.completions.create(model="test-model", prompt="q", max_tokens=4)  # noqa: E731
    reply = call_with_retries(call, RetryPolicy(max_retries=3, backoff=5.0), "test", sleep=slept.append)
    assert reply.choices and slept == [0.25, 0.25]
    server.knobs.retry_after, server.knobs.fail_first = None, server.count() + 2
    slept.clear()
    call_with_retries(call, RetryPolicy(max_retries=3, backoff=1.0, max_backoff=1.5), "test", sleep=slept.append)
    assert len(slept) == 2 and 0.5 <= slept[0] <= 1.0 and 0.75 <= slept[1] <= 1.5  # exponential, jittered
    client.close()


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert parse_retry_after({"retry-after": "soon"}) is None and parse_retry_after({}) is None


# -- concurrency, model discovery, lifecycle ------------------------------------------------------------------


def test_requests_overlap_up_to_concurrency(make: Make, server: FixtureServer) -> None:
    server.knobs.delay = 0.2
    prompts = [f"prompt {i}" for i in range(8)]
    gens = make(concurrency=8).generate(prompts, PARAMS)
    assert server.max_in_flight >= 2  # overlapping requests (no wall-clock assertion)
    assert [g.completions[0].text for g in gens] == [reply_text(p, S0, 0) for p in prompts]
    server.reset()
    server.knobs.delay = 0.02
    make(concurrency=1).generate(prompts[:4], PARAMS, n=2)
    assert server.max_in_flight == 1 and server.count(COMPLETIONS) == 4


def test_model_from_server_list_and_env(server: FixtureServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.knobs.models = ("first-model", "test-model")
    monkeypatch.delenv("PONDER_OPENAI_MODEL", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = OpenAIBackend(mode="completions", native_n=True, logprobs=False)
    assert backend.model == "first-model" and server.count("/v1/models") == 1
    backend.generate(["q"], PARAMS)
    assert server.bodies(COMPLETIONS)[0]["model"] == "first-model"
    backend.close()
    monkeypatch.setenv("PONDER_OPENAI_MODEL", "test-model")
    assert OpenAIBackend().model == "test-model"


def test_registry_entry_builds_the_backend(server: FixtureServer) -> None:
    factory = make_registries().backends.get("openai")
    backend = factory(model="test-model", base_url=server.url, mode="chat")
    assert isinstance(backend, OpenAIBackend) and backend.mode == "chat"
    backend.close()


def test_argument_validation_and_close(make: Make) -> None:
    backend = make()
    assert backend.generate([], PARAMS) == []
    with pytest.raises(ConfigError):
        backend.generate(["q"], PARAMS, n=0)
    with pytest.raises(ConfigError):
        backend.generate("q", PARAMS)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        make(mode="stream")
    with pytest.raises(ConfigError):
        make(concurrency=0)
    backend.close()
    backend.close()
    with pytest.raises(BackendError, match="closed"):
        backend.generate(["q"], PARAMS)


def test_closing_during_a_call_is_a_backend_error(make: Make, server: FixtureServer) -> None:
    backend = make(native_n=False, concurrency=1)
    request = backend._request

    def first_closes(*args: object) -> object:
        reply = request(*args)  # type: ignore[arg-type]
        backend.close()  # the samples still queued are cancelled
        return reply

    backend._request = first_closes  # type: ignore[method-assign]
    with pytest.raises(BackendError, match="closed during the call"):
        backend.generate(["p"], PARAMS, n=3)


def test_a_failed_request_still_charges_the_replies_that_came_back(make: Make, server: FixtureServer) -> None:
    backend = make(native_n=False)
    request, lock = backend._request, threading.Lock()
    returned: list[Any] = []
    all_started = threading.Barrier(3, timeout=10)  # the failure comes once every request is running

    def second_fails(*args: object) -> object:
        with lock:
            number = len(returned) + 1
            returned.append(None)
        all_started.wait()
        if number == 2:
            raise BackendError("scripted failure", retryable=False)
        reply = request(*args)  # type: ignore[arg-type]
        returned[number - 1] = reply
        return reply

    backend._request = second_fails  # type: ignore[method-assign]
    metered = Metered(backend)
    with pytest.raises(BackendError, match="scripted failure") as info:
        metered.generate(["p"], PARAMS, n=3)
    ok = [r for r in returned if r is not None]
    assert len(ok) == 2 and len(info.value.spent) == 2  # the other two requests were waited for
    assert metered.usage.completion_tokens == sum(c.n_tokens for r in ok for c in r.completions) > 0
    assert metered.usage.prompt_tokens == sum(r.prompt_tokens for r in ok) and metered.usage.calls == 1


def test_close_does_not_wait_for_a_capability_probe(make: Make, server: FixtureServer) -> None:
    server.knobs.gate = threading.Event()  # every POST is held until the gate opens
    backend = make(native_n=None)

    raised: list[BaseException] = []

    def detect() -> None:
        try:
            backend.capabilities  # noqa: B018 - the property sends the probe
        except BaseException as exc:  # the test inspects whatever the probe thread raised
            raised.append(exc)

    probe = threading.Thread(target=detect)
    probe.start()
    for _ in range(500):  # wait until the probe's request has reached the server and is held there
        if server.count(COMPLETIONS):
            break
        probe.join(0.01)
    assert server.count(COMPLETIONS), "the capability probe sent no request"
    closer = threading.Thread(target=backend.close)
    closer.start()
    closer.join(5)
    closed_while_held = not closer.is_alive() and not server.knobs.gate.is_set()
    server.knobs.gate.set()
    probe.join(10)
    assert closed_while_held, "close() waited for the probe's request"
    assert not probe.is_alive()
    assert all(isinstance(e, BackendError) and "closed" in str(e) for e in raised), raised
    with pytest.raises(BackendError, match="closed"):
        backend.generate(["q"], PARAMS)


def test_every_call_on_a_closed_backend_is_a_backend_error(make: Make, server: FixtureServer) -> None:
    backend = make(model=None, native_n=None, logprobs=None)  # nothing known yet: each fact needs a request
    backend.close()
    with pytest.raises(BackendError, match=r"closed \(GET /models\)"):
        backend.model  # noqa: B018 - the property asks the server
    with pytest.raises(BackendError, match="closed"):
        backend.capabilities  # noqa: B018 - the property probes the server
    with pytest.raises(BackendError, match="closed"):
        backend._workers.run_all([lambda: None, lambda: None])  # type: ignore[list-item]
    assert server.count(COMPLETIONS) == 0

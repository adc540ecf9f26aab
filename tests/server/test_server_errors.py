"""Bad requests and refusals over raw HTTP: every error is an OpenAI-style body with the right status."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import openai
import pytest
from gated import DownBackend, GatedBackend, Start, wait_until

from ponder.backends.fake import FakeBackend
from ponder.server import Limits
from ponder.server.runner import InThread

CHAT = "/v1/chat/completions"
Q = [{"role": "user", "content": "What is 6 * 7?"}]


def post(srv: InThread, body: Any, path: str = CHAT, **kwargs: Any) -> httpx.Response:
    if isinstance(body, dict):
        kwargs["json"] = body
    else:
        kwargs["content"] = body
    return httpx.post(srv.url + path, timeout=20, **kwargs)


def error_of(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error  # type: ignore[no-any-return]


def test_malformed_json(shared: InThread):
    error = error_of(
        post(shared, b'{"model": "fake", "messages": [', headers={"content-type": "application/json"}), 400
    )
    assert error["code"] == "invalid_json" and "malformed JSON" in error["message"]
    assert error_of(post(shared, b"[1, 2]"), 400)["code"] == "invalid_json"


def test_missing_and_invalid_fields_name_the_param(shared: InThread):
    error = error_of(post(shared, {"model": "fake"}), 400)
    assert error["param"] == "messages" and error["code"] == "missing_required_parameter"
    error = error_of(post(shared, {"model": "fake", "messages": Q, "temperature": -1}), 400)
    assert error["param"] == "temperature"
    error = error_of(post(shared, {"model": "fake", "messages": Q, "n": 99}), 400)
    assert error["param"] == "n" and "16" in error["message"]


def test_unknown_strategy_suggests_the_close_name(shared: InThread):
    error = error_of(post(shared, {"model": "ponder:self_consistensy", "messages": Q}), 400)
    assert error["code"] == "unknown_strategy" and error["param"] == "model"
    assert "Did you mean 'self_consistency'" in error["message"]
    error = error_of(post(shared, {"model": "fake", "messages": Q, "ponder": {"strategy": "bem_search"}}), 400)
    assert "beam_search" in error["message"]


def test_unknown_model_is_404_with_the_known_ones(shared: InThread):
    error = error_of(post(shared, {"model": "gpt-4o", "messages": Q}), 404)
    assert error["code"] == "model_not_found" and "'fake'" in error["message"]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": "ponder:self_consistency?n=abc", "messages": Q}, "model", "not a valid int"),
        ({"model": "ponder:self_consistency?bogus=1", "messages": Q}, "model", "unknown parameter 'bogus'"),
        ({"model": "ponder:self_consistency", "messages": Q, "ponder": {"n": 0}}, "ponder", "n must be"),
        ({"model": "ponder:self_consistency", "messages": Q, "ponder": {"nn": 2}}, "ponder", "unknown parameter"),
        ({"model": "ponder:cot", "messages": Q, "reasoning_effort": "extreme"}, "reasoning_effort", "low"),
        ({"model": "ponder:cot", "messages": Q, "ponder": {"scorer": "judje"}}, "ponder.scorer", "judge"),
        ({"model": "ponder:cot", "messages": Q, "ponder": {"task": "maths"}}, "ponder.task", "math"),
        ({"model": "ponder:cot", "messages": [{"role": "system", "content": "hi"}]}, "messages", "user message"),
        ({"model": "ponder:cot", "messages": Q, "ponder": {"strategy": "mcts"}}, "ponder.strategy", "cot"),
    ],
)
def test_invalid_parameters_are_400(shared: InThread, body: dict[str, Any], param: str, words: str):
    error = error_of(post(shared, body), 400)
    assert error["param"] == param and words in error["message"]


def test_strategy_config_errors_are_400(shared: InThread):
    body = {"model": "ponder:best_of_n?n=2", "messages": Q, "ponder": {"scorer": "judge", "weighted": "maybe"}}
    assert error_of(post(shared, body), 400)["param"] == "ponder.weighted"
    run_time = error_of(post(shared, {"model": "ponder:revisions?select=best", "messages": Q}), 400)
    assert "needs a scorer" in run_time["message"] and run_time["code"] == "invalid_parameter"


def test_oversize_body_is_413(start: Start):
    srv = start(limits=Limits(max_body_bytes=2000))
    big = {"model": "fake", "messages": [{"role": "user", "content": "x" * 5000}]}
    assert error_of(post(srv, big), 413)["code"] == "too_large"

    def chunked() -> Any:  # no Content-Length: the limit is enforced while reading
        yield b'{"model": "fake", "messages": [{"role": "user", "content": "'
        yield b"x" * 5000
        yield b'"}]}'

    assert error_of(post(srv, chunked()), 413)["code"] == "too_large"


def test_api_key(start: Start):
    srv = start(api_key="s3cret")
    body = {"model": "fake", "messages": Q}
    assert error_of(post(srv, body), 401)["code"] == "invalid_api_key"
    wrong = post(srv, body, headers={"Authorization": "Bearer nope"})
    assert error_of(wrong, 401)["message"] == "incorrect API key provided"
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert error_of(httpx.get(srv.url + "/v1/models"), 401)["code"] == "invalid_api_key"
    assert post(srv, body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert httpx.get(srv.url + "/health").json() == {"status": "ok"}
    with (
        openai.OpenAI(base_url=f"{srv.url}/v1", api_key="nope", max_retries=0) as c,
        pytest.raises(openai.AuthenticationError),
    ):
        c.models.list()


def test_queue_full_is_429_with_retry_after(start: Start):
    backend = GatedBackend(block_on=1)
    srv = start(backend, limits=Limits(max_concurrency=1, max_queue=1))
    body = {"model": "ponder:cot", "messages": Q}
    results: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: results.append(post(srv, body))) for _ in range(2)]
    for t in threads:
        t.start()
    wait_until(lambda: srv.state.gate.active == 1 and srv.state.gate.waiting == 1)
    busy = post(srv, body)
    assert error_of(busy, 429)["type"] == "rate_limit_error" and busy.headers["retry-after"] == "1"
    backend.release.set()
    for t in threads:
        t.join(20)
    assert [r.status_code for r in results] == [200, 200]
    wait_until(lambda: srv.state.gate.active == 0 and not srv.state.live)


@pytest.mark.parametrize(("retryable", "status"), [(False, 502), (True, 503)])
def test_backend_down_is_502_or_503_retry_only_when_it_may_help(start: Start, retryable: bool, status: int):
    srv = start(DownBackend(retryable))
    for body in ({"model": "ponder:self_consistency?n=2", "messages": Q}, {"model": "fake", "messages": Q}):
        resp = post(srv, body)
        error = error_of(resp, status)
        assert error["type"] == "server_error" and "connection refused" in error["message"]
        assert resp.headers["x-should-retry"] == str(retryable).lower()
        assert (int(resp.headers["retry-after"]) > 0) if retryable else "retry-after" not in resp.headers
    resp = post(srv, {"model": "fake", "prompt": "hi"}, path="/v1/completions")
    assert error_of(resp, status)["code"] in ("backend_error", "backend_unavailable")


def test_a_failed_run_keeps_the_runs_finished_before_it(start: Start):
    srv = start(FakeBackend(fail_on_call=2))  # self_consistency samples in one call: run 2 of 3 fails
    resp = post(srv, {"model": "ponder:self_consistency?n=2", "messages": Q, "n": 3, "seed": 4})
    assert error_of(resp, 502)["code"] == "backend_error"
    done = resp.json()["ponder"]
    [choice] = done["completed_choices"]
    ok = post(start(FakeBackend()), {"model": "ponder:self_consistency?n=2", "messages": Q, "n": 1, "seed": 4})
    assert choice["text"] == ok.json()["choices"][0]["message"]["content"]  # the same run 1, seed 4
    assert done["usage"]["completion_tokens"] == ok.json()["usage"]["completion_tokens"] > 0
    assert [run["answer"] for run in done["runs"]] == [ok.json()["ponder"]["runs"][0]["answer"]]


def test_timeout_is_504_and_cancels_the_work(start: Start):
    backend = GatedBackend(block_on=1)
    srv = start(backend, limits=Limits(timeout=0.5))
    resp = post(srv, {"model": "ponder:self_consistency?n=2", "messages": Q, "n": 3})
    assert error_of(resp, 504) and resp.headers["x-should-retry"] == "false"  # a retry would redo the long work
    [job] = list(srv.state.live)
    assert job.token.cancelled
    backend.release.set()
    wait_until(lambda: not srv.state.live and srv.state.gate.active == 0)
    assert len(backend.calls) == 1  # the call in flight finished; the other two runs never started


def test_a_timeout_is_answered_not_raised_as_a_crash():
    from fastapi.testclient import TestClient

    from ponder.server import ServerState, create_app

    backend = GatedBackend(block_on=1)
    state = ServerState(backend, limits=Limits(timeout=0.3))
    try:
        with TestClient(create_app(state), raise_server_exceptions=True) as tc:  # a re-raise fails the call
            resp = tc.post(CHAT, json={"model": "ponder:self_consistency?n=2", "messages": Q})
    finally:
        backend.release.set()
    assert error_of(resp, 504)["code"] == "cancelled"


def test_unknown_route_and_method_have_openai_bodies(shared: InThread):
    assert error_of(httpx.get(shared.url + "/v1/nothing"), 404)["type"] == "not_found_error"
    assert error_of(httpx.get(shared.url + CHAT), 405)


def test_openai_client_raises_typed_errors(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError, match="Did you mean"):
        client.chat.completions.create(model="ponder:beam_serch", messages=Q)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=Q)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ponder", "words"),
    [
        ({"solve_with": "code"}, "solve_with must be one of reasoning, program, got 'code'"),
        ({"solve_with": "program", "task": "game24"}, "task 'game24' has no solve_with option"),
    ],
)
def test_bad_solve_with_is_400(shared: InThread, ponder: dict[str, Any], words: str):
    error = error_of(post(shared, {"model": "ponder:cot", "messages": Q, "ponder": ponder}), 400)
    assert error["param"] == "ponder.solve_with" and words in error["message"]

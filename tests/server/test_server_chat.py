"""The server driven by the unchanged official ``openai`` client: chat completions, streaming and models."""

from __future__ import annotations

from typing import Any

import openai
from gated import Start

from ponder.backends.fake import FakeBackend
from ponder.types import Message, SamplingParams

Q = [{"role": "user", "content": "What is 6 * 7?"}]


def ponder_field(obj: Any) -> dict[str, Any]:
    return (obj.model_extra or {}).get("ponder") or {}


def test_strategy_in_the_model_string(client: openai.OpenAI):
    r = client.chat.completions.create(model="ponder:self_consistency?n=5", messages=Q, seed=3)
    assert r.object == "chat.completion" and r.model == "ponder:self_consistency?n=5"
    [choice] = r.choices
    assert choice.index == 0 and choice.finish_reason == "stop" and choice.message.role == "assistant"
    info = ponder_field(r)
    run = info["runs"][0]
    assert info["strategy"] == "self_consistency" and info["config"]["n"] == 5 and info["seeds"] == [3]
    assert len(run["candidates"]) == 5 and run["answer"] is not None
    assert choice.message.content.rstrip(".").endswith(f"\\boxed{{{run['answer']}}}")
    # usage counts every token of all 5 samples, from the metering wrapper
    assert r.usage is not None
    assert (
        r.usage.completion_tokens == sum(c["n_tokens"] for c in run["candidates"]) == run["usage"]["completion_tokens"]
    )
    assert r.usage.prompt_tokens == run["usage"]["prompt_tokens"] > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_same_seed_same_answer_and_n_gives_independent_runs(client: openai.OpenAI):
    a = client.chat.completions.create(model="ponder:self_consistency?n=3", messages=Q, seed=7)
    b = client.chat.completions.create(model="ponder:self_consistency?n=3", messages=Q, seed=7)
    assert a.choices[0].message.content == b.choices[0].message.content
    two = client.chat.completions.create(model="ponder:self_consistency?n=3", messages=Q, seed=7, n=2)
    assert [c.index for c in two.choices] == [0, 1]
    info = ponder_field(two)
    assert info["seeds"] == [7, 8] and len(info["runs"]) == 2
    assert two.choices[0].message.content == a.choices[0].message.content
    assert two.usage is not None and a.usage is not None
    assert two.usage.completion_tokens == sum(r["usage"]["completion_tokens"] for r in info["runs"])


def test_extra_body_ponder_field_picks_strategy_and_default_scorer(client: openai.OpenAI):
    r = client.chat.completions.create(
        model="fake", messages=Q, seed=0, extra_body={"ponder": {"strategy": "beam_search", "n": 4, "beam_width": 2}}
    )
    info = ponder_field(r)
    assert info["strategy"] == "beam_search" and info["config"]["n"] == 4
    assert r.choices[0].message.content
    run = info["runs"][0]
    assert run["usage"]["calls"] > 1  # search: many backend calls, all counted
    assert r.usage is not None and r.usage.completion_tokens == run["usage"]["completion_tokens"]


def test_reasoning_effort_sets_the_budget(client: openai.OpenAI):
    high = client.chat.completions.create(model="ponder:self_consistency", messages=Q, reasoning_effort="high", seed=1)
    assert ponder_field(high)["config"]["n"] == 16
    low = client.chat.completions.create(model="fake", messages=Q, reasoning_effort="low", seed=1)
    assert ponder_field(low)["strategy"] == "self_consistency" and ponder_field(low)["config"]["n"] == 1
    explicit = client.chat.completions.create(model="ponder:self_consistency?n=3", messages=Q, reasoning_effort="high")
    assert ponder_field(explicit)["config"]["n"] == 3


def test_system_message_replaces_the_task_system_prompt(start: Start):
    backend = FakeBackend()
    srv = start(backend)
    with openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0) as c:
        msgs = [{"role": "system", "content": "Answer like a pirate."}, *Q]
        c.chat.completions.create(model="ponder:cot", messages=msgs)
    [(prompts, _, _)] = backend.calls
    assert "Answer like a pirate." in prompts[0] and "What is 6 * 7?" in prompts[0]


def test_base_model_is_a_plain_sample(start: Start):
    backend = FakeBackend()
    srv = start(backend)
    with openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0) as c:
        r = c.chat.completions.create(
            model="fake", messages=Q, n=2, seed=5, temperature=0.3, max_tokens=6, stop=["\n\n"], logprobs=True
        )
    assert len(backend.calls) == 1
    [(prompts, params, n)] = backend.calls
    assert n == 2 and params == SamplingParams(temperature=0.3, max_tokens=6, stop=("\n\n",), seed=5, logprobs=0)
    assert prompts[0] == backend.render([Message("user", "What is 6 * 7?")])  # the messages as sent, no task prompt
    expected = FakeBackend().generate(prompts, params, 2)[0].completions
    assert [c.message.content for c in r.choices] == [c.text for c in expected]
    assert r.choices[0].logprobs is not None and r.choices[0].logprobs.content
    assert ponder_field(r) == {}
    assert r.usage is not None and r.usage.completion_tokens == sum(c.n_tokens for c in expected)


def test_streaming_sends_progress_then_the_answer(client: openai.OpenAI):
    kwargs: dict[str, Any] = {"model": "ponder:self_consistency?n=4", "messages": Q, "seed": 2, "n": 2}
    whole = client.chat.completions.create(**kwargs)
    stream = client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(ch.object == "chat.completion.chunk" and ch.id == chunks[0].id for ch in chunks)
    assert [c.delta.role for c in chunks[0].choices] == ["assistant", "assistant"]
    progress = [ponder_field(ch) for ch in chunks if "progress" in ponder_field(ch)]
    assert progress and progress[-1]["progress"] == progress[-1]["total"] == 8
    for i in range(2):
        text = "".join(c.delta.content or "" for ch in chunks for c in ch.choices if c.index == i)
        assert text == whole.choices[i].message.content
        finish = [c.finish_reason for ch in chunks for c in ch.choices if c.index == i and c.finish_reason]
        assert finish == ["stop"]
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None and whole.usage is not None
    assert usage.completion_tokens == whole.usage.completion_tokens
    assert ponder_field(chunks[-2])["runs"][0]["answer"] == ponder_field(whole)["runs"][0]["answer"]


def test_models_lists_the_base_model_first_then_strategies(client: openai.OpenAI):
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "fake"
    assert {"ponder:self_consistency", "ponder:beam_search", "ponder:best_of_n"} <= set(ids)


def test_server_sampling_defaults_hold_where_the_request_is_silent(start: Start):
    backend = FakeBackend()
    defaults = SamplingParams(temperature=0.5, max_tokens=32, stop=("END",), seed=11)
    srv = start(backend, params=defaults)
    with openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0) as c:
        c.chat.completions.create(model="fake", messages=Q)
        c.chat.completions.create(model="fake", messages=Q, stop=["\n"], seed=3)
    [(_, silent, _), (_, given, _)] = backend.calls
    assert (silent.stop, silent.seed, silent.temperature) == (("END",), 11, 0.5)
    assert (given.stop, given.seed, given.temperature) == (("\n",), 3, 0.5)


def test_a_run_without_candidates_answers_empty_content_with_finish_reason_length() -> None:
    from ponder.api import get_task
    from ponder.server.chat import ChatPlan
    from ponder.server.chat_out import ChoiceOut
    from ponder.types import Candidate, Result, Usage

    plan = ChatPlan(None, None, SamplingParams(max_tokens=50), 1, [], task=get_task("math"))  # type: ignore[arg-type]
    empty = Result("q", "mcts", None, (), Usage())
    answered = Result("q", "mcts", "5", (Candidate("so \\boxed{5}", "5", n_tokens=4),), Usage(), selected=0)
    assert plan._choice(empty) == ChoiceOut("", "length")
    assert plan._choice(answered) == ChoiceOut("so \\boxed{5}", "stop")


def test_solve_with_program_runs_the_models_code(start: Start):
    code = "```python\ndef solution():\n    return 6 * 7.0\n```"
    backend = FakeBackend([code, "```python\nprint(40 + 2)\n```", "no code at all"])
    srv = start(backend)
    with openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0) as c:
        r = c.chat.completions.create(
            model="ponder:self_consistency?n=3&solve_with=program", messages=Q, extra_body={"ponder": {"trace": True}}
        )
    assert "solution()" in backend.calls[0][0][0]  # the program prompt, not the reasoning one
    [run] = ponder_field(r)["runs"]
    assert [c["answer"] for c in run["candidates"]] == ["42", "42", None]  # 42.0 returned, "42" printed; prose
    votes = [e["data"]["votes"] for e in run["trace"] if e["kind"] == "vote"]
    assert votes == [{"42": 2}] and run["answer"] == "42"
    with openai.OpenAI(base_url=f"{srv.url}/v1", api_key="x", max_retries=0) as c:
        msgs = [{"role": "system", "content": "Be brief."}, *Q]
        c.chat.completions.create(model="ponder:cot?solve_with=program", messages=msgs)
    prompt = backend.calls[-1][0][0]
    assert "solution()" in prompt and "Be brief." in prompt  # a client system message adds to the program prompt

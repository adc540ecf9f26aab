"""OpenAIBackend against a real HTTP server (fixture_server.py) through the real openai client:
prompts, sampling, logprobs, stop strings, usage."""

from __future__ import annotations

import pytest
from fixture_server import FixtureServer, chat_key, reply_text, token_logprob, tokenize
from openai_support import CHAT, COMPLETIONS, PARAMS, S0, S1, S2, Make

from ponder.backends.base import Backend
from ponder.backends.openai_prompts import CHAT_MARKER
from ponder.budget import Budget, Meter, Metered
from ponder.errors import ConfigError
from ponder.types import Message

# -- completions mode ----------------------------------------------------------------------------------------


def test_completion_text_finish_reason_and_usage(make: Make, server: FixtureServer) -> None:
    backend = make()
    [gen] = backend.generate(["Hello there world"], PARAMS)
    [c] = gen.completions
    assert c.text == reply_text("Hello there world", S0, 0)
    assert c.finish_reason == "stop" and c.stop_reason is None and c.logprobs is None
    assert c.n_tokens == len(tokenize(c.text))
    assert (gen.prompt_tokens, gen.cached_prompt_tokens) == (3, 2)
    [body] = server.bodies(COMPLETIONS)
    assert body["prompt"] == "Hello there world" and body["seed"] == S0 and body["max_tokens"] == 64
    assert "n" not in body and "logprobs" not in body

    [short] = backend.generate(["Hello there world"], PARAMS.replace(max_tokens=3))
    assert short.completions[0].finish_reason == "length" and short.completions[0].n_tokens == 3


def test_same_seed_same_text_and_results_in_prompt_order(make: Make) -> None:
    backend = make()
    prompts = [f"question {i}" for i in range(5)]
    first = backend.generate(prompts, PARAMS, n=2)
    again = backend.generate(prompts, PARAMS, n=2)
    other = backend.generate(prompts, PARAMS.replace(seed=12), n=2)
    assert first == again
    assert [g.completions[0].text for g in first] == [reply_text(p, S0, 0) for p in prompts]
    assert [c.text for c in first[0].completions] != [c.text for c in other[0].completions]


def test_native_n_sends_one_request_per_prompt(make: Make, server: FixtureServer) -> None:
    backend = make(native_n=True)
    gens = backend.generate(["p one", "p two"], PARAMS, n=3)
    assert server.count(COMPLETIONS) == 2
    assert all(b["n"] == 3 and b["seed"] == S0 for b in server.bodies(COMPLETIONS))
    for prompt, gen in zip(["p one", "p two"], gens, strict=True):
        assert [c.text for c in gen.completions] == [reply_text(prompt, S0, i) for i in range(3)]
        assert len({c.text for c in gen.completions}) == 3


def test_n_emulated_with_distinct_seeds_when_server_rejects_n(make: Make, server: FixtureServer) -> None:
    server.knobs.n = "reject"
    backend = make(native_n=None)
    assert backend.capabilities.native_n is False
    server.reset()
    [gen] = backend.generate(["p one"], PARAMS, n=3)
    bodies = server.bodies(COMPLETIONS)
    assert len(bodies) == 3 and all("n" not in b for b in bodies)
    assert sorted(b["seed"] for b in bodies) == sorted([S0, S1, S2]) and len({S0, S1, S2}) == 3
    assert [c.text for c in gen.completions] == [reply_text("p one", s, 0) for s in (S0, S1, S2)]
    [one] = backend.generate(["p one"], PARAMS)
    assert one.prompt_tokens > 0 and gen.prompt_tokens == 3 * one.prompt_tokens  # each request processed it


def test_server_ignoring_n_is_detected_and_topped_up(make: Make, server: FixtureServer) -> None:
    server.knobs.n = "ignore"
    assert make(native_n=None).capabilities.native_n is False
    server.reset()
    forced = make(native_n=True)  # told it works: the missing samples are filled with one request each
    [gen] = forced.generate(["p"], PARAMS, n=3)
    assert server.count(COMPLETIONS) == 3
    assert [c.text for c in gen.completions] == [reply_text("p", s, 0) for s in (S0, S1, S2)]
    [one] = forced.generate(["p"], PARAMS)
    assert one.prompt_tokens > 0 and gen.prompt_tokens == 3 * one.prompt_tokens  # the top-ups' prompts too


def test_capabilities_detected_once_and_cached(make: Make, server: FixtureServer) -> None:
    backend = make(native_n=None, logprobs=None, mode="auto")
    caps = backend.capabilities
    assert (caps.native_n, caps.logprobs, caps.continuation, caps.top_logprobs) == (True, True, True, 20)
    probes = server.count()
    assert probes == 3  # endpoint, n, logprobs
    assert backend.capabilities == caps and server.count() == probes
    assert isinstance(backend, Backend) and backend.name == "openai"


# -- logprobs -------------------------------------------------------------------------------------------------


def test_completion_logprobs_mapped(make: Make, server: FixtureServer) -> None:
    [gen] = make().generate(["Hi"], PARAMS.replace(logprobs=2))
    [c] = gen.completions
    assert server.bodies(COMPLETIONS)[0]["logprobs"] == 2
    assert c.logprobs is not None and "".join(t.token for t in c.logprobs) == c.text
    for i, tok in enumerate(c.logprobs):
        assert tok.logprob == token_logprob(i)
        assert tok.top == {tok.token: token_logprob(i), " alt0": token_logprob(i) - 1.0}


def test_chat_logprobs_mapped(make: Make, server: FixtureServer) -> None:
    backend = make(mode="chat")
    [gen] = backend.generate([backend.render([Message("user", "Hi")])], PARAMS.replace(logprobs=1))
    body = server.bodies(CHAT)[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 1
    lps = gen.completions[0].logprobs
    assert lps is not None and len(lps) == len(tokenize(gen.completions[0].text))
    assert [t.logprob for t in lps] == [token_logprob(i) for i in range(len(lps))]
    assert all(t.top == {t.token: t.logprob} for t in lps)


@pytest.mark.parametrize("behaviour", ["ignore", "reject"])
def test_logprobs_degrade_when_unsupported(make: Make, server: FixtureServer, behaviour: str) -> None:
    server.knobs.logprobs = behaviour  # type: ignore[assignment]
    backend = make(logprobs=None)
    assert backend.capabilities.logprobs is False and backend.capabilities.top_logprobs == 0
    server.reset()
    [gen] = backend.generate(["Hi"], PARAMS.replace(logprobs=3))
    assert gen.completions[0].logprobs is None and gen.completions[0].text
    assert "logprobs" not in server.bodies(COMPLETIONS)[0]


# -- chat fallback, rendering ---------------------------------------------------------------------------------


def test_auto_falls_back_to_chat_when_completions_is_404(make: Make, server: FixtureServer) -> None:
    server.knobs.completions = False
    backend = make(mode="auto")
    messages = [Message("system", "Be brief."), Message("user", "What is 6*7?")]
    prompt = backend.render(messages)
    assert backend.mode == "chat" and prompt.startswith(CHAT_MARKER)
    assert backend.capabilities.continuation is False
    [gen] = backend.generate([prompt], PARAMS)
    sent = server.bodies(CHAT)[-1]["messages"]
    assert sent == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 6*7?"}]
    assert gen.completions[0].text == reply_text(chat_key(sent), S0, 0)
    with pytest.raises(ConfigError, match="cannot continue"):
        backend.generate([prompt + "Step one."], PARAMS)


def test_auto_uses_completions_and_chatml_when_available(make: Make, server: FixtureServer) -> None:
    backend = make(mode="auto")
    prompt = backend.render([Message("user", "What is 6*7?")])
    assert backend.mode == "completions" and backend.capabilities.continuation is True
    assert prompt == "<|im_start|>user\nWhat is 6*7?<|im_end|>\n<|im_start|>assistant\n"
    [gen] = backend.generate([prompt + "Step one."], PARAMS)  # continuation of a rendered prompt
    assert server.bodies(COMPLETIONS)[-1]["prompt"] == prompt + "Step one."
    assert gen.completions[0].text == reply_text(prompt + "Step one.", S0, 0)


def test_prompt_forms_across_modes(make: Make, server: FixtureServer) -> None:
    chat = make(mode="chat")
    chat.generate(["a plain string"], PARAMS)  # not rendered: sent as one user message
    assert server.bodies(CHAT)[-1]["messages"] == [{"role": "user", "content": "a plain string"}]
    completions = make(mode="completions")
    completions.generate([chat.render([Message("user", "hi")])], PARAMS)  # rendered for chat: re-rendered
    assert server.bodies(COMPLETIONS)[-1]["prompt"] == completions.render([Message("user", "hi")])


def test_custom_jinja_chat_template(make: Make) -> None:
    template = (
        "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant] {% endif %}"
    )
    backend = make(chat_template=template)
    assert backend.render([Message("user", "hi")]) == "[user] hi\n[assistant] "
    with pytest.raises(ConfigError, match="chat_template"):
        make(chat_template="{% for %}")


def test_continuation_true_rejected_in_chat_mode(make: Make, server: FixtureServer) -> None:
    with pytest.raises(ConfigError, match="continuation"):
        make(mode="chat", continuation=True)
    server.knobs.completions = False
    with pytest.raises(ConfigError, match="continuation"):
        _ = make(mode="auto", continuation=True).mode


# -- stop strings ---------------------------------------------------------------------------------------------


def test_more_than_four_stop_strings_applied_client_side(make: Make, server: FixtureServer) -> None:
    stops = ("XA", "XB", "XC", "XD", "two")
    [gen] = make().generate(["q"], PARAMS.replace(stop=stops, logprobs=0))
    assert server.bodies(COMPLETIONS)[0]["stop"] == ["XA", "XB", "XC", "XD"]  # the server takes at most 4
    full = reply_text("q", S0, 0)
    c = gen.completions[0]
    assert c.text == full[: full.index("two")] and c.finish_reason == "stop" and c.stop_reason == "two"
    assert c.logprobs is not None and "".join(t.token for t in c.logprobs).startswith(c.text)
    assert c.n_tokens == len(tokenize(full))  # tokens the server generated, including the cut-off part


@pytest.mark.parametrize("named", [True, False])
def test_server_side_stop_string(make: Make, server: FixtureServer, named: bool) -> None:
    server.knobs.stop_reason = named  # vLLM names the matched stop string; OpenAI does not
    [gen] = make().generate(["q"], PARAMS.replace(stop=("\n\n",)))
    c = gen.completions[0]
    assert c.text == reply_text("q", S0, 0).split("\n\n")[0] and c.finish_reason == "stop"
    assert c.stop_reason == ("\n\n" if named else None)


# -- usage ----------------------------------------------------------------------------------------------------


def test_missing_usage_counts_from_logprobs_or_estimate(make: Make, server: FixtureServer) -> None:
    server.knobs.usage = False
    backend = make()
    [with_lp] = backend.generate(["a b c"], PARAMS.replace(logprobs=0))
    [plain] = backend.generate(["a b c"], PARAMS)
    [cut] = backend.generate(["a b c"], PARAMS.replace(max_tokens=2))
    assert (with_lp.prompt_tokens, with_lp.cached_prompt_tokens) == (0, 0)
    assert with_lp.completions[0].n_tokens == len(tokenize(with_lp.completions[0].text))
    assert plain.completions[0].n_tokens > 0
    assert cut.completions[0].n_tokens == 2


def test_native_n_token_counts(make: Make, server: FixtureServer) -> None:
    backend = make(native_n=True)
    [gen] = backend.generate(["q"], PARAMS, n=3)
    [reply] = [r for r in server.requests if r.path == COMPLETIONS]
    server_total = sum(len(tokenize(reply_text("q", S0, i))) for i in range(3))
    assert sum(c.n_tokens for c in gen.completions) == server_total  # usage total split over the choices
    [exact] = backend.generate(["q"], PARAMS.replace(logprobs=0), n=3)
    assert [c.n_tokens for c in exact.completions] == [len(tokenize(c.text)) for c in exact.completions]
    assert reply.body["n"] == 3


def test_cached_tokens_default_to_zero(make: Make, server: FixtureServer) -> None:
    server.knobs.cached_tokens = None
    [gen] = make().generate(["a b c d"], PARAMS)
    assert (gen.prompt_tokens, gen.cached_prompt_tokens) == (4, 0)


def test_works_through_metered(make: Make, server: FixtureServer) -> None:
    meter = Meter(Budget(max_completion_tokens=10_000))
    metered = Metered(make(n_params=1000), meter)
    gens = metered.generate(["one two", "three four five"], PARAMS, n=2, tags=["a", "b"])
    generated = sum(c.n_tokens for g in gens for c in g.completions)
    assert metered.usage.calls == 1 and metered.usage.completion_tokens == generated
    assert metered.usage.prompt_tokens == 2 + 3 and metered.usage.cached_prompt_tokens == 2 + 2
    assert meter.usage_for("b").prompt_tokens == 3 and metered.model == "test-model"
    assert metered.usage.flops == 2.0 * 1000 * ((2 - 2) + (3 - 2) + generated)

"""The llama.cpp backend: batched shared-prefix decoding, prefix cache, sampling, stops, logprobs.

Model tests run the real SmolLM2-135M (see conftest.py) with small max_tokens; the bookkeeping, sampling and
text pieces are also tested on their own, without a model.
"""

from __future__ import annotations

import numpy as np
import pytest

from ponder.backends.base import Backend
from ponder.backends.llamacpp_kv import KVCache, common_prefix
from ponder.backends.llamacpp_sampling import choose, log_softmax, make_rng, top_ids
from ponder.backends.llamacpp_text import ChatTemplate, TextStream
from ponder.errors import BackendError, ConfigError
from ponder.types import Message, SamplingParams

GREEDY = SamplingParams(temperature=0, max_tokens=16)
COUNT = "Count from one to fifty: one, two, three,"


def chat(backend, question: str) -> str:
    return backend.render([Message("user", question)])


def decoded_for(gen) -> int:
    """Tokens llama.cpp must evaluate for a generation: new prompt tokens, then every sampled token but the last."""
    return gen.prompt_tokens - gen.cached_prompt_tokens + sum(c.n_tokens - 1 for c in gen.completions)


# -- with the real model ----------------------------------------------------------------------------------------


def test_protocol_and_capabilities(small_backend):
    assert isinstance(small_backend, Backend)
    assert small_backend.name == "llamacpp" and small_backend.model == "smollm2-135m"
    assert small_backend.n_params == 135_000_000
    caps = small_backend.capabilities
    assert caps.logprobs and caps.native_n and caps.prefix_cache and caps.continuation and caps.stop_strings
    assert caps.top_logprobs == 20


def test_render_uses_the_models_template(small_backend):
    prompt = small_backend.render([Message("system", "Be brief."), Message("user", "Hi")])
    assert not small_backend.template.is_fallback
    assert prompt == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    # the template's own default system prompt appears when none is given
    assert small_backend.render([Message("user", "Hi")]).startswith("<|im_start|>system\nYou are a helpful AI")
    # special tokens are parsed as single tokens
    assert small_backend.tokenize("<|im_start|>user")[0] == small_backend.tokenize("<|im_start|>")[0]


def test_batched_greedy_equals_alone_and_is_deterministic(small_backend):
    prompts = [chat(small_backend, q) for q in ("What is 6 times 7?", "Name three colors.", COUNT)]
    small_backend.clear_cache()
    batched = small_backend.generate(prompts, GREEDY, n=2)
    again = small_backend.generate(prompts, GREEDY, n=2)
    assert [[c.text for c in g.completions] for g in again] == [[c.text for c in g.completions] for g in batched]
    for prompt, gen in zip(prompts, batched, strict=True):
        small_backend.clear_cache()
        [alone] = small_backend.generate([prompt], GREEDY)
        assert alone.cached_prompt_tokens == 0
        assert [c.text for c in gen.completions] == [alone.completions[0].text] * 2
        assert gen.completions[0].n_tokens == alone.completions[0].n_tokens


def test_seeds_reproduce_and_differ(small_backend):
    prompt = chat(small_backend, "Tell me a story about a dragon.")
    params = SamplingParams(temperature=1.0, max_tokens=12, seed=7)
    first = [c.text for c in small_backend.generate([prompt], params, n=3)[0].completions]
    second = [c.text for c in small_backend.generate([prompt], params, n=3)[0].completions]
    other = [c.text for c in small_backend.generate([prompt], params.replace(seed=8), n=3)[0].completions]
    assert first == second
    assert len(set(first)) == 3  # each sample has its own seed
    assert all(a != b for a, b in zip(first, other, strict=True))


def test_n_samples_process_the_prompt_once(small_backend):
    prompt = chat(small_backend, "Why is the sky blue?")
    small_backend.clear_cache()
    before = small_backend.tokens_decoded
    [gen] = small_backend.generate([prompt], SamplingParams(temperature=1.0, max_tokens=8, seed=1), n=5)
    assert gen.prompt_tokens == len(small_backend.tokenize(prompt)) and gen.cached_prompt_tokens == 0
    assert len(gen.completions) == 5
    assert small_backend.tokens_decoded - before == decoded_for(gen)


def test_two_prompts_times_three(small_backend):
    prompts = [chat(small_backend, "Say yes."), COUNT]
    small_backend.clear_cache()
    before = small_backend.tokens_decoded
    gens = small_backend.generate(prompts, SamplingParams(temperature=0.8, max_tokens=6, seed=2), n=3)
    assert [len(g.completions) for g in gens] == [3, 3]
    assert [g.prompt_tokens for g in gens] == [len(small_backend.tokenize(p)) for p in prompts]
    assert small_backend.tokens_decoded - before == sum(decoded_for(g) for g in gens)
    assert gens[1].completions[0].finish_reason == "length" and gens[1].completions[0].n_tokens == 6


def test_extending_a_prompt_reuses_the_cache(small_backend, small_model_path):
    from ponder.backends.llamacpp import LlamaCppBackend

    prompt = chat(small_backend, "Explain photosynthesis in one paragraph.")
    small_backend.clear_cache()
    [first] = small_backend.generate([prompt], GREEDY)
    extended = prompt + first.completions[0].text
    before = small_backend.tokens_decoded
    [second] = small_backend.generate([extended], GREEDY)
    assert second.cached_prompt_tokens >= first.prompt_tokens
    assert second.prompt_tokens == len(small_backend.tokenize(extended))
    assert small_backend.tokens_decoded - before == decoded_for(second)
    with LlamaCppBackend(str(small_model_path), n_ctx=1024, n_seq_max=4, n_threads=1) as fresh:
        [cold] = fresh.generate([extended], GREEDY)
    assert cold.cached_prompt_tokens == 0
    assert cold.completions[0].text == second.completions[0].text


def test_max_tokens_ends_with_length(small_backend):
    [gen] = small_backend.generate([COUNT], SamplingParams(temperature=0, max_tokens=5, logprobs=0))
    [c] = gen.completions
    assert (c.finish_reason, c.n_tokens, c.stop_reason) == ("length", 5, None)
    assert c.logprobs is not None and len(c.logprobs) == 5 and all(t.top == {} for t in c.logprobs)
    assert "".join(t.token for t in c.logprobs) == c.text


def test_stop_string_across_token_boundary(small_backend):
    params = SamplingParams(temperature=0, max_tokens=24, logprobs=0)
    [gen] = small_backend.generate([COUNT], params)
    full = gen.completions[0]
    pieces = [t.token for t in full.logprobs]
    assert "".join(pieces) == full.text
    # a stop string made of the last character of token i and the first of token i + 1
    for i in range(len(pieces) - 1):
        stop = pieces[i][-1:] + pieces[i + 1][:1]
        end_of_i = len("".join(pieces[: i + 1]))
        if len(stop) == 2 and full.text.find(stop) == end_of_i - 1:
            break
    else:
        pytest.fail(f"no usable token boundary in {pieces}")
    [cut] = small_backend.generate([COUNT], params.replace(stop=("@@never@@", stop)))
    c = cut.completions[0]
    assert (c.text, c.finish_reason, c.stop_reason) == (full.text[: end_of_i - 1], "stop", stop)
    assert c.n_tokens == i + 2 == len(c.logprobs)


def test_logprobs_are_normalised_and_sorted(small_backend):
    prompt = chat(small_backend, "What is the capital of France?")
    [greedy] = small_backend.generate([prompt], SamplingParams(temperature=0, max_tokens=6, logprobs=5))
    for t in greedy.completions[0].logprobs:
        values = list(t.top.values())
        assert t.logprob <= 0 and all(v <= 0 for v in values)
        assert values == sorted(values, reverse=True) and 1 <= len(values) <= 5
        assert next(iter(t.top)) == t.token and values[0] == pytest.approx(t.logprob)
    [sampled] = small_backend.generate([prompt], SamplingParams(temperature=1.0, max_tokens=6, seed=4, logprobs=3))
    for t in sampled.completions[0].logprobs:
        assert t.logprob <= max(t.top.values()) <= 0
        if t.token in t.top:
            assert t.top[t.token] == pytest.approx(t.logprob)


def test_waves_when_samples_exceed_sequences(small_model_path):
    from ponder.backends.llamacpp import LlamaCppBackend

    with LlamaCppBackend(str(small_model_path), n_ctx=1024, n_seq_max=4, n_threads=1) as b:
        [one] = b.generate([COUNT], GREEDY)
        b.clear_cache()
        before = b.tokens_decoded
        [gen] = b.generate([COUNT], GREEDY, n=7)
        assert [c.text for c in gen.completions] == [one.completions[0].text] * 7
        assert gen.cached_prompt_tokens == 0  # the prompt's logits were kept for the later waves
        assert b.tokens_decoded - before == decoded_for(gen)
        for _ in range(2):  # the cache stays within its slots over many calls
            b.generate([COUNT + " four,", "Hello"], GREEDY.replace(max_tokens=6), n=3)
        assert b._engine.kv.used_cells <= 1024


def test_preemption_when_the_cache_is_full(small_model_path):
    """8 counting prompts x 32 tokens need ~340 cells; a 256-cell cache must preempt and recompute, and stay
    deterministic. (Exact equality with a roomy cache is not expected: llama.cpp's CPU attention accumulates in
    FP16, so logits depend on the KV cells' order, which eviction changes.)"""
    from ponder.backends.llamacpp import LlamaCppBackend

    prompts = [f"Count from {w} to fifty: {w}," for w in ("one", "two", "three", "four", "five", "six", "seven", "ten")]
    params = SamplingParams(temperature=0, max_tokens=32)
    runs = []
    for _ in range(2):
        with LlamaCppBackend(str(small_model_path), n_ctx=256, n_seq_max=8, n_threads=1) as tight:
            gens = tight.generate(prompts, params)
            runs.append(([g.completions[0].text for g in gens], tight.tokens_decoded))
            assert tight.tokens_decoded > sum(decoded_for(g) for g in gens)  # preempted prefixes were recomputed
            assert tight._engine.kv.used_cells <= 256
            for g in gens:
                c = g.completions[0]
                assert c.n_tokens == 32 if c.finish_reason == "length" else c.n_tokens < 32
            with pytest.raises(BackendError, match=r"has \d+ tokens; the context holds n_ctx=256"):
                tight.generate(["word " * 300], params)
            [again] = tight.generate(prompts[:1], params.replace(max_tokens=4))  # still usable after the error
            assert again.completions[0].n_tokens == 4
    assert runs[0] == runs[1]


def test_close_is_idempotent_and_final(small_model_path):
    from ponder.backends.llamacpp import LlamaCppBackend

    b = LlamaCppBackend(str(small_model_path), n_ctx=256, n_seq_max=2, n_threads=1)
    assert b.n_params > 100_000_000  # read from the file when no catalogue entry applies
    b.close()
    b.close()
    with pytest.raises(BackendError, match="closed"):
        b.generate(["x"], GREEDY)


def test_bad_arguments(small_backend):
    with pytest.raises(ConfigError):
        small_backend.generate("a prompt", GREEDY)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        small_backend.generate(["a"], GREEDY, n=0)
    assert small_backend.generate([], GREEDY) == []


# -- without a model ------------------------------------------------------------------------------------------------


class FakeMemory:
    def __init__(self) -> None:
        self.ops: list[tuple] = []

    def seq_cp(self, src: int, dst: int, p0: int, p1: int) -> None:
        self.ops.append(("cp", src, dst, p0, p1))

    def seq_rm(self, seq: int, p0: int, p1: int) -> bool:
        self.ops.append(("rm", seq, p0, p1))
        return True

    def clear(self) -> None:
        self.ops.append(("clear",))


def test_kv_cells_are_shared_and_counted_once():
    mem = FakeMemory()
    kv = KVCache(mem, n_slots=4, n_cells=100)
    kv.activate(0)
    kv.appended(0, [1, 2, 3, 4])
    kv.activate(1)
    kv.copy_prefix(0, 1, 3)
    kv.appended(1, [9, 9])
    assert kv.tokens[1] == [1, 2, 3, 9, 9] and kv.used_cells == 6 and kv.free_cells == 94
    assert kv.best_prefix([1, 2, 3, 9, 7]) == (1, 4)
    assert kv.best_prefix([5]) == (None, 0)
    kv.release(0)
    kv.release(1)
    assert kv.cells_freed_by_evicting(0) == 1  # only token 4 is not shared
    assert kv.lru_cached() == 0
    kv.evict(0)
    assert kv.used_cells == 5 and kv.state[0] == "free" and kv.tokens[0] == []
    assert kv.truncate(1, 2) and kv.tokens[1] == [1, 2] and kv.used_cells == 2
    assert mem.ops == [("cp", 0, 1, 0, 3), ("rm", 0, -1, -1), ("rm", 1, 2, -1)]
    kv.reset()
    assert kv.used_cells == 0 and kv.slots_in("free") == [0, 1, 2, 3] and mem.ops[-1] == ("clear",)


def test_kv_lru_order_follows_use():
    kv = KVCache(FakeMemory(), n_slots=3, n_cells=10)
    for slot in range(3):
        kv.activate(slot)
        kv.appended(slot, [slot])
        kv.release(slot)
    kv.touch(0)
    assert kv.lru_cached() == 1 and kv.lru_cached(exclude=1) == 2


def test_common_prefix_long_lists():
    a = list(range(1000))
    assert common_prefix(a, a) == 1000
    assert common_prefix(a, [*a[:700], -1]) == 700
    assert common_prefix(a, []) == 0


def test_sampling_rules():
    row = np.array([0.0, 2.0, 1.0, 2.0], dtype=np.float32)
    rng = make_rng(0)
    assert choose(row, SamplingParams(temperature=0), rng) == 1  # ties go to the lowest id
    assert all(choose(row, SamplingParams(temperature=5, top_k=1), rng) in (1, 3) for _ in range(20))
    assert {choose(row, SamplingParams(temperature=1, top_p=0.01), rng) for _ in range(20)} == {1}
    draws = [choose(np.log(np.array([1.0, 3.0])), SamplingParams(temperature=1), rng) for _ in range(4000)]
    assert abs(np.mean(draws) - 0.75) < 0.03
    a = [choose(row, SamplingParams(temperature=1), make_rng(5)) for _ in range(1)]
    assert a == [choose(row, SamplingParams(temperature=1), make_rng(5))]
    lp = log_softmax(row)
    assert np.exp(lp).sum() == pytest.approx(1.0) and top_ids(lp, 3) == [1, 3, 2]


def test_text_stream_utf8_and_stops():
    stream = TextStream(("END",))
    euro = "€".encode()
    assert not stream.feed(euro[:1]) and stream.text == ""
    assert not stream.feed(euro[1:] + b"E") and stream.text == "€E"
    assert stream.feed(b"NDtail") and (stream.text, stream.stop_reason) == ("€", "END")
    dangling = TextStream(())
    dangling.feed(euro[:2])
    assert dangling.finish() == "\ufffd"


def test_chat_template_fallback_and_errors():
    t = ChatTemplate(None, bos_token="", eos_token="")
    assert t.is_fallback
    assert t.render([Message("user", "hi")]) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    strict = ChatTemplate("{{ raise_exception('no system') }}", bos_token="", eos_token="")
    with pytest.raises(ConfigError, match="no system"):
        strict.render([Message("system", "x")])
    with pytest.raises(ConfigError, match="does not compile"):
        ChatTemplate("{% for %}", bos_token="", eos_token="")

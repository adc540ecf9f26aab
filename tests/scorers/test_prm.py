"""The prm scorer on tiny randomly initialised PRMs built here (no hub): formats, incremental scoring, metering."""

from __future__ import annotations

import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="the prm scorer needs torch: pip install 'ponder[prm]'")
pytest.importorskip("transformers", reason="the prm scorer needs transformers: pip install 'ponder[prm]'")

import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, Qwen2ForTokenClassification

from ponder.backends.fake import FakeBackend
from ponder.budget import Meter, Metered
from ponder.errors import ConfigError, ScorerError
from ponder.scorers.base import ProcessScorer, aggregate
from ponder.scorers.prm import PRMScorer
from ponder.tasks.math_answer import MathAnswerTask
from ponder.types import Candidate, Problem

CHAT_TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
PROBLEM = Problem(question="Tom has 3 boxes of 12 pencils and gives away 9. How many are left?", id="p1")
STEPS = ["He has 3 * 12 = 36 pencils.", "After giving 9 away: 36 - 9 = 27.", "So 27 are left.", "Answer: 27"]
STYLES = ("qwen", "math_shepherd", "rlhflow")


def tiny_tokenizer(chat_template: bool, tag: bool) -> PreTrainedTokenizerFast:
    """A character-level tokenizer with the PRM separators as added tokens."""
    vocab = {"[UNK]": 0, "[PAD]": 1}
    for char in string.printable:
        vocab.setdefault(char, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]")
    fast.add_special_tokens({"additional_special_tokens": ["<extra_0>"]})
    if tag:
        fast.add_tokens(["ки"])
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def save_tiny_prm(path: Path, style: str) -> str:
    tokenizer = tiny_tokenizer(chat_template=style != "math_shepherd", tag=style == "math_shepherd")
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.5,  # large random weights, so that step scores differ visibly
    )
    config.num_labels = 2
    torch.manual_seed(0)
    model = Qwen2ForTokenClassification(config) if style == "qwen" else Qwen2ForCausalLM(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models run ~50x faster on one thread when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def prm_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {style: save_tiny_prm(tmp_path_factory.mktemp(style), style) for style in STYLES}


def make(prm_dirs: dict[str, str], kind: str, /, **options: Any) -> PRMScorer:
    """A scorer over the tiny PRM of ``kind``, in that style unless ``style=`` says otherwise."""
    options.setdefault("style", kind)
    return PRMScorer(None, MathAnswerTask(), model=prm_dirs[kind], **options)


def close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) < 1e-5 for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("style", STYLES)
def test_one_score_in_unit_interval_per_step_and_deterministic(prm_dirs: dict[str, str], style: str) -> None:
    trajectories = [STEPS, STEPS[:2], ["A different first step.", *STEPS[1:3]], []]
    first = make(prm_dirs, style).score_steps(PROBLEM, trajectories)
    again = make(prm_dirs, style).score_steps(PROBLEM, trajectories)
    assert [len(row) for row in first] == [4, 2, 3, 0]
    assert all(0.0 <= s <= 1.0 for row in first for s in row)
    assert len({round(s, 6) for s in first[0]}) > 1, "random weights should give distinct step scores"
    assert all(close(a, b) for a, b in zip(first, again, strict=True))
    assert close(first[1], first[0][:2]), "right padding in a batch must not change a trajectory's scores"
    assert isinstance(make(prm_dirs, style), ProcessScorer)


@pytest.mark.parametrize("style", STYLES)
def test_prefix_scores_do_not_change_when_steps_are_appended(prm_dirs: dict[str, str], style: str) -> None:
    """A causal PRM's score of step i depends only on steps 0..i: two fresh scorers (no shared cache) agree."""
    short = make(prm_dirs, style).score_steps(PROBLEM, [STEPS[:2]])[0]
    long = make(prm_dirs, style).score_steps(PROBLEM, [STEPS])[0]
    assert close(short, long[:2])
    other_tail = make(prm_dirs, style).score_steps(PROBLEM, [[*STEPS[:2], "Something else entirely."]])[0]
    assert close(short, other_tail[:2])


@pytest.mark.parametrize("style", STYLES)
def test_extension_reuses_the_kept_state_and_matches_a_cold_pass(prm_dirs: dict[str, str], style: str) -> None:
    scorer = make(prm_dirs, style)
    scorer.score_steps(PROBLEM, [STEPS[:2]])
    parent_tokens = scorer.stats.tokens_processed
    children = [[*STEPS[:2], tail] for tail in (STEPS[2], "Or 30 are left.", "Maybe 24.")]
    warm = scorer.score_steps(PROBLEM, children)
    assert scorer.stats.forward_calls == 2, "the three children of one parent go in one batch"
    assert scorer.stats.tokens_reused == 3 * parent_tokens
    assert scorer.stats.tokens_processed - parent_tokens < 3 * parent_tokens
    cold = make(prm_dirs, style, kv_cache_size=0).score_steps(PROBLEM, children)
    assert all(close(a, b) for a, b in zip(warm, cold, strict=True))


def test_batch_size_splits_forward_passes_without_changing_scores(prm_dirs: dict[str, str]) -> None:
    trajectories = [STEPS, STEPS[:3], ["Another start."]]
    small = make(prm_dirs, "math_shepherd", batch_size=2)
    one_batch = make(prm_dirs, "math_shepherd").score_steps(PROBLEM, trajectories)
    assert all(close(a, b) for a, b in zip(small.score_steps(PROBLEM, trajectories), one_batch, strict=True))
    assert small.stats.forward_calls == 2


def test_memoised_trajectories_cost_no_forward_pass(prm_dirs: dict[str, str]) -> None:
    scorer = make(prm_dirs, "qwen", kv_cache_size=0)
    calls = count_calls(scorer)
    first = scorer.score_steps(PROBLEM, [STEPS, STEPS])  # identical trajectories are scored once
    assert calls == [1]
    assert scorer.score_steps(PROBLEM, [STEPS[:3], STEPS]) == [first[0][:3], first[0]]
    assert calls == [1]
    assert scorer.stats.memo_hits == 2
    other = Problem(question="Another question?", id="p2")
    scorer.score_steps(other, [STEPS[:3]])
    assert calls == [2], "memoised scores are per question"
    scorer.clear()
    scorer.score_steps(PROBLEM, [STEPS])
    assert calls == [3]


def test_too_long_input_is_a_scorer_error(prm_dirs: dict[str, str]) -> None:
    with pytest.raises(ScorerError, match="exceeds"):
        make(prm_dirs, "qwen").score_steps(PROBLEM, [["x" * 2000]])


def count_calls(scorer: PRMScorer) -> list[int]:
    scorer.load()
    backbone = scorer._model.base_model
    calls = [0]
    forward = backbone.forward

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return forward(*args, **kwargs)

    backbone.forward = counted
    return calls


@pytest.mark.parametrize("style", STYLES)
def test_auto_style_is_detected(prm_dirs: dict[str, str], style: str) -> None:
    scorer = make(prm_dirs, style, style="auto")
    scorer.load()
    assert scorer.style == style


def test_outcome_score_aggregates_step_scores_over_the_task_delimiter(prm_dirs: dict[str, str]) -> None:
    scorer = make(prm_dirs, "math_shepherd", agg="mean")
    text = "\n\n".join(STEPS)
    steps = scorer.score_steps(PROBLEM, [STEPS])[0]
    scores = scorer.score(PROBLEM, [Candidate(text=text, answer="27"), Candidate(text="", answer=None)])
    assert scores[0] == pytest.approx(aggregate(steps, "mean"))
    assert scores[1] == 0.0


def test_compute_is_charged_to_the_run_meter(prm_dirs: dict[str, str]) -> None:
    meter = Meter()
    scorer = PRMScorer(Metered(FakeBackend(), meter), MathAnswerTask(), model=prm_dirs["qwen"])
    scorer.score_steps(PROBLEM, [STEPS[:2]])
    scorer.score_steps(PROBLEM, [STEPS])
    scorer.score_steps(PROBLEM, [STEPS])  # memoised: charged nothing
    expected = 2.0 * scorer.n_params * scorer.stats.tokens_processed
    assert scorer.n_params > 0
    assert meter.usage.flops == pytest.approx(expected)
    assert meter.usage_for("p1").flops == pytest.approx(expected)
    assert meter.usage.wall_seconds > 0
    assert meter.usage.calls == 0 and meter.usage.completion_tokens == 0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"style": "best"}, "style"),
        ({"agg": "max"}, "aggregation"),
        ({"batch_size": 0}, "batch_size"),
        ({"kv_cache_size": -1}, "kv_cache_size"),
        ({"good_token": "+", "bad_token": "+"}, "differ"),
    ],
)
def test_bad_options(prm_dirs: dict[str, str], options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PRMScorer(None, None, model=prm_dirs["qwen"], **options)


def test_missing_model_is_a_config_error(tmp_path: Path) -> None:
    scorer = PRMScorer(None, None, model=str(tmp_path / "nothing-here"))
    with pytest.raises(ConfigError, match="could not load PRM"):
        scorer.score_steps(PROBLEM, [STEPS])


def test_missing_transformers_tells_how_to_install(monkeypatch: pytest.MonkeyPatch, prm_dirs: dict[str, str]) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigError, match=r"pip install 'ponder\[prm\]'"):
        make(prm_dirs, "qwen").load()

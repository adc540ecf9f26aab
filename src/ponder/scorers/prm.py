"""Hugging Face process reward models ("prm"): a step score read at each step separator, scored incrementally.

Three input formats, chosen by ``style`` ("auto" picks one from the model's config and tokenizer):

- ``qwen`` (Qwen2.5-Math-PRM): a token-classification model; the chat template renders system, question and
  the steps each followed by ``<extra_0>``; step score = softmax probability of class 1 at each separator.
- ``math_shepherd`` (Math-Shepherd): a causal LM over ``question Step 1: ... ки\\nStep 2: ... ки\\n``; step
  score = P(good) / (P(good) + P(bad)) of the next token at each tag (good "+", bad "-", tag "ки").
- ``rlhflow`` (RLHFlow PRMs): a causal LM over a chat where each step is a user turn answered "+"; the same
  P(good) / (P(good) + P(bad)), read where the model is about to write each answer.

Whole trajectories go through the model in one pass, never one pass per prefix; input after the last step's
read position is cut (a causal model's earlier scores cannot depend on it). Reuse, in three levels:
1. Step scores are memoised by (problem, step prefix): a trajectory whose steps were all scored costs nothing.
2. The backbone's KV cache of every scored trajectory is kept (LRU, ``kv_cache_size`` entries; 0 disables it):
   a trajectory that extends a kept one is run from that state, so only its new steps' tokens are processed.
   Children of one parent are batched on copies of the parent's cache (prefill once, then repeat).
3. Identical trajectories in one call are scored once.
Compute is charged to the run's meter (the ``backend``'s): FLOPs = 2 x PRM parameters x tokens processed,
plus wall time, also per problem id. The scorer does not check the budget (the next generation call does).
torch and transformers are imported on first use only; weights load from a local path or the user's HF cache.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ponder.errors import ConfigError, ScorerError
from ponder.scorers.base import AGGREGATIONS, aggregate
from ponder.scorers.prm_format import PRMFormat, make_head
from ponder.scorers.prm_kv import Job, KeptState
from ponder.scorers.prm_load import load_pretrained
from ponder.tasks.base import Task
from ponder.types import Candidate, Problem, Usage

__all__ = ["PRMScorer", "PRMStats"]

Style = Literal["qwen", "math_shepherd", "rlhflow", "auto"]
STYLES: tuple[str, ...] = ("qwen", "math_shepherd", "rlhflow", "auto")
QWEN_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass
class PRMStats:
    """What the scorer computed and reused, for measuring scorer amplification."""

    forward_calls: int = 0
    tokens_processed: int = 0
    """Tokens run through the model (padding not counted)."""
    tokens_reused: int = 0
    """Tokens whose KV state came from a kept trajectory instead."""
    memo_hits: int = 0
    """Trajectories answered entirely from memoised step scores."""
    steps_scored: int = 0


class PRMScorer:
    """Process reward model scorer; a ProcessScorer (``score_steps``) and an OutcomeScorer (``score``).

    Args:
        backend: the run's Metered backend; the PRM's compute is charged to its meter (None: not charged).
        task: gives the step delimiter used to split whole candidates in ``score``.
        model: local directory or HF model id of the PRM.
        style: "qwen", "math_shepherd", "rlhflow" or "auto" (see the module docstring).
        device: "cpu", "cuda", "cuda:1", ... or "auto" (cuda when available).
        batch_size: trajectories per forward pass.
        step_tag: the separator read for scores; default ``<extra_0>`` (qwen) or ``ки`` (math_shepherd).
        good_token, bad_token: the tokens whose probabilities give a causal PRM's step score.
        agg: how ``score`` folds step scores: min, prod, last or mean.
        system_prompt: system message of the qwen format.
        trust_remote_code: let transformers run the model repository's code (Qwen2.5-Math-PRM needs it).
        dtype: torch dtype name for the weights ("bfloat16", ...); None keeps the checkpoint's.
        kv_cache_size: trajectories whose model state is kept for extension (0: memoised scores only).
        memo_size: step scores remembered.
    """

    name: str = "prm"
    needs_logprobs: bool = False

    def __init__(
        self,
        backend: Any = None,
        task: Task | None = None,
        *,
        model: str,
        style: Style = "auto",
        device: str = "cpu",
        batch_size: int = 8,
        step_tag: str | None = None,
        good_token: str = "+",
        bad_token: str = "-",
        agg: str = "min",
        system_prompt: str = QWEN_SYSTEM_PROMPT,
        trust_remote_code: bool = False,
        dtype: str | None = None,
        kv_cache_size: int = 64,
        memo_size: int = 100_000,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"prm needs model= a local path or model id, got {model!r}")
        if style not in STYLES:
            raise ConfigError(f"unknown prm style {style!r}; choose one of {', '.join(STYLES)}")
        if agg not in AGGREGATIONS:
            raise ConfigError(f"unknown aggregation {agg!r}; choose one of {', '.join(AGGREGATIONS)}")
        for option, value, low in (
            ("batch_size", batch_size, 1),
            ("kv_cache_size", kv_cache_size, 0),
            ("memo_size", memo_size, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{option} must be an integer >= {low}, got {value!r}")
        if good_token == bad_token or not good_token or not bad_token:
            raise ConfigError(
                f"good_token and bad_token must differ and be non-empty, got {good_token!r}, {bad_token!r}"
            )
        self.backend, self.task, self.model_name = backend, task, model
        self.style: str = style
        self.device, self.batch_size, self.dtype = device, batch_size, dtype
        self.step_tag, self.good_token, self.bad_token = step_tag, good_token, bad_token
        self.agg, self.system_prompt, self.trust_remote_code = agg, system_prompt, trust_remote_code
        self.kv_cache_size, self.memo_size = kv_cache_size, memo_size
        self.stats = PRMStats()
        self.n_params = 0
        self._model: Any = None
        self._tokenizer: Any = None
        self._memo: OrderedDict[tuple[str, tuple[str, ...]], float] = OrderedDict()
        self._kv: OrderedDict[tuple[str, tuple[str, ...]], KeptState] = OrderedDict()
        self._lock = threading.Lock()

    # ---- loading -------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load tokenizer and model now (otherwise done on first use)."""
        with self._lock:
            self._load()

    def _load(self) -> None:
        if self._model is not None:
            return
        model, tokenizer, self.style = load_pretrained(self.model_name, self.style, self.dtype, self.trust_remote_code)
        import torch

        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        self._model = model.to(device).eval()
        self._tokenizer = tokenizer
        self.n_params = sum(p.numel() for p in model.parameters())
        self.step_tag = self.step_tag or {"qwen": "<extra_0>", "math_shepherd": "ки"}.get(self.style)
        self._format = PRMFormat(tokenizer, self.style, self.step_tag, self.good_token, self.system_prompt)
        self._head = make_head(model, tokenizer, self.style, (self.good_token, self.bad_token), self.model_name)

    # ---- scoring -------------------------------------------------------------------------------------

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        """Whole candidates split at the task's step delimiter, step scores folded by ``agg`` (0.0 when a
        candidate has no steps)."""
        delimiter = self.task.step_delimiter if self.task is not None else "\n\n"
        steps = [[s for s in c.text.split(delimiter) if s.strip()] for c in candidates]
        rows = self.score_steps(problem, steps)
        return [aggregate(row, self.agg) if row else 0.0 for row in rows]

    def score_steps(self, problem: Problem, candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        """One score in [0, 1] per step of each candidate (an empty list for a candidate with no steps)."""
        with self._lock:
            self._load()
            out: list[list[float] | None] = [None] * len(candidates)
            jobs: dict[tuple[str, ...], Job] = {}
            for i, raw in enumerate(candidates):
                steps = tuple(raw)
                remembered = self._recall(problem, steps)
                if remembered is not None:
                    out[i] = remembered
                    self.stats.memo_hits += bool(steps)
                elif steps in jobs:
                    jobs[steps].rows.append(i)
                else:
                    jobs[steps] = self._plan(problem, steps, i)
            start, processed = time.perf_counter(), self.stats.tokens_processed
            try:
                for job, scores in self._run(list(jobs.values())):
                    for i in job.rows:
                        out[i] = list(scores)
            finally:  # charge what was computed, even when a later batch failed
                if jobs:
                    self._charge(problem, self.stats.tokens_processed - processed, time.perf_counter() - start)
            return [list(row or []) for row in out]

    def clear(self) -> None:
        """Forget memoised scores and kept model states (frees their memory); the model stays loaded."""
        with self._lock:
            self._memo.clear()
            self._kv.clear()

    def _recall(self, problem: Problem, steps: tuple[str, ...]) -> list[float] | None:
        scores = []
        for k in range(1, len(steps) + 1):
            value = self._memo.get((problem.question, steps[:k]))
            if value is None:
                return None
            self._memo.move_to_end((problem.question, steps[:k]))
            scores.append(value)
        return scores

    def _plan(self, problem: Problem, steps: tuple[str, ...], row: int) -> Job:
        """Encode a trajectory and find the longest kept state it extends."""
        ids, reads = self._format.encode(problem.question, steps)
        limit = getattr(self._model.config, "max_position_embeddings", None)
        if limit is not None and len(ids) > limit:
            raise ScorerError(f"PRM input of {len(ids)} tokens exceeds the model's {limit} positions")
        job = Job(problem.question, steps, ids, reads, rows=[row])
        for k in range(len(steps) - 1, 0, -1):
            kept = self._kv.get((problem.question, steps[:k]))
            if kept is not None and tuple(ids[: len(kept.ids)]) == kept.ids and reads[k] >= len(kept.ids):
                self._kv.move_to_end((problem.question, steps[:k]))
                job.parent = kept
                break
        return job

    def _run(self, jobs: list[Job]) -> list[tuple[Job, list[float]]]:
        """Score jobs in batches of children of the same kept state (or of none)."""
        groups: dict[int, list[Job]] = {}
        for job in jobs:
            groups.setdefault(id(job.parent), []).append(job)
        done = []
        for group in groups.values():
            for at in range(0, len(group), self.batch_size):
                done += self._forward(group[at : at + self.batch_size])
        return done

    def _forward(self, batch: list[Job]) -> list[tuple[Job, list[float]]]:
        import torch

        past, parent = batch[0].past, batch[0].parent
        new = [job.ids[past:] for job in batch]
        width = max(len(ids) for ids in new)
        pad = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else 0
        device = self._model.device
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids in new], device=device)
        mask = torch.tensor([[1] * (past + len(ids)) + [0] * (width - len(ids)) for ids in new], device=device)
        cache = parent.for_children(len(batch)) if parent is not None else self._new_cache()
        try:
            with torch.no_grad():
                out = self._model.base_model(
                    input_ids=input_ids, attention_mask=mask, past_key_values=cache, use_cache=self.kv_cache_size > 0
                )
                rows = [b for b, job in enumerate(batch) for _ in job.reads[job.first_new :]]
                cols = [r - past for job in batch for r in job.reads[job.first_new :]]
                fresh = self._head(out[0][rows, cols]).tolist()
        except (RuntimeError, IndexError, TypeError, ValueError) as exc:
            raise ScorerError(f"PRM {self.model_name!r} failed on a batch of {len(batch)}: {exc}") from exc
        self.stats.forward_calls += 1
        self.stats.tokens_processed += sum(len(ids) for ids in new)
        self.stats.tokens_reused += past * len(batch)
        kept = getattr(out, "past_key_values", None)
        kept = kept if hasattr(kept, "batch_select_indices") else None  # e.g. a model that returns no cache
        done, at = [], 0
        for b, job in enumerate(batch):
            count = len(job.reads) - job.first_new
            scores = (list(job.parent.scores) if job.parent else []) + fresh[at : at + count]
            at += count
            self._remember(job, b, scores, kept)
            done.append((job, scores))
        return done

    def _new_cache(self) -> Any:
        """An empty DynamicCache when states are kept (older transformers would return tuples), else None."""
        if self.kv_cache_size == 0:
            return None
        from transformers import DynamicCache

        return DynamicCache()

    def _remember(self, job: Job, row: int, scores: list[float], cache: Any) -> None:
        """Memoise a trajectory's step scores and keep its model state (both LRU-bounded)."""
        self.stats.steps_scored += len(scores) - job.first_new
        for k, value in enumerate(scores):
            self._memo[(job.question, job.steps[: k + 1])] = value
            self._memo.move_to_end((job.question, job.steps[: k + 1]))
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        if cache is not None:
            self._kv[(job.question, job.steps)] = KeptState(cache, row, tuple(job.ids), tuple(scores))
            while len(self._kv) > self.kv_cache_size:
                self._kv.popitem(last=False)

    def _charge(self, problem: Problem, tokens: int, wall: float) -> None:
        meter = getattr(self.backend, "meter", None)
        if meter is None:
            return
        usage = Usage(flops=2.0 * self.n_params * tokens, wall_seconds=wall)
        meter.charge(usage, {problem.id: usage})

    def __repr__(self) -> str:
        return f"PRMScorer(model={self.model_name!r}, style={self.style!r})"

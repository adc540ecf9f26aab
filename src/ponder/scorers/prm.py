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

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ponder.errors import ConfigError, ScorerError
from ponder.scorers.base import AGGREGATIONS, aggregate
from ponder.tasks.base import Task
from ponder.types import Candidate, Problem, Usage

__all__ = ["PRMScorer", "PRMStats"]

Style = Literal["qwen", "math_shepherd", "rlhflow", "auto"]
STYLES: tuple[str, ...] = ("qwen", "math_shepherd", "rlhflow", "auto")
QWEN_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
_HOLE = "\x00ponder-{}\x00"
"""Placeholder put into chat messages to find where the template places them."""
_INSTALL_HINT = "the prm scorer needs torch and transformers: pip install 'ponder[prm]'"


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


@dataclass
class _KV:
    """A kept model state: row ``row`` of a (possibly batched) cache holds ``ids`` and nothing after."""

    cache: Any
    row: int
    ids: tuple[int, ...]
    scores: tuple[float, ...]

    def for_children(self, n: int) -> Any:
        """A cache of batch ``n``, each row a copy of this state."""
        import torch

        state = copy.deepcopy(self.cache)
        state.batch_select_indices(torch.tensor([self.row]))
        extra = state.get_seq_length() - len(self.ids)
        if extra:
            state.crop(-extra)
        if n > 1:
            state.batch_repeat_interleave(n)
        return state


@dataclass
class _Job:
    question: str
    steps: tuple[str, ...]
    ids: list[int]
    reads: list[int]
    parent: _KV | None = None
    rows: list[int] = field(default_factory=list)
    """Indices of the candidates this job scores (identical trajectories share one job)."""

    @property
    def past(self) -> int:
        return len(self.parent.ids) if self.parent else 0

    @property
    def first_new(self) -> int:
        return len(self.parent.scores) if self.parent else 0


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
        self._kv: OrderedDict[tuple[str, tuple[str, ...]], _KV] = OrderedDict()
        self._lock = threading.Lock()

    # ---- loading -------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load tokenizer and model now (otherwise done on first use)."""
        with self._lock:
            self._load()

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise ConfigError(f"{_INSTALL_HINT} ({exc})") from exc
        opts: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        try:
            config = transformers.AutoConfig.from_pretrained(self.model_name, **opts)
            tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_name, **opts)
            self.style = self.style if self.style != "auto" else _detect_style(config, tokenizer)
            if self.dtype is not None:
                opts["dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"] = self.dtype
            model = _auto_class(transformers, config, self.style, self.trust_remote_code).from_pretrained(
                self.model_name, **opts
            )
        except ConfigError:
            raise
        except Exception as exc:  # transformers raises many kinds (OSError, ValueError, HF hub errors, ...)
            raise ConfigError(f"could not load PRM {self.model_name!r}: {exc}") from exc
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError(f"PRM {self.model_name!r} needs a fast tokenizer (for character offsets)")
        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        self._model = model.to(device).eval()
        self._tokenizer = tokenizer
        self.n_params = sum(p.numel() for p in model.parameters())
        self.step_tag = self.step_tag or {"qwen": "<extra_0>", "math_shepherd": "ки"}.get(self.style)
        self._head = self._make_head()

    def _token_id(self, text: str) -> int:
        ids = self._tokenizer.encode(text, add_special_tokens=False)
        if not ids:
            raise ConfigError(f"PRM tokenizer gives no token for {text!r}")
        return int(ids[-1])

    def _make_head(self) -> Any:
        """A function from hidden states at read positions to step scores."""
        import torch

        if self.style == "qwen":
            classifier = next(
                (getattr(self._model, a) for a in ("score", "classifier") if hasattr(self._model, a)), None
            )
            if classifier is None:
                raise ConfigError(f"PRM {self.model_name!r} has no classification head (score/classifier)")
            return lambda hidden: torch.softmax(classifier(hidden).float(), dim=-1)[..., 1]
        good, bad = self._token_id(self.good_token), self._token_id(self.bad_token)
        if good == bad:
            raise ConfigError(f"good_token {self.good_token!r} and bad_token {self.bad_token!r} are the same token")
        lm_head = self._model.get_output_embeddings()
        rows = lm_head.weight[[good, bad]]  # only the two logits needed, not the whole vocabulary
        bias = None if getattr(lm_head, "bias", None) is None else lm_head.bias[[good, bad]]
        return lambda hidden: torch.softmax(torch.nn.functional.linear(hidden, rows, bias).float(), dim=-1)[..., 0]

    # ---- formatting ----------------------------------------------------------------------------------

    def _encode(self, question: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        """Token ids up to the last read position, and the read position of each step."""
        text, marks, special = self._format(question, [s.strip() for s in steps])
        enc = self._tokenizer(text, return_offsets_mapping=True, add_special_tokens=special)
        offsets = enc["offset_mapping"]
        reads: list[int] = []
        t = 0
        for mark in marks:  # the last token starting at or before the read character (whitespace may be dropped)
            while t + 1 < len(offsets) and offsets[t + 1][0] <= mark:
                t += 1
            if not offsets or offsets[t][0] > mark or (reads and t <= reads[-1]):
                raise ScorerError(f"PRM input has no token at a step separator (style {self.style})")
            reads.append(t)
        return list(enc["input_ids"][: reads[-1] + 1]), reads

    def _format(self, question: str, steps: list[str]) -> tuple[str, list[int], bool]:
        """(text, the character of each step's read position, whether to add special tokens)."""
        if self.style == "rlhflow":
            turns = []
            for k, step in enumerate(steps):
                turns += [{"role": "user", "content": f"{question} {step}" if k == 0 else step}]
                turns += [{"role": "assistant", "content": _HOLE.format(k)}]
            rest, text, marks = self._template(turns), "", []
            for k in range(len(steps)):  # the read position is the last character before each answer
                before, rest = rest.split(_HOLE.format(k), 1)
                text += before
                marks.append(len(text) - 1)
                text += self.good_token
            return text + rest, marks, False
        tag = str(self.step_tag)
        if self.style == "qwen":
            pieces = [step + tag for step in steps]
        else:
            pieces = [f"Step {k + 1}: {step} {tag}\n" for k, step in enumerate(steps)]
        if self.style == "qwen" and getattr(self._tokenizer, "chat_template", None):
            system, user = {"role": "system", "content": self.system_prompt}, {"role": "user", "content": question}
            rendered = self._template([system, user, {"role": "assistant", "content": _HOLE.format(0)}])
            head, special = rendered[: rendered.index(_HOLE.format(0))], False
        else:
            head, special = question + (" " if self.style == "math_shepherd" else "\n\n"), True
        marks, end = [], len(head)
        for piece in pieces:
            marks.append(end + piece.rindex(tag) + len(tag) - 1)
            end += len(piece)
        return head + "".join(pieces), marks, special

    def _template(self, messages: list[dict[str, str]]) -> str:
        if not getattr(self._tokenizer, "chat_template", None):
            raise ConfigError(f"PRM style {self.style!r} needs a tokenizer with a chat template")
        return str(self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False))

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
            jobs: dict[tuple[str, ...], _Job] = {}
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

    def _plan(self, problem: Problem, steps: tuple[str, ...], row: int) -> _Job:
        """Encode a trajectory and find the longest kept state it extends."""
        ids, reads = self._encode(problem.question, steps)
        limit = getattr(self._model.config, "max_position_embeddings", None)
        if limit is not None and len(ids) > limit:
            raise ScorerError(f"PRM input of {len(ids)} tokens exceeds the model's {limit} positions")
        job = _Job(problem.question, steps, ids, reads, rows=[row])
        for k in range(len(steps) - 1, 0, -1):
            kept = self._kv.get((problem.question, steps[:k]))
            if kept is not None and tuple(ids[: len(kept.ids)]) == kept.ids and reads[k] >= len(kept.ids):
                self._kv.move_to_end((problem.question, steps[:k]))
                job.parent = kept
                break
        return job

    def _run(self, jobs: list[_Job]) -> list[tuple[_Job, list[float]]]:
        """Score jobs in batches of children of the same kept state (or of none)."""
        groups: dict[int, list[_Job]] = {}
        for job in jobs:
            groups.setdefault(id(job.parent), []).append(job)
        done = []
        for group in groups.values():
            for at in range(0, len(group), self.batch_size):
                done += self._forward(group[at : at + self.batch_size])
        return done

    def _forward(self, batch: list[_Job]) -> list[tuple[_Job, list[float]]]:
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

    def _remember(self, job: _Job, row: int, scores: list[float], cache: Any) -> None:
        """Memoise a trajectory's step scores and keep its model state (both LRU-bounded)."""
        self.stats.steps_scored += len(scores) - job.first_new
        for k, value in enumerate(scores):
            self._memo[(job.question, job.steps[: k + 1])] = value
            self._memo.move_to_end((job.question, job.steps[: k + 1]))
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        if cache is not None:
            self._kv[(job.question, job.steps)] = _KV(cache, row, tuple(job.ids), tuple(scores))
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


def _detect_style(config: Any, tokenizer: Any) -> str:
    """qwen for classification heads, math_shepherd when the tokenizer knows "ки", rlhflow for other chat LMs."""
    architectures = " ".join(getattr(config, "architectures", None) or [])
    if "TokenClassification" in architectures or "ProcessRewardModel" in architectures:
        return "qwen"
    if "CausalLM" not in architectures:
        raise ConfigError(f"cannot tell the PRM style of architectures {architectures!r}; pass style=")
    if "ки" in tokenizer.get_vocab() or not getattr(tokenizer, "chat_template", None):
        return "math_shepherd"
    return "rlhflow"


def _auto_class(transformers: Any, config: Any, style: str, trust_remote_code: bool) -> Any:
    """The transformers Auto class that builds this PRM with its head."""
    if style != "qwen":
        return transformers.AutoModelForCausalLM
    if trust_remote_code and "AutoModel" in (getattr(config, "auto_map", None) or {}):
        return transformers.AutoModel  # Qwen2.5-Math-PRM ships its own Qwen2ForProcessRewardModel
    return transformers.AutoModelForTokenClassification

"""Step generation for search: expand leaves, roll out, force completions, in one backend call per round.

A ``Stepper`` sends the prompts of all leaves of all problems in a round as one batched ``generate`` call
(each prompt tagged with its problem id so usage is charged per problem), with ``stop`` at the task's step
delimiter and ``max_tokens = max_step_tokens``. What comes back decides the child:

- stopped on the delimiter: the step continues later (the delimiter is appended to the prefix);
- a final answer in the step (``\\boxed{}``, or the task's own ``is_final_step``): terminal "answer";
- cut at ``max_step_tokens`` (the model never wrote the delimiter): the chunk counts as a step and the next
  one continues it mid-text, so depth still grows and the depth limit still ends the search;
- any other stop (end of sequence, a user stop string): terminal "eos" ("empty" when nothing was written:
  a dead end, valued 0, never a candidate nor a beam slot).

A *final* round (the depth limit) generates without the delimiter stop, up to ``final_tokens``, so every
path ends with a complete answer. Each call gets its own seed derived from the run's seed and a call
counter, so repeated expansions of one node draw fresh samples while runs stay reproducible.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ponder.search.tree import Node, Tree
from ponder.strategies.base import Context
from ponder.types import Completion, Generation, SamplingParams

_FINAL = re.compile(r"\\(?:boxed|fbox)\s*\{")

Leaf = tuple[Tree, Node]


def is_final_step(ctx: Context, step: str) -> bool:
    """Whether ``step`` states a final answer: the task's ``is_final_step`` if it has one, else a ``\\boxed{}``."""
    own = getattr(ctx.task, "is_final_step", None)
    if callable(own):
        return bool(own(step))
    return _FINAL.search(step) is not None


@dataclass
class Rollout:
    """Text generated beyond a node to evaluate it (lookahead, MCTS); not part of the tree."""

    text: str = ""
    n_tokens: int = 0
    terminal: str | None = None


@dataclass
class Stepper:
    """Generates steps for search strategies. ``params`` are the run's sampling parameters."""

    ctx: Context
    params: SamplingParams
    max_step_tokens: int
    final_tokens: int
    calls: int = field(default=0)

    @property
    def delimiter(self) -> str:
        return str(self.ctx.task.step_delimiter)

    def expand(self, leaves: Sequence[Leaf], k: int, final: str | None = None) -> list[list[Node]]:
        """``k`` children for every leaf, in one backend call. ``final`` (a terminal reason) makes this a
        last round without the delimiter stop, whose children are all terminal."""
        if not leaves:
            return []
        prompts = [tree.prompt + leaf.prefix for tree, leaf in leaves]
        gens = self._generate(leaves, prompts, k, final is not None, None)
        out = []
        for (tree, leaf), gen in zip(leaves, gens, strict=True):
            kids = []
            for c in gen.completions:
                terminal, sep = self.classify(c, final)
                kids.append(tree.add(leaf, c.text, sep, c.n_tokens, terminal))
            out.append(kids)
        return out

    def expand_within(self, leaves: Sequence[Leaf], k: int, max_depth: int) -> list[list[Node]]:
        """``expand``, where leaves one step above ``max_depth`` are completed to the end (a separate call,
        since a call has one set of stop strings)."""
        out: list[list[Node]] = [[] for _ in leaves]
        for final in (None, "max_depth"):
            idx = [i for i, (_, n) in enumerate(leaves) if (n.depth + 1 >= max_depth) == (final is not None)]
            if idx:
                for i, kids in zip(idx, self.expand([leaves[i] for i in idx], k, final), strict=True):
                    out[i] = kids
        return out

    def rollout(self, leaves: Sequence[Leaf], steps: Sequence[int], greedy: bool, force: bool) -> list[Rollout]:
        """Continue each leaf by up to ``steps[i]`` steps, one sample each, batched per step.

        Greedy rollouts use temperature 0 (lookahead); ``force`` makes the last step of a rollout that has
        not ended a final completion (MCTS rollouts to a terminal).
        """
        outs = [Rollout() for _ in leaves]
        active = [i for i, s in enumerate(steps) if s > 0 and not leaves[i][1].finished]
        done = 0
        while active:
            done += 1
            last = [force and done >= steps[i] for i in active]
            for is_last in (False, True):
                batch = [i for i, flag in zip(active, last, strict=True) if flag is is_last]
                if not batch:
                    continue
                prompts = [leaves[i][0].prompt + leaves[i][1].prefix + outs[i].text for i in batch]
                gens = self._generate([leaves[i] for i in batch], prompts, 1, is_last, 0.0 if greedy else None)
                for i, gen in zip(batch, gens, strict=True):
                    c = gen.completions[0]
                    terminal, sep = self.classify(c, "max_depth" if is_last else None)
                    outs[i].text += c.text + sep
                    outs[i].n_tokens += c.n_tokens
                    outs[i].terminal = terminal
            active = [i for i in active if outs[i].terminal is None and done < steps[i]]
        return outs

    def classify(self, c: Completion, final: str | None) -> tuple[str | None, str]:
        """(terminal reason or None, separator to append) for a generated step."""
        if final is not None:
            return final, ""
        if is_final_step(self.ctx, c.text):
            return "answer", ""
        if c.stop_reason == self.delimiter:
            return ("empty", "") if not c.text.strip() else (None, self.delimiter)
        if c.finish_reason == "length":
            return None, ""
        return ("empty" if not c.text.strip() else "eos"), ""

    def _generate(
        self, leaves: Sequence[Leaf], prompts: list[str], k: int, final: bool, temperature: float | None
    ) -> list[Generation]:
        if final:
            changes: dict[str, Any] = {"stop": tuple(self.params.stop), "max_tokens": self.final_tokens}
        else:
            stops = (self.delimiter, *(s for s in self.params.stop if s != self.delimiter))
            changes = {"stop": stops, "max_tokens": self.max_step_tokens}
        if temperature is not None:
            changes["temperature"] = temperature
        return self.call(prompts, [tree.problem.id for tree, _ in leaves], k, **changes)

    def call(self, prompts: list[str], tags: list[str], k: int, **changes: Any) -> list[Generation]:
        """One metered backend call with the run's params (``changes`` applied) and a fresh derived seed.
        The j-th prompt of a problem in the call draws samples j*k .. j*k+k-1, so two leaves with the same
        text (kept beams, DVTS subtrees, FoT trees) still get different children."""
        self.calls += 1
        seed = self.params.seed
        if seed is not None:
            seed = (seed * 7_919 + self.calls * 104_729) % (2**31 - 1)
        rank: dict[str, int] = {}
        offsets = []
        for tag in tags:
            offsets.append(rank.get(tag, 0) * k)
            rank[tag] = rank.get(tag, 0) + 1
        params = self.params.replace(seed=seed, offsets=tuple(offsets) if any(offsets) else (), **changes)
        return self.ctx.backend.generate(prompts, params, k, tags=tags)

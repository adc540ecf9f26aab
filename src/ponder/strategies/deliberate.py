"""Deliberation (two-pass decoding, as in Deliberation Networks and "Think Twice"): draft, then rewrite.

The first pass answers the question as usual. Each further pass sees the whole previous draft, appended
to the question, and writes the solution again from the beginning: keeping what is right, fixing what is
wrong. Unlike self_refine there is no separate feedback step and no early stop other than an empty
rewrite (discarded; the chain ends). With ``passes=2`` this is the classic two-pass scheme.

Candidates are all passes. The pick is the newest pass with an answer (a final pass that lost the answer,
e.g. cut by max_tokens, falls back to the pass before). Budget: ``passes`` generations per problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ponder.strategies.base import Context, sampling_params, to_candidate
from ponder.strategies.depth_common import (
    Chain,
    chain_results,
    check_int,
    conversation,
    generate,
    pick_answered,
)
from ponder.types import Candidate, Problem, Result, TraceEvent

REWRITE_NOTE = (
    "Here is a draft solution to this problem:\n\n---\n{draft}\n---\n\n"
    "Read the whole draft first. Then write the final solution from the beginning: keep what is right, "
    "fix what is wrong, and give the final answer in the form asked for above."
)
"""Appended to the question of a rewriting pass (``{draft}``: the whole previous pass)."""


@dataclass
class Deliberate:
    """A first-pass draft, rewritten by later passes that see all of it."""

    name: ClassVar[str] = "deliberate"
    uses_scorer: ClassVar[bool] = False
    """It never calls the run's scorer (reports leave the scorer out of its label)."""
    passes: int = 2
    """Passes per problem (the budget): 1 = draft only, 2 = draft then rewrite, ..."""
    temperature: float | None = None
    """Sampling temperature of every pass; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens per pass; None uses the run's default."""

    def __post_init__(self) -> None:
        check_int("deliberate", "passes", self.passes, 1)

    def work_units(self, n_problems: int) -> int:
        return n_problems * self.passes

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        params = sampling_params(ctx, self.temperature, self.max_tokens, logprobs=False)
        chains = [Chain(p, i) for i, p in enumerate(problems)]
        for k in range(1, self.passes + 1):
            live = [c for c in chains if c.live]
            if not live:
                ctx.advance(len(problems))
                continue
            notes = [REWRITE_NOTE.format(draft=c.versions[-1].text) if k > 1 else "" for c in live]
            prompts = [conversation(ctx, c.problem, [], note) for c, note in zip(live, notes, strict=True)]
            for chain, comp in zip(live, generate(ctx, live, prompts, params), strict=True):
                self._record(chain, to_candidate(comp, ctx.task), k)
            ctx.advance(len(problems))
        return chain_results(self, problems, ctx, chains, pick_answered, "newest_with_answer")

    @staticmethod
    def _record(chain: Chain, cand: Candidate, k: int) -> None:
        """Keep pass ``k``; an empty pass ends the chain (an empty rewrite is also discarded)."""
        empty = not cand.text.strip()
        if k == 1:
            chain.add(cand, "draft", **{"pass": 1})
        elif empty:
            chain.trace.append(TraceEvent("rewrite", {"pass": k, "candidate": None, "text": cand.text}))
        else:
            chain.add(cand, "rewrite", **{"pass": k, "sees": len(chain.versions) - 1})
        if empty:
            chain.stop("empty draft" if k == 1 else "empty rewrite", **{"pass": k})

"""Forest-of-Thought (Bi et al., 2024): several Tree-of-Thought trees, answers combined by consensus.

``trees`` independent ToT searches run per problem. They are groups of one search tree (the root's first
``trees * k`` samples are split among them; groups never share a node), so every round is still one
backend call for all trees of all problems. Each tree picks its own solution (``select``); the forest's
answer is the majority of the trees' answers. With ``correction`` on, a problem whose trees disagree gets
one correction pass: the model sees the problem and the disagreeing answers with their vote counts and
solves it again once; that answer wins when it has one, else the majority stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ponder.search.checks import int_at_least
from ponder.search.expand import Stepper
from ponder.search.finish import candidates_of, keep_partial, pick
from ponder.search.tree import Tree
from ponder.strategies.base import Context, filter_events, first_with_answer, guard, majority_vote, result
from ponder.strategies.tree_of_thought import TreeOfThought
from ponder.types import Candidate, Message, Problem, Result, TraceEvent

CORRECTION = (
    "Independent attempts at this problem reached different final answers: {answers}. Re-examine the "
    "problem carefully, solve it again step by step, and give the final answer in the requested form."
)


@dataclass
class ForestOfThought(TreeOfThought):
    """Several Tree-of-Thought trees per problem, combined by majority, with an optional correction pass."""

    name: ClassVar[str] = "forest_of_thought"
    trees: int = 3
    """Independent trees grown per problem."""
    correction: bool = True
    """When the trees disagree, let the model see their answers and solve the problem once more."""

    def __post_init__(self) -> None:
        super().__post_init__()
        int_at_least(self.name, "trees", self.trees, 1)

    def groups(self) -> int:
        return self.trees

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        stepper, trees = self.prepare(problems, ctx)
        with keep_partial(self, trees, ctx):
            event = self.grow(trees, stepper)
            picks = [self.tree_picks(t, ctx) for t in trees]
            votes = [majority_vote(p, ctx.task) for p in picks]
            redo = [i for i, (_, totals) in enumerate(votes) if self.correction and len(totals) > 1]
            fixes = self.correct([trees[i] for i in redo], [votes[i][1] for i in redo], stepper)
            out = []
            for i, tree in enumerate(trees):
                fix = fixes[redo.index(i)] if i in redo else None
                out.append(self.combine(tree, picks[i], votes[i], fix, ctx, event))
            return out

    def tree_picks(self, tree: Tree, ctx: Context) -> list[Candidate]:
        """Each tree's chosen solution (its best-valued one when it has no answer to pick)."""
        out = []
        for group in range(self.trees):
            cands = candidates_of(tree, ctx, group)
            if not cands:
                continue
            _, index, _ = pick(cands, self.select, ctx)
            if index is None:
                index = min(range(len(cands)), key=lambda i: (-(cands[i].score or 0.0), i))
            out.append(cands[index])
        return out

    def correct(self, trees: Sequence[Tree], totals: Sequence[dict[str, float]], stepper: Stepper) -> list[Candidate]:
        """One re-solve per disagreeing problem, in one backend call."""
        if not trees:
            return []
        ctx = stepper.ctx
        prompts = []
        for tree, votes in zip(trees, totals, strict=True):
            shown = ", ".join(f"{a} ({int(v)} of {self.trees} trees)" for a, v in votes.items())
            messages = ctx.task.messages(tree.problem)
            last = messages[-1]
            messages[-1] = Message(last.role, f"{last.content}\n\n{CORRECTION.format(answers=shown)}")
            prompts.append(ctx.backend.render(messages))
        gens = stepper.call(prompts, [t.problem.id for t in trees], 1, max_tokens=stepper.final_tokens)
        out: list[Candidate] = []
        for tree, gen in zip(trees, gens, strict=True):
            c = gen.completions[0]
            draft = Candidate(text=c.text, answer=ctx.task.extract_answer(c.text), n_tokens=c.n_tokens)
            out.extend(guard(tree.problem, [draft], ctx))  # the same guardrails as the trees' solutions
        return out

    def combine(
        self,
        tree: Tree,
        picks: list[Candidate],
        vote: tuple[str | None, dict[str, float]],
        fix: Candidate | None,
        ctx: Context,
        event: TraceEvent,
    ) -> Result:
        """The forest's Result: the trees' picks (and the correction) as candidates, the consensus answer."""
        answer, totals = vote
        trace = [event, tree.event(), *filter_events(picks), TraceEvent("consensus", {"votes": totals})]
        candidates = list(picks)
        selected = first_with_answer(candidates, answer, ctx)
        if fix is not None:
            candidates.append(fix)
            trace += [*filter_events([fix]), TraceEvent("correction", {"shown": totals, "answer": fix.answer})]
            if fix.answer is not None and fix.filtered is None:
                answer, selected = fix.answer, len(candidates) - 1
        return result(self, tree.problem, ctx, answer, candidates, trace, selected)

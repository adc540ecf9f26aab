"""Valuing search nodes: process-scorer step scores, outcome scores of complete solutions, model votes.

- ``score_nodes``: one ``score_steps`` call per problem for all its new nodes; a node's ``score`` is its own
  step's score and its ``value`` the aggregate (min / prod / last / mean) over its path, plus any lookahead
  text beyond it. Nodes with no step text at all get 0.
- ``score_solutions``: complete solutions valued by the outcome scorer when there is one, else by the
  aggregated process score.
- ``vote``: the model is shown the candidate thoughts as a numbered list and asked, ``n_votes`` times,
  which is most promising (Yao et al.'s vote evaluation); a node's value is its share of the votes.

A scorer that returns the wrong number of scores or a non-finite one raises ScorerError here.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from ponder.errors import ConfigError, PonderError, ScorerError
from ponder.scorers.base import ProcessScorer, aggregate, score_steps
from ponder.scorers.outcome_as_process import as_process_scorer
from ponder.search.expand import Stepper
from ponder.search.tree import Node, Tree
from ponder.strategies.base import Context
from ponder.types import Candidate, Message

T = TypeVar("T")

VOTE_SYSTEM = (
    "You compare partial solutions of a problem. Analyse each choice briefly, then conclude with a last line "
    'of the form "The best choice is N", where N is the number of the most promising choice.'
)
_CHOICE = re.compile(r"best choice is\D{0,12}?(\d+)", re.IGNORECASE)


def with_process_scorer(ctx: Context, who: str) -> Context:
    """``ctx`` with a process scorer: its own, else its outcome scorer applied to partial solutions
    (outcome-as-process), else a ConfigError saying ``who`` needs one. The caller's context is not changed."""
    if ctx.process_scorer is not None:
        return ctx
    if ctx.scorer is None:
        raise ConfigError(f"{who} needs a step-level (process) scorer: pass --scorer judge or --scorer prm")
    return dataclasses.replace(ctx, process_scorer=as_process_scorer(ctx.scorer, ctx.task))


def process_scorer(ctx: Context) -> ProcessScorer:
    """The context's process scorer (ConfigError when it has none)."""
    return with_process_scorer(ctx, "this search").process_scorer  # type: ignore[return-value]


def score_nodes(ctx: Context, tree: Tree, nodes: Sequence[Node], agg: str, extras: Sequence[str] = ()) -> None:
    """Set ``score`` and ``value`` of ``nodes`` (one scorer call); ``extras[i]`` is text scored beyond node i."""
    paths = [tree.steps(n, extras[i] if extras else "") for i, n in enumerate(nodes)]
    todo = [i for i, p in enumerate(paths) if p and not nodes[i].dead_end]
    for i in set(range(len(nodes))) - set(todo):
        nodes[i].score = nodes[i].value = 0.0
    if not todo:
        return
    scores = checked_scores(ctx, tree, [paths[i] for i in todo])
    for i, s in zip(todo, scores, strict=True):
        own = max(0, min(len(tree.steps(nodes[i])), len(s)) - 1)
        nodes[i].score, nodes[i].value = s[own], aggregate(s, agg)


def checked_scores(ctx: Context, tree: Tree, paths: list[list[str]]) -> list[list[float]]:
    """The process scorer's step scores of ``paths`` (continuing the tree's prompt), validated."""
    scorer = process_scorer(ctx)
    scores = typed(lambda: score_steps(scorer, tree.problem, paths, prompt=tree.prompt), "process scorer")
    numbers = typed(lambda: [[float(x) for x in s] for s in scores], "process scorer's scores")
    if len(numbers) != len(paths):
        raise ScorerError(f"process scorer returned {len(numbers)} score lists for {len(paths)} candidates")
    for path, s in zip(paths, numbers, strict=True):
        if len(s) != len(path) or not all(math.isfinite(x) for x in s):
            raise ScorerError(f"process scorer returned step scores {s!r} for {len(path)} steps")
    return numbers


def typed(call: Callable[[], T], what: str) -> T:
    """``call()``, with any error that is not ponder's own raised as a ScorerError (so a search keeps its tree)."""
    try:
        return call()
    except PonderError:
        raise
    except Exception as exc:
        raise ScorerError(f"{what} failed: {type(exc).__name__}: {exc}") from exc


def score_solutions(ctx: Context, tree: Tree, texts: Sequence[str], agg: str) -> list[float]:
    """Values of complete solutions: the outcome scorer if any, else the aggregated process score."""
    if not texts:
        return []
    if ctx.scorer is not None:
        cands = [Candidate(text=t, answer=ctx.task.extract_answer(t)) for t in texts]
        scorer = ctx.scorer
        raw = typed(lambda: scorer.score(tree.problem, cands), "outcome scorer")
        values = typed(lambda: [float(v) for v in raw], "outcome scorer's scores")
        if len(values) != len(texts) or not all(math.isfinite(v) for v in values):
            raise ScorerError(f"outcome scorer returned {values!r} for {len(texts)} solutions")
        return values
    paths = [tree.split(t) for t in texts]
    todo = [i for i, p in enumerate(paths) if p]
    out = [0.0] * len(texts)
    for i, s in zip(todo, checked_scores(ctx, tree, [paths[i] for i in todo]) if todo else [], strict=True):
        out[i] = aggregate(s, agg)
    return out


def vote_messages(tree: Tree, nodes: Sequence[Node]) -> list[Message]:
    """The vote prompt: the question and the numbered candidate partial solutions."""
    choices = "\n\n".join(f"Choice {i + 1}:\n{n.prefix.strip() or '(empty)'}" for i, n in enumerate(nodes))
    user = f"Problem:\n{tree.problem.question.strip()}\n\n{choices}\n\nWhich choice is most promising?"
    return [Message("system", VOTE_SYSTEM), Message("user", user)]


def parse_choice(text: str, n_choices: int) -> int | None:
    """The 0-based choice a vote names, or None when it names none in range (an abstention)."""
    found = _CHOICE.findall(text)
    if not found and text.strip().isdigit():
        found = [text.strip()]
    if not found:
        return None
    index = int(found[-1]) - 1
    return index if 0 <= index < n_choices else None


def vote(stepper: Stepper, batches: Sequence[tuple[Tree, Sequence[Node]]], n_votes: int) -> None:
    """Value each batch's nodes by the share of ``n_votes`` model votes they get (one backend call)."""
    ctx = stepper.ctx
    contested = [(t, ns) for t, ns in batches if len(ns) > 1]
    for _, ns in batches:
        if len(ns) == 1:
            ns[0].score = ns[0].value = 1.0
    if not contested:
        return
    prompts = [ctx.backend.render(vote_messages(t, ns)) for t, ns in contested]
    gens = stepper.call(
        prompts, [t.problem.id for t, _ in contested], n_votes, stop=(), max_tokens=stepper.max_step_tokens
    )
    for (_, ns), gen in zip(contested, gens, strict=True):
        picks = [parse_choice(c.text, len(ns)) for c in gen.completions]
        for i, node in enumerate(ns):
            node.info["votes"] = picks.count(i)
            node.score = node.value = picks.count(i) / n_votes

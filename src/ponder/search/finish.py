"""Starting and finishing a search: trees, budget checks, forced completions, final pick, Results, errors.

Final pick (``pick``) over the finished candidates that no guardrail filtered:
- "score": the highest value among candidates with an answer, when any has one (ties: the earliest candidate);
- "weighted_vote": answers grouped by ``task.answer_key``, each group weighted by the sum of its values
  (values must be non-negative, e.g. P("Yes") of a judge);
- "vote": plain majority of answers.

Errors mid-search keep the tree: ``keep_partial`` turns a BudgetExhausted into a BudgetExhausted and any
other ponder error (ScorerError, BackendError) into a StrategyError, whose ``partial`` holds one Result per
problem of the batch with ``answer=None``, the finished candidates so far and the trace of the tree explored
so far (plus an "error" event). The original error is the ``__cause__``. ConfigErrors pass through.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ponder.errors import BudgetExhausted, ConfigError, PonderError, ScorerError, StrategyError
from ponder.search.expand import Stepper
from ponder.search.levels import Evaluate, rank_key, regroup
from ponder.search.tree import Node, Tree
from ponder.strategies.base import (
    Context,
    filter_events,
    first_with_answer,
    guard,
    majority_vote,
    prompts_for,
    result,
    sampling_params,
)
from ponder.types import Candidate, Problem, Result, TraceEvent

SELECTIONS: tuple[str, ...] = ("score", "weighted_vote", "vote")


def new_trees(problems: Sequence[Problem], ctx: Context) -> list[Tree]:
    """One tree per problem, its prompt rendered once."""
    delimiter = ctx.task.step_delimiter
    if not isinstance(delimiter, str) or not delimiter:
        raise ConfigError(f"task {ctx.task.name!r} has no usable step_delimiter: {delimiter!r}")
    return [Tree(p, prompt, delimiter) for p, prompt in zip(problems, prompts_for(problems, ctx), strict=True)]


def make_stepper(ctx: Context, temperature: float | None, max_tokens: int | None, max_step_tokens: int) -> Stepper:
    """A Stepper over the run's params with a strategy's overrides (``max_tokens`` for final completions)."""
    params = sampling_params(ctx, temperature, max_tokens, logprobs=False)
    return Stepper(ctx, params, max_step_tokens=max_step_tokens, final_tokens=params.max_tokens)


def check_budget(ctx: Context, who: str, need: int, what: str) -> None:
    """ConfigError when the run's token cap cannot pay for even one token per sample of the first round."""
    cap = ctx.backend.meter.budget.max_completion_tokens
    if cap is not None and cap < need:
        raise ConfigError(
            f"{who}: budget max_completion_tokens={cap} is smaller than {what}={need}; "
            f"the first round alone samples {need} steps"
        )


def ensure_finished(trees: Sequence[Tree], stepper: Stepper, evaluate: Evaluate) -> None:
    """Force a completion (no delimiter stop) from the best open leaf of every group with no finished node
    (see ``_restart_key``)."""
    leaves = []
    for tree in trees:
        for group in tree.groups():
            if tree.finished(group):
                continue
            mine = [n for n in tree.nodes[1:] if n.group == group and not n.finished]
            open_leaves = [n for n in mine if all(tree.nodes[k].dead_end for k in n.children)]
            leaves.append((tree, min(open_leaves or [tree.root], key=_restart_key), group))
    if not leaves:
        return
    for _, node, _ in leaves:
        if node.pruned is not None:  # it grows again: the trace says what it had been
            node.info["restarted"], node.pruned = node.pruned, None
    kids = stepper.expand([(t, n) for t, n, _ in leaves], 1, "forced")
    for (_, _, group), [child] in zip(leaves, kids, strict=True):
        child.group = group
    evaluate(regroup(trees, [(t, n) for t, n, _ in leaves], kids))


def _restart_key(node: Node) -> tuple[int, float, int, int]:
    """Best first: the frontier (kept, or left unexplored when the search stopped), then nodes pruned by rank,
    then those below a threshold; within each, the higher value, then the deeper node, then the earlier one."""
    why = node.pruned or ""
    tier = 0 if not why or why.startswith("unexplored") else 2 if "below threshold" in why else 1
    value, node_id = rank_key(node)
    return tier, value, -node.depth, node_id


def candidates_of(tree: Tree, ctx: Context, group: int | None = None) -> tuple[Candidate, ...]:
    """The finished solutions of ``tree`` (of one group), guardrails applied."""
    return guard(tree.problem, [tree.candidate(n, ctx.task) for n in tree.finished(group)], ctx)


def pick(candidates: Sequence[Candidate], select: str, ctx: Context) -> tuple[str | None, int | None, TraceEvent]:
    """The answer, the chosen candidate's index and a "select" trace event."""
    if select == "score":
        kept = [i for i, c in enumerate(candidates) if c.filtered is None]
        best = best_scored(candidates, kept)
        answer = None if best is None else candidates[best].answer
        return answer, best, TraceEvent("select", {"rule": "score", "selected": best})
    weights = None
    if select == "weighted_vote":
        weights = [c.score or 0.0 for c in candidates]
        if any(w < 0 for w in weights):
            raise ScorerError(f"weighted_vote needs non-negative scores, got {min(weights):g}")
    answer, totals = majority_vote(candidates, ctx.task, weights)
    selected = first_with_answer(candidates, answer, ctx)
    return answer, selected, TraceEvent("select", {"rule": select, "totals": totals, "selected": selected})


def best_scored(candidates: Sequence[Candidate], indices: Sequence[int]) -> int | None:
    """The highest-scored of ``indices``, candidates with an answer first (ties: the earliest); None if empty."""
    return min(indices, key=lambda i: (candidates[i].answer is None, -(candidates[i].score or 0.0), i), default=None)


def search_result(strategy: Any, tree: Tree, ctx: Context, select: str, events: Sequence[TraceEvent] = ()) -> Result:
    """The Result of one finished search: every finished node a candidate, one picked by ``select``."""
    candidates = candidates_of(tree, ctx)
    answer, selected, chosen = pick(candidates, select, ctx)
    trace = [*events, tree.event(), *filter_events(candidates), chosen]
    return result(strategy, tree.problem, ctx, answer, candidates, trace, selected)


def partial_results(strategy: Any, trees: Sequence[Tree], ctx: Context, exc: Exception) -> list[Result]:
    """Results for a search cut short by ``exc``: no answer, the tree so far in the trace."""
    error = TraceEvent("error", {"type": type(exc).__name__, "message": str(exc)})
    return [result(strategy, t.problem, ctx, None, candidates_of(t, ctx), [t.event(), error]) for t in trees]


@contextmanager
def keep_partial(strategy: Any, trees: Sequence[Tree], ctx: Context) -> Iterator[None]:
    """Re-raise errors of the search with the trees so far in ``partial`` (see the module docstring)."""
    try:
        yield
    except ConfigError:
        raise
    except BudgetExhausted as exc:
        raise BudgetExhausted(str(exc), partial=partial_results(strategy, trees, ctx, exc)) from exc
    except PonderError as exc:
        partial = partial_results(strategy, trees, ctx, exc)
        raise StrategyError(f"{strategy.name} stopped mid-search: {exc}", partial=partial) from exc


def top_up(ctx: Context, n_trees: int, done: int, planned: int) -> None:
    """Report the progress units a search planned but did not need (it ended early)."""
    if planned > done:
        ctx.advance(n_trees * (planned - done))

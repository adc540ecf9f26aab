"""The registries of ponder: every backend, task, scorer, candidate filter and strategy, by name.

Entries are lazy ``"module:attr"`` strings, so an optional dependency is imported only when its entry is
used. Factories take keyword options:
- backends: ``Cls(model=None, **options)``
- tasks: ``Cls(**options)``
- scorers: ``Cls(backend: Metered, task: Task, **options)``
- filters: ``Cls(backend: Metered, task: Task, **options)``
- strategies: ``Cls(**options)`` (a dataclass; its fields are its parameters)

``make_registries`` builds fresh registries from these tables (no module-level mutable state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ponder.registry import Registry

BACKENDS = {
    "llamacpp": "ponder.backends.llamacpp:LlamaCppBackend",
    "openai": "ponder.backends.openai:OpenAIBackend",
    "fake": "ponder.backends.fake:FakeBackend",
    "vllm": "ponder.backends.vllm:VLLMBackend",
}
TASKS = {
    "math": "ponder.tasks.math_answer:MathAnswerTask",
    "gsm_symbolic": "ponder.tasks.gsm_symbolic:GSMSymbolicTask",
    "gsm8k": "ponder.tasks.gsm8k:GSM8KTask",
    "jsonl": "ponder.tasks.jsonl:JsonlTask",
    "game24": "ponder.tasks.game24:Game24Task",
    "math500": "ponder.tasks.math500:Math500Task",
    "aime": "ponder.tasks.aime:AIMETask",
    "humaneval": "ponder.tasks.humaneval:HumanEvalTask",
}
SCORERS = {
    "judge": "ponder.scorers.judge:JudgeScorer",
    "confidence": "ponder.scorers.confidence:ConfidenceScorer",
    "rule": "ponder.scorers.rule:RuleScorer",
    "prm": "ponder.scorers.prm:PRMScorer",
    "outcome-as-process": "ponder.scorers.outcome_as_process:outcome_as_process",
    "public_tests": "ponder.scorers.code:PublicTestsScorer",
}
FILTERS = {
    "blocklist": "ponder.guardrails:BlocklistFilter",
    "callable": "ponder.guardrails:CallableFilter",
    "judge": "ponder.guardrails:JudgeFilter",
}
STRATEGIES = {
    "cot": "ponder.strategies.cot:ChainOfThought",
    "self_consistency": "ponder.strategies.self_consistency:SelfConsistency",
    "best_of_n": "ponder.strategies.best_of_n:BestOfN",
    "self_refine": "ponder.strategies.self_refine:SelfRefine",
    "reflexion": "ponder.strategies.reflexion:Reflexion",
    "deliberate": "ponder.strategies.deliberate:Deliberate",
    "revisions": "ponder.strategies.revisions:Revisions",
    "budget_forcing": "ponder.strategies.budget_forcing:BudgetForcing",
    "beam_search": "ponder.strategies.beam:BeamSearch",
    "lookahead": "ponder.strategies.lookahead:Lookahead",
    "tree_of_thought": "ponder.strategies.tree_of_thought:TreeOfThought",
    "forest_of_thought": "ponder.strategies.forest_of_thought:ForestOfThought",
    "mcts": "ponder.strategies.mcts:MCTS",
    "code_select": "ponder.strategies.code_select:CodeSelect",
    "mixed": "ponder.strategies.mixed:Mixed",
    "adaptive": "ponder.strategies.adaptive:Adaptive",
}


@dataclass(frozen=True)
class Registries:
    backends: Registry[Any]
    tasks: Registry[Any]
    scorers: Registry[Any]
    filters: Registry[Any]
    strategies: Registry[Any]


def make_registries() -> Registries:
    """Fresh registries holding ponder's built-in entries (plus entry-point plugins, loaded on use)."""
    return Registries(
        backends=Registry("backend", dict(BACKENDS)),
        tasks=Registry("task", dict(TASKS)),
        scorers=Registry("scorer", dict(SCORERS)),
        filters=Registry("filter", dict(FILTERS)),
        strategies=Registry("strategy", dict(STRATEGIES)),
    )

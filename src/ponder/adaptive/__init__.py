"""Compute-optimal, adaptive test-time scaling (the pieces behind ``self_consistency --early-stop``,
``ponder calibrate`` and the ``adaptive`` strategy).

- ``stopping``: when self-consistency may stop sampling (unassailable lead, Beta posterior criterion).
- ``difficulty``: difficulty estimators from a cheap probe (no ground truth), oracle bins, Spearman.
- ``policy``: the Policy file (pydantic): per difficulty bin and budget, the strategy to run.
- ``fit``: fitting a Policy from per-problem grid outcomes, with held-out validation.
- ``calibrate``: running the grid over a calibration split (through ``eval.runner``) and fitting.
- ``allocate``: splitting a batch token budget over problems by predicted difficulty.
"""

"""Evaluation: run a task x strategy x budget x seed grid into resumable records, then measure and report.

- ``runner.run_eval(EvalConfig(...))``: run or resume a grid (``config``, ``grid``, ``records``, ``store``).
- ``metrics``: accuracy, maj@k, pass@k, coverage, bootstrap CIs, paired tests, FLOPs exchange rate.
- ``report.summarize`` / ``report.write_report``: tables, PNG plots (``plots``), Markdown and HTML.

The command line is ``ponder eval`` and ``ponder report`` (``ponder.cli.eval_cmd``).
"""

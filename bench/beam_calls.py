"""Where step-level beam search processes prompt tokens: one line per backend call, generation vs judge.

Runs ``beam_search`` with the ``judge`` scorer on one gsm_symbolic problem and prints, for every
``generate`` call, how many prompt tokens it sent, how many the backend's prefix cache reused, and which
kind of call it was (step generation, or the judge's one-token Yes/No). Prints the totals per kind; writes
nothing. Use it to see which part of a search pays for prompt processing (``bench.search_beam`` gives the
totals only).

    .venv/bin/python -m bench.beam_calls --model qwen2.5-coder-0.5b --threads 2
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Sequence

from ponder.api import get_strategy, get_task, load_backend, make_context, run_chunks
from ponder.catalog import make_registries
from ponder.types import Generation, SamplingParams


class CallLog:
    """Wraps a backend's ``generate`` and records (kind, prompts, sent, reused) per call."""

    def __init__(self, backend, quiet: bool = False) -> None:
        self.backend, self.inner, self.rows, self.quiet = backend, backend.generate, [], quiet
        backend.generate = self.generate

    def detach(self) -> None:
        """Give the backend its own ``generate`` back."""
        self.backend.generate = self.inner

    def totals(self) -> dict[str, tuple[int, int]]:
        """(prompt tokens sent, reused) per kind of call."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for kind, _, sent, reused in self.rows:
            out[kind][0] += sent
            out[kind][1] += reused
        return {kind: (sent, reused) for kind, (sent, reused) in out.items()}

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        out = self.inner(prompts, params, n)
        kind = "judge" if params.max_tokens <= 8 else "generation"
        sent = sum(g.prompt_tokens for g in out)
        reused = sum(g.cached_prompt_tokens for g in out)
        self.rows.append((kind, len(prompts), sent, reused))
        if not self.quiet:
            new = sent - reused
            print(f"{kind:10s} prompts={len(prompts):3d} n={n} sent={sent:6d} reused={reused:6d} new={new:5d}")
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--problem", type=int, default=0, help="index of the gsm_symbolic test problem")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--beam-width", type=int, default=4)
    ap.add_argument("--max-depth", type=int, default=8)
    args = ap.parse_args()
    backend = load_backend("llamacpp", args.model, n_threads=args.threads)
    log = CallLog(backend)
    task = get_task("gsm_symbolic")
    problem = list(task.problems(limit=args.problem + 1))[-1]
    params = SamplingParams(temperature=0.8, max_tokens=512)
    ctx = make_context(backend, task, make_registries(), params=params, seed=0, scorer="judge")
    strategy = get_strategy("beam_search", n=args.n, beam_width=args.beam_width, max_depth=args.max_depth)
    try:
        run_chunks(strategy, [problem], ctx, chunk_size=1)
    finally:
        backend.close()
    totals = log.totals()
    all_sent = sum(s for s, _ in totals.values())
    for kind, (sent, reused) in totals.items():
        print(
            f"{kind}: sent {sent}, reused {reused}, processed {sent - reused} "
            f"({(sent - reused) / max(1, all_sent):.1%} of all prompt tokens sent)"
        )


if __name__ == "__main__":
    main()

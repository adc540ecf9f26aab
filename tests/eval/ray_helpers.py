"""A fake backend for the Ray tests, imported inside Ray actors as ``tests.eval.ray_helpers``.

``HangingBackend`` behaves like FakeBackend except that, while the file ``<marker>/hang`` exists, a call
whose prompts mention ``Question 3:`` writes its actor's name to ``<marker>/entered`` and hangs, so a test
can kill that actor mid-job. The test removes ``hang`` first, so the retried job runs through.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.backends.fake import FakeBackend
from ponder.types import Generation, SamplingParams

HANG_ON = "Question 3:"


class HangingBackend(FakeBackend):
    def __init__(self, model: str | None = None, *, marker: str, **kwargs: Any) -> None:
        super().__init__(model=model, **kwargs)
        self.marker = Path(marker)

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        if (self.marker / "hang").exists() and any(HANG_ON in p for p in prompts):
            import ray

            name = ray.get_runtime_context().get_actor_name() or ""
            (self.marker / "entered.tmp").write_text(name)
            (self.marker / "entered.tmp").rename(self.marker / "entered")  # appears whole, never empty
            time.sleep(120)  # killed long before
        return super().generate(prompts, params, n)

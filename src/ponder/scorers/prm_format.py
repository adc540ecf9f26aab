"""How the PRM scorer turns (question, steps) into model input and reads step scores from the model's output.

``PRMFormat.encode`` renders one trajectory in the PRM's style (qwen, math_shepherd or rlhflow; see
``ponder.scorers.prm``) and finds the token at which each step's score is read; ``make_head`` builds the
function from hidden states at those tokens to step scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ponder.errors import ConfigError, ScorerError

_HOLE = "\x00ponder-{}\x00"
"""Placeholder put into chat messages to find where the template places them."""


@dataclass
class PRMFormat:
    """The input format of one loaded PRM."""

    tokenizer: Any
    style: str
    step_tag: str | None
    good_token: str
    system_prompt: str

    def encode(self, question: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        """Token ids up to the last read position, and the read position of each step."""
        text, marks, special = self._format(question, [s.strip() for s in steps])
        enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=special)
        offsets = enc["offset_mapping"]
        reads: list[int] = []
        t = 0
        for mark in marks:  # the last token starting at or before the read character (whitespace may be dropped)
            while t + 1 < len(offsets) and offsets[t + 1][0] <= mark:
                t += 1
            if not offsets or offsets[t][0] > mark or (reads and t <= reads[-1]):
                raise ScorerError(f"PRM input has no token at a step separator (style {self.style})")
            reads.append(t)
        return list(enc["input_ids"][: reads[-1] + 1]), reads

    def _format(self, question: str, steps: list[str]) -> tuple[str, list[int], bool]:
        """(text, the character of each step's read position, whether to add special tokens)."""
        if self.style == "rlhflow":
            turns = []
            for k, step in enumerate(steps):
                turns += [{"role": "user", "content": f"{question} {step}" if k == 0 else step}]
                turns += [{"role": "assistant", "content": _HOLE.format(k)}]
            rest, text, marks = self._template(turns), "", []
            for k in range(len(steps)):  # the read position is the last character before each answer
                before, rest = rest.split(_HOLE.format(k), 1)
                text += before
                marks.append(len(text) - 1)
                text += self.good_token
            return text + rest, marks, False
        tag = str(self.step_tag)
        if self.style == "qwen":
            pieces = [step + tag for step in steps]
        else:
            pieces = [f"Step {k + 1}: {step} {tag}\n" for k, step in enumerate(steps)]
        if self.style == "qwen" and getattr(self.tokenizer, "chat_template", None):
            system, user = {"role": "system", "content": self.system_prompt}, {"role": "user", "content": question}
            rendered = self._template([system, user, {"role": "assistant", "content": _HOLE.format(0)}])
            head, special = rendered[: rendered.index(_HOLE.format(0))], False
        else:
            head, special = question + (" " if self.style == "math_shepherd" else "\n\n"), True
        marks, end = [], len(head)
        for piece in pieces:
            marks.append(end + piece.rindex(tag) + len(tag) - 1)
            end += len(piece)
        return head + "".join(pieces), marks, special

    def _template(self, messages: list[dict[str, str]]) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise ConfigError(f"PRM style {self.style!r} needs a tokenizer with a chat template")
        return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False))


def _token_id(tokenizer: Any, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if not ids:
        raise ConfigError(f"PRM tokenizer gives no token for {text!r}")
    return int(ids[-1])


def make_head(model: Any, tokenizer: Any, style: str, tokens: tuple[str, str], model_name: str) -> Any:
    """A function from hidden states at read positions to step scores."""
    import torch

    if style == "qwen":
        classifier = next((getattr(model, a) for a in ("score", "classifier") if hasattr(model, a)), None)
        if classifier is None:
            raise ConfigError(f"PRM {model_name!r} has no classification head (score/classifier)")
        return lambda hidden: torch.softmax(classifier(hidden).float(), dim=-1)[..., 1]
    good, bad = _token_id(tokenizer, tokens[0]), _token_id(tokenizer, tokens[1])
    if good == bad:
        raise ConfigError(f"good_token {tokens[0]!r} and bad_token {tokens[1]!r} are the same token")
    lm_head = model.get_output_embeddings()
    rows = lm_head.weight[[good, bad]]  # only the two logits needed, not the whole vocabulary
    bias = None if getattr(lm_head, "bias", None) is None else lm_head.bias[[good, bad]]
    return lambda hidden: torch.softmax(torch.nn.functional.linear(hidden, rows, bias).float(), dim=-1)[..., 0]


def detect_style(config: Any, tokenizer: Any) -> str:
    """qwen for classification heads, math_shepherd when the tokenizer knows "ки", rlhflow for other chat LMs."""
    architectures = " ".join(getattr(config, "architectures", None) or [])
    if "TokenClassification" in architectures or "ProcessRewardModel" in architectures:
        return "qwen"
    if "CausalLM" not in architectures:
        raise ConfigError(f"cannot tell the PRM style of architectures {architectures!r}; pass style=")
    if "ки" in tokenizer.get_vocab() or not getattr(tokenizer, "chat_template", None):
        return "math_shepherd"
    return "rlhflow"


def auto_class(transformers: Any, config: Any, style: str, trust_remote_code: bool) -> Any:
    """The transformers Auto class that builds this PRM with its head."""
    if style != "qwen":
        return transformers.AutoModelForCausalLM
    if trust_remote_code and "AutoModel" in (getattr(config, "auto_map", None) or {}):
        return transformers.AutoModel  # Qwen2.5-Math-PRM ships its own Qwen2ForProcessRewardModel
    return transformers.AutoModelForTokenClassification

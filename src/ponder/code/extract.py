"""Finding the code in a model's completion (fenced blocks, or bare code)."""

from __future__ import annotations

import re

__all__ = ["extract_code"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(completion: str) -> str | None:
    """The code in a completion: the first fenced python block that defines a function (else the first
    fenced block), else the text itself when it looks like code; None when there is none."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(completion)]
    python = [body for lang, body in blocks if lang in ("", "python", "py", "python3")]
    for body in python:
        if re.search(r"^\s*def\s+\w+\s*\(", body, re.MULTILINE):
            return body.rstrip()
    if python and python[0].strip():
        return python[0].rstrip()
    text = completion.rstrip()
    looks_like_code = bool(re.match(r"^(\s{2,}|\t)\S", text)) or bool(re.search(r"^def\s+\w+\s*\(", text, re.M))
    return text if text.strip() and looks_like_code else None

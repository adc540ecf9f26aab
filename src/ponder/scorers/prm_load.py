"""Loading a Hugging Face process reward model: tokenizer, config, the right model class, clear errors."""

from __future__ import annotations

from typing import Any

from ponder.errors import ConfigError
from ponder.scorers.prm_format import auto_class, detect_style

INSTALL_HINT = "the prm scorer needs torch and transformers: pip install 'ponder[prm]'"


def load_pretrained(name: str, style: str, dtype: str | None, trust_remote_code: bool) -> tuple[Any, Any, str]:
    """(model, fast tokenizer, style) of PRM ``name``; ``style`` "auto" is detected. ConfigError on failure."""
    try:
        import torch  # noqa: F401  (the model needs it; fail here with the install hint)
        import transformers
    except ImportError as exc:
        raise ConfigError(f"{INSTALL_HINT} ({exc})") from exc
    opts: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    try:
        config = transformers.AutoConfig.from_pretrained(name, **opts)
        tokenizer = transformers.AutoTokenizer.from_pretrained(name, **opts)
        style = style if style != "auto" else detect_style(config, tokenizer)
        if dtype is not None:
            opts["dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"] = dtype
        model = auto_class(transformers, config, style, trust_remote_code).from_pretrained(name, **opts)
    except ConfigError:
        raise
    except Exception as exc:  # transformers raises many kinds (OSError, ValueError, HF hub errors, ...)
        raise ConfigError(f"could not load PRM {name!r}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"PRM {name!r} needs a fast tokenizer (for character offsets)")
    return model, tokenizer, style

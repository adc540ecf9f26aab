"""Running and judging generated code: the sandbox, public examples parsed from prompts, and helpers
that build runnable programs. Nothing here talks to a model."""

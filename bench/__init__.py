"""On-demand benchmarks; each writes its own section of docs/BENCHMARKS.md (see ``bench.common``)."""

"""Reports of an evaluation directory: aggregated numbers, Markdown, PNG plots and one HTML page.

``summarize(run_dir)`` reads the records and returns a ``Summary`` (points with CIs, per-level points where
the task has levels, maj@k/pass@k curves, paired comparisons, optional FLOPs exchange analysis).
``write_report(summary, out)`` writes ``report.md``, ``report.html`` (self-contained), ``summary.json`` and
the PNG plots into ``out`` (default ``run_dir/report``). Nothing here runs a model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError
from ponder.eval import aggregate as agg
from ponder.eval.document import Section, Table, to_html, to_markdown
from ponder.eval.grid import drop_unused_scorer
from ponder.eval.metrics import Estimate, exchange_rate, flops_matched_multiplier
from ponder.eval.plots import plot_all
from ponder.eval.store import RunStore
from ponder.types import to_jsonable

__all__ = ["Exchange", "Summary", "summarize", "write_report"]


@dataclass(frozen=True)
class Exchange:
    """Snell et al. §7 exchange: is test-time compute cheaper than a larger model? (see ``eval.metrics``)."""

    large_params: float
    pretrain_tokens: float
    inference_tokens: float

    def __post_init__(self) -> None:
        for name in ("large_params", "pretrain_tokens", "inference_tokens"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"exchange-rate {name} must be a positive number, got {value!r}")


@dataclass
class Summary:
    """Everything a report shows."""

    run_dir: str
    records: int
    errors: int
    points: list[agg.Point]
    level_points: list[agg.Point]
    k_curves: list[agg.KCurve]
    comparisons: list[agg.Pair]
    runs: list[dict[str, Any]]
    exchange: dict[str, Any] | None = None
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (NaN, e.g. an empty group's mean, becomes None)."""
        return _no_nan(to_jsonable(dataclasses.asdict(self)))  # type: ignore[no-any-return]


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def summarize(run_dir: str | Path, exchange: Exchange | None = None) -> Summary:
    """Aggregate the records of ``run_dir``; ConfigError when it holds none."""
    messages: list[str] = []
    store = RunStore(run_dir, messages.append)
    everything = store.records()
    records, superseded = agg.latest(everything)
    if superseded:
        messages.append(
            f"{superseded} record(s) superseded by a later record of the same series, budget, seed and problem "
            "(a strategy's default parameters changed between runs); the later ones are reported"
        )
    if not records:
        raise ConfigError(f"no records in {str(Path(run_dir) / 'records.jsonl')!r}: run `ponder eval --out` first")
    errors = store.errors()
    runs = store.runs()
    rank: dict[str, int] = {}
    for run in runs:
        for name in run.get("config", {}).get("strategies", []):
            rank.setdefault(name, len(rank))
    records.sort(key=lambda r: rank.get(r.get("strategy", ""), len(rank)))  # stable: series in run order
    labels: dict[tuple[str, str], str] = {}
    for r in records:
        key = (str(r.get("strategy", "")), str(r["label"]))
        r["label"] = labels.setdefault(key, drop_unused_scorer(*key))
    agg.disambiguate(records)
    done = {(r["config"], r["problem_id"]) for r in everything}
    kept = {agg.point_key(r) for r in records}  # a superseded configuration's errors are answered by its successor
    open_errors = [
        e for e in errors if (e.get("config"), e.get("problem_id")) not in done and agg.point_key(e) not in kept
    ]
    level_points = agg.points(records, by_level=True) if len(agg.levels(records)) > 1 else []
    summary = Summary(
        run_dir=str(run_dir),
        records=len(records),
        errors=len({(e.get("config"), e.get("problem_id")) for e in open_errors}),
        points=agg.points(records, open_errors),
        level_points=level_points,
        k_curves=agg.k_curves(records),
        comparisons=agg.comparisons(records),
        runs=runs,
        messages=messages,
    )
    if exchange is not None:
        summary.exchange = _exchange(summary.points, records, exchange)
    return summary


def _exchange(points: list[agg.Point], records: list[dict[str, Any]], ex: Exchange) -> dict[str, Any]:
    """FLOPs multiplier of each point over its task's cheapest point, against the matched multiplier K."""
    params = {int(r.get("n_params") or 0) for r in records}
    if len(params) != 1 or 0 in params:
        raise ConfigError(f"the exchange rate needs one known model size in the records, found {sorted(params)}")
    small = params.pop()
    m = ex.large_params / small
    if m < 1:
        raise ConfigError(f"large_params ({ex.large_params:g}) must be at least the run's model size ({small})")
    r = exchange_rate(ex.inference_tokens, ex.pretrain_tokens)
    k = flops_matched_multiplier(m, r)
    rows = []
    for task in dict.fromkeys(p.task for p in points):
        mine = [p for p in points if p.task == task]
        base = min(mine, key=lambda p: p.flops)
        for p in mine:
            mult = p.flops / base.flops if base.flops else math.nan
            rows.append(
                {
                    "task": task,
                    "label": p.label,
                    "budget": p.budget,
                    "accuracy": p.accuracy.mean,
                    "flops_multiplier": mult,
                    "within_k": bool(mult <= k),
                    "baseline": base.label,
                }
            )
    return {"small_params": small, "large_params": ex.large_params, "M": m, "R": r, "K": k, "rows": rows}


def _ci(e: Estimate) -> str:
    if math.isnan(e.mean):
        return "-"
    return f"{e.mean:.3f} [{e.low:.3f}, {e.high:.3f}]"


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3g}"


POINT_HEADERS = ("series", "budget", "seeds", "problems", "accuracy [95% CI]", "pass@1", "coverage",
                 "gen tokens", "FLOPs", "wall s", "cache hits", "errors")  # fmt: skip


def point_row(p: agg.Point) -> tuple[str, ...]:
    """One table row of a point (shared by the terminal table)."""
    cost = (_num(p.completion_tokens), _num(p.flops), _num(p.wall_seconds), f"{p.cache_hit_rate:.0%}", str(p.errors))
    return (
        p.label,
        str(p.budget),
        str(p.seeds),
        str(p.problems),
        _ci(p.accuracy),
        _ci(p.pass1),
        _ci(p.coverage),
        *cost,
    )


def _point_tables(points: list[agg.Point], by_level: bool) -> tuple[Table, ...]:
    keys = list(dict.fromkeys((p.task, p.level) for p in points))
    tables = []
    for task, level in keys:
        rows = tuple(point_row(p) for p in points if p.task == task and p.level == level)
        title = f"{task}" + (f", level {level}" if by_level else "")
        tables.append(Table(POINT_HEADERS, rows, title))
    return tuple(tables)


def _curve_tables(curves: list[agg.KCurve]) -> tuple[Table, ...]:
    out = []
    for c in curves:
        rows = tuple((str(k), _ci(m), _ci(p)) for k, m, p in zip(c.ks, c.maj, c.pass_k, strict=True))
        out.append(Table(("k", "maj@k", "pass@k"), rows, f"{c.task}: {c.label}, first k of budget {c.budget}"))
    return tuple(out)


def _pair_table(pairs: list[agg.Pair]) -> Table:
    rows = tuple(
        (p.task, str(p.budget), f"{p.a} - {p.b}", _ci(p.result.diff), f"{p.result.a_only} / {p.result.b_only}",
         f"{p.result.p_value:.3g}")
        for p in pairs
    )  # fmt: skip
    return Table(("task", "budget", "A - B", "difference [95% CI]", "problems A / B better", "sign test p"), rows)


def _exchange_section(ex: dict[str, Any]) -> Section:
    intro = (
        f"Model size N = {ex['small_params']:.3g}; larger model {ex['large_params']:.3g} (M = {ex['M']:.3g}); "
        f"R = D_inference / D_pretrain = {ex['R']:.3g}. Matching the larger model's total FLOPs "
        f"(6·N·D_pretrain + 2·N·D_inference, Snell et al. 2024 §7) allows K = M + 3(M-1)/R = {ex['K']:.3g} "
        "times the base inference FLOPs. A configuration within K that reaches the larger model's accuracy "
        "(measure it separately) makes test-time compute the cheaper choice."
    )
    rows = tuple((r["task"], r["label"], str(r["budget"]), f"{r['accuracy']:.3f}", f"{r['flops_multiplier']:.3g}",
                  "yes" if r["within_k"] else "no") for r in ex["rows"])  # fmt: skip
    headers = ("task", "series", "budget", "accuracy", "FLOPs x cheapest", f"within K={ex['K']:.3g}")
    return Section("Pretraining vs test-time compute", (intro,), (Table(headers, rows),))


NOTES = (
    "Accuracy, pass@1 and coverage are means over problems (seeds averaged within a problem) with 95% "
    "percentile-bootstrap CIs over problems. Costs are means per problem-run: generated tokens, FLOPs = 2 x "
    "parameters x tokens computed (scorer/verifier calls included), and wall seconds (the problem's share of "
    "batched calls, plus the original generation time of samples replayed from the cache)."
)


def sections(summary: Summary, images: list[Path]) -> list[Section]:
    """The report's sections (shared by Markdown and HTML)."""
    out = [Section("Accuracy against compute", (NOTES,), _point_tables(summary.points, False), tuple(images))]
    if summary.level_points:
        out.append(Section("By difficulty level", (), _point_tables(summary.level_points, True)))
    if summary.k_curves:
        text = "maj@k and unbiased pass@k from the first k candidates of each series' largest budget."
        out.append(Section("maj@k and pass@k", (text,), _curve_tables(summary.k_curves)))
    if summary.comparisons:
        text = (
            "Each series against the first one of its task, paired over problems (seeds averaged within a "
            "problem): difference with a bootstrap 95% CI, and an exact sign test on the problems where one did "
            "better (McNemar's exact test with one seed)."
        )
        out.append(Section("Paired comparisons", (text,), (_pair_table(summary.comparisons),)))
    if summary.exchange:
        out.append(_exchange_section(summary.exchange))
    runs = [f"`{json.dumps(r.get('config', {}), sort_keys=True)}` (started {r.get('started')})" for r in summary.runs]
    status = f"{summary.records} records; {summary.errors} problem run(s) failed and have no record yet."
    out.append(Section("Runs", (status, *summary.messages, *runs)))
    return out


def write_report(summary: Summary, out: str | Path | None = None) -> dict[str, Path]:
    """Write report.md, report.html, summary.json and the plots; their paths by kind."""
    folder = Path(out) if out is not None else Path(summary.run_dir) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    images = plot_all(summary.points + summary.level_points, folder)
    parts = sections(summary, images)
    title = f"ponder eval report: {summary.run_dir}"
    paths = {"markdown": folder / "report.md", "html": folder / "report.html", "json": folder / "summary.json"}
    paths["markdown"].write_text(to_markdown(title, parts), encoding="utf-8")
    paths["html"].write_text(to_html(title, parts), encoding="utf-8")
    paths["json"].write_text(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    return {**paths, **{p.stem: p for p in images}}

"""From results table(s) to correlations, ranks, summary and figures.

``load_results`` reads our table and/or the paper's and merges them;
``analyze`` computes everything without touching the disk; ``write_outputs``
writes the CSVs, the markdown summary and the figures. ``code/analyze.py`` and
``code/plots.ipynb`` are thin shells around these three.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import ResultsError
from ..flags import comma_list
from ..results.setup import split_row
from ..zoo.families import ZERO_SHOT
from ..zoo.paper_models import PAPER_MODELS
from .aggregates import METRICS, OPTIONAL, Metrics, category_of, compute_metrics
from .correlations import bias_aggregate_correlations, bias_bias_correlations, family_correlations
from .figures import all_figures, save_figure
from .paper_table import PAPER_TABLE_URL, SHIPPED_PAPER_TABLE, load_paper_table, paper_table_path
from .prediction import TOP1, prediction_table
from .report import highlight_ranks, summary_markdown
from .tables import merge_tables, read_results

SHIPPED = "shipped"    # value of the ``paper`` argument that reads raw-data/paper/benchmark.csv
DOWNLOAD = "download"  # value of the ``paper`` argument that fetches the newest published table


@dataclass
class Analysis:
    table: pd.DataFrame            # merged results, indexed by model
    provenance: pd.DataFrame       # per model: source (ours/paper/ours+paper), paper_cells
    highlights: list[str]
    analysed: list[str]            # the paper models present, then the highlights
    metrics: Metrics
    correlations: pd.DataFrame     # group, bias, aggregate, rho, p, shown, n
    bias_correlations: pd.DataFrame  # bias_a, bias_b, rho, p, shown, n
    ranks: pd.DataFrame            # highlight ranks per metric
    prediction: pd.DataFrame | None = None  # leave-one-model-out R^2 / Spearman per aggregate (prediction.py)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def _has_rows(path: Path) -> bool:
    try:
        return path.is_file() and len(pd.read_csv(path, usecols=[0])) > 0
    except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError, UnicodeDecodeError):
        return path.is_file() and path.stat().st_size > 0  # let read_results say what is wrong


def load_results(results: str | os.PathLike | None = None, paper: str | os.PathLike | bool | None = None, *,
                 default_results: str | os.PathLike = "raw-data/benchmark.csv",
                 cache_dir: str | os.PathLike | None = None, offline: bool | None = None, setup: str = ""
                 ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Our table and/or the paper's, merged: returns (table, provenance, source descriptions).

    ``results``: our CSV; None uses ``default_results`` when that file has rows. Only its rows of
    ``setup`` are used ('' = the reference setup; e.g. 'bf16' reads the ``<model>@bf16`` rows as
    ``<model>``; docs/results.md).
    ``paper``: None/False = not used; True or "shipped" = the published table shipped in
    ``raw-data/paper/``; "download" = its newest upstream version (cached download); a path = that file.
    """
    sources: list[str] = []
    ours = None
    if results is None and _has_rows(Path(default_results)):
        results = default_results
    if results is not None:
        ours, others = _select_setup(read_results(results), setup, results)
        label = f"setup {setup}" if setup else "reference setup"
        sources.append(f"results table: {Path(results)} ({len(ours)} models, {label}"
                       + (f"; {others} row(s) of other setups left out, see --setup" if others else "") + ")")
    elif not paper:
        raise ResultsError(f"no results to analyse: {default_results} is missing or has no rows; pass --results CSV "
                           "(a table in the paper's column format) and/or --paper-results [PATH] to use the "
                           "paper's published table")
    paper_df = None
    if paper:
        if paper is True or paper == SHIPPED:
            paper_df = load_paper_table(SHIPPED_PAPER_TABLE)
            sources.append(f"paper table: {SHIPPED_PAPER_TABLE.parent.name}/{SHIPPED_PAPER_TABLE.name} shipped "
                           f"with biasbench (from {PAPER_TABLE_URL}; {len(paper_df)} models)")
        elif paper == DOWNLOAD:
            cached = paper_table_path(cache_dir)
            paper_df = load_paper_table(cache_dir=cache_dir, offline=offline)
            sources.append(f"paper table: {PAPER_TABLE_URL} (cached at {cached}; {len(paper_df)} models)")
        else:
            paper_df = load_paper_table(paper)
            sources.append(f"paper table: {Path(paper)} ({len(paper_df)} models)")
    table, provenance = merge_tables(ours, paper_df)
    return table, provenance, sources


def _select_setup(df: pd.DataFrame, setup: str, path) -> tuple[pd.DataFrame, int]:
    """The rows of one setup, indexed by model name, and how many rows of other setups were left out. A zero-shot
    model's rows of other prompt sets are kept beside its default one, named ``<model>@prompts=<label>``, so the
    analysis shows its biases per prompt set side by side (docs/analysis.md)."""
    split = {row: _without_prompts(*split_row(row)) for row in df.index}
    keep = [row for row, (_, label) in split.items() if label == setup]
    if not keep:
        labels = sorted({label or "reference" for _, label in split.values()})
        raise ResultsError(f"results table {path} has no rows of setup {setup or 'reference'!r}; it holds: "
                           f"{', '.join(labels)} (choose one with --setup LABEL)")
    out = df.loc[keep]
    out.index = pd.Index([split[row][0] for row in keep], name=df.index.name)
    return out, len(df) - len(keep)


def _without_prompts(model: str, label: str) -> tuple[str, str]:
    """(model, setup label) with a ``prompts=`` part moved from the label to the model name."""
    parts = comma_list(label)
    prompts = [p for p in parts if p.startswith("prompts=")]
    if not prompts:
        return model, label
    return f"{model}@{prompts[0]}", ",".join(p for p in parts if p not in prompts)


def parse_highlights(text: str | None) -> list[str]:
    """``a,b`` -> ["a", "b"] (empty names dropped, order kept, duplicates removed)."""
    names = comma_list(text)
    return list(dict.fromkeys(names))


def analyze(table: pd.DataFrame, provenance: pd.DataFrame | None = None, highlights=(),
            sources=()) -> Analysis:
    """Aggregates, correlations over the paper's models and highlight ranks of a checked, merged table."""
    highlights = list(highlights)
    if provenance is None:
        provenance = pd.DataFrame({"source": "ours", "paper_cells": 0}, index=table.index)
    unknown = [h for h in highlights if h not in table.index]
    if unknown:
        others = [m for m in table.index if m not in PAPER_MODELS]
        listed = ", ".join(others[:20]) + (f" ... ({len(others)} in all)" if len(others) > 20 else "")
        raise ResultsError(f"--highlight {', '.join(unknown)}: not in the results table; models there outside the "
                           f"paper's 48: {listed or 'none'}")
    paper_present = [m for m in PAPER_MODELS if m in table.index]
    if not paper_present:
        raise ResultsError("none of the paper's 48 models is in the results table, so there is nothing to correlate "
                           "or rank against: add --paper-results to compare with the paper's published numbers")
    analysed = paper_present + [h for h in highlights if h not in paper_present]
    zero_shot = [m for m in table.index if category_of(m) == ZERO_SHOT]  # a family of their own, always analysed
    analysed += [m for m in zero_shot if m not in analysed]
    metrics = compute_metrics(table, analysed)
    notes = _notes(table, metrics, paper_present, highlights + zero_shot)
    corr = bias_aggregate_correlations(metrics.values)
    if zero_shot:  # within the family, and across families (with the paper's 48)
        corr = pd.concat([corr, family_correlations(metrics.values, {
            ZERO_SHOT: zero_shot, f"paper48+{ZERO_SHOT}": paper_present + zero_shot})], ignore_index=True)
    bias_corr = bias_bias_correlations(metrics.values)
    ranks = highlight_ranks(metrics.values, highlights)
    top1 = table[TOP1] if TOP1 in table.columns else pd.Series(float("nan"), index=table.index)
    prediction = prediction_table(metrics.values, top1, paper_present)
    return Analysis(table=table, provenance=provenance, highlights=highlights, analysed=analysed, metrics=metrics,
                    correlations=corr, bias_correlations=bias_corr, ranks=ranks, notes=notes,
                    sources=list(sources), prediction=prediction)


def _notes(table: pd.DataFrame, metrics: Metrics, paper_present: list[str], highlights: list[str]) -> list[str]:
    notes = []
    absent = [m for m in PAPER_MODELS if m not in paper_present]
    if absent:
        notes.append(f"{len(absent)} of the paper's 48 models are not in the table and are left out of every "
                     f"group: {', '.join(absent)}")
    for metric in OPTIONAL:
        if not set(METRICS[metric]) & set(table.columns):
            notes.append(f"{metric} is in no model's results (the paper's table has no such column; the "
                         "freq-cue-conflict benchmark measures it): its correlations are n/a")
    for metric, cols in METRICS.items():
        lacking = {m: v[metric] for m, v in metrics.missing.items() if metric in v}
        if not lacking:
            continue
        absent_cols = [c for c in cols if c not in table.columns]
        if absent_cols:
            notes.append(f"**{metric} not computed for any model**: column(s) {', '.join(absent_cols)} missing "
                         "from the table; its correlations are n/a")
        else:
            shown = list(lacking.items())[:5]  # a long list (e.g. a bias the paper never measured) is said once
            desc = "; ".join(f"{m} (no {', '.join(c)})" for m, c in shown) + (
                f"; and {len(lacking) - len(shown)} more" if len(lacking) > len(shown) else "")
            notes.append(f"**{metric} left empty** (all of {', '.join(cols)} are needed; no partial means) for "
                         f"{len(lacking)} model(s), which drop out of its correlations: {desc}")
    pgd = "top1_acc/PGD-40/low"
    if highlights and pgd in table.columns and table.loc[highlights, pgd].notna().any() \
            and table.loc[paper_present, pgd].notna().any():
        notes.append(f"{pgd}: the paper's values are the reference's (correct + 48) / 50,048, yours correct / "
                     "images; a paper value p is (p x 500.48 - 48) / 500 on your scale (tv_resnet50: 18.390 -> "
                     "18.312; biasbench.attacks.corrected_reference_accuracy), at most 0.1 points lower")
    unused = [m for m in table.index if m not in PAPER_MODELS and m not in highlights]
    if unused:
        notes.append(f"{len(unused)} model(s) in the table are neither among the paper's 48 nor highlighted, and "
                     f"are not analysed (pass --highlight NAME to place one): {', '.join(unused)}")
    return notes


def write_outputs(analysis: Analysis, out_dir: str | os.PathLike, *, figures: bool | dict = True) -> list[Path]:
    """Write correlations.csv, bias_correlations.csv, metrics.csv, highlight_ranks.csv (with highlights),
    summary.md and every figure as PNG and PDF. ``figures``: True builds them, a dict (stem -> Figure, from
    ``all_figures``) saves those, False writes none. Returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df, index in (("correlations.csv", analysis.correlations, False),
                            ("bias_correlations.csv", analysis.bias_correlations, False),
                            ("prediction.csv", analysis.prediction, False),
                            ("metrics.csv", analysis.metrics.values.loc[analysis.analysed].join(
                                analysis.provenance["source"]), True)):
        df.to_csv(out / name, index=index)
        written.append(out / name)
    if analysis.highlights:
        analysis.ranks.to_csv(out / "highlight_ranks.csv", index=False)
        written.append(out / "highlight_ranks.csv")
    fig_files = []
    if figures is True:
        figures = all_figures(analysis.metrics.values, analysis.table, analysis.correlations,
                              analysis.bias_correlations, analysis.highlights)
    if figures:
        for stem, fig in figures.items():
            fig_files += save_figure(fig, out, stem)
    (out / "summary.md").write_text(summary_markdown(analysis, [p.name for p in fig_files]))
    return written + [out / "summary.md"] + fig_files

"""Where highlighted models rank among the paper's, and the markdown summary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..zoo.paper_models import PAPER_MODELS
from .aggregates import AGGREGATES, BIASES, METRICS, UNITS
from .correlations import ALPHA, GROUPS, as_matrix
from .model_bootstrap import rank_interval

RANK_COLUMNS = ["model", "metric", "value", "rank", "of", "rank_lo", "rank_hi", "paper_median", "paper_min",
                "paper_max"]

PAPER_TABLE_QUIRKS = [
    "`top1_acc/imagenet-real` in the paper's table is the accuracy of the last evaluation batch only "
    "(a logging bug in the reference code), so its ID aggregate carries that noise; this suite's own "
    "ReaL column covers all 46,837 labelled images.",
    "`top1_acc/imagenet-c` in the paper's table (and in this suite) averages 19 corruptions x 5 severities, "
    "not the standard 15.",
]


def highlight_ranks(values: pd.DataFrame, highlights) -> pd.DataFrame:
    """Rank of each highlighted model on each metric among the paper's models present.

    Rank 1 is the highest value; ``of`` counts the paper models with a value plus
    the model itself (a highlighted paper model is ranked among the other 47);
    ``rank_lo``/``rank_hi`` bound its 95 % bootstrap interval over the paper's models.
    """
    rows = []
    for h in highlights:
        ref_models = [m for m in PAPER_MODELS if m in values.index and m != h]
        for metric in METRICS:
            ref = values.loc[ref_models, metric].dropna().to_numpy(float)
            v = float(values.at[h, metric]) if h in values.index else math.nan
            if np.isnan(v) or not len(ref):
                rank = of = None
            else:
                rank, of = int((ref > v).sum()) + 1, len(ref) + 1
            stats = (float(np.median(ref)), float(ref.min()), float(ref.max())) if len(ref) else (math.nan,) * 3
            rows.append((h, metric, v, rank, of, *rank_interval(v, ref), *stats))
    return pd.DataFrame(rows, columns=RANK_COLUMNS).astype({"rank": "Int64", "of": "Int64"})


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return "n/a"
    if isinstance(v, (int, np.integer)):
        return str(v)
    return f"{v:.{digits}g}" if abs(v) >= 1000 else f"{v:.{digits}f}"


def md_table(df: pd.DataFrame, index: bool = True, digits: int = 3) -> str:
    """A pandas frame as a GitHub markdown table (no tabulate dependency)."""
    cols = ([df.index.name or ""] if index else []) + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in df.iterrows():
        cells = ([str(idx)] if index else []) + [v if isinstance(v, str) else _fmt(v, digits) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _corr_cell(rho: float, p: float, shown: float, lo: float = math.nan, hi: float = math.nan) -> str:
    if np.isnan(rho):
        return "n/a"
    ci = "" if np.isnan(lo) else f" [{lo:+.2f}, {hi:+.2f}]"
    if shown == 0:
        return f"0 ({rho:+.2f}, p={p:.3f}){ci}"
    return f"**{rho:+.2f}**" + (" (p<0.001)" if p < 0.001 else f" (p={p:.3f})") + ci


def corr_display(corr: pd.DataFrame, group: str | None) -> pd.DataFrame:
    """A correlation table as a matrix of display cells: rho (p) [interval], bold where p < ALPHA."""
    cells = corr.assign(cell=[_corr_cell(*v) for v in zip(corr["rho"], corr["p"], corr["shown"], corr["rho_lo"],
                                                           corr["rho_hi"])])
    return as_matrix(cells, value="cell", group=group)


def _corr_markdown(corr: pd.DataFrame, group: str | None) -> str:
    return md_table(corr_display(corr, group))


def prediction_display(prediction: pd.DataFrame) -> pd.DataFrame:
    """The leave-one-model-out table with R^2 and Spearman as 'value [lo, hi]' cells."""
    t = prediction.copy()
    for k in ("r2", "spearman"):
        t[k] = [_fmt(v) + ("" if np.isnan(lo) else f" [{lo:.2f}, {hi:.2f}]")
                for v, lo, hi in zip(t[k], t[f"{k}_lo"], t[f"{k}_hi"])]
    return t[["aggregate", "predictor", "variant", "n", "r2", "spearman"]]


def rank_display(ranks: pd.DataFrame, model: str) -> pd.DataFrame:
    """One highlighted model's values and ranks (with their 95 % interval) per metric, for display."""
    sub = ranks[ranks["model"] == model].set_index("metric")
    return pd.DataFrame({
        "unit": [UNITS[m] for m in sub.index],
        "value": sub["value"],
        "rank": [f"{r} of {o}" if r is not pd.NA else "n/a" for r, o in zip(sub["rank"], sub["of"])],
        "rank 95% interval": [f"{lo:.0f} - {hi:.0f}" if not np.isnan(lo) else "n/a"
                              for lo, hi in zip(sub["rank_lo"], sub["rank_hi"])],
        "paper median": sub["paper_median"],
        "paper range": [f"{_fmt(lo)} - {_fmt(hi)}" for lo, hi in zip(sub["paper_min"], sub["paper_max"])],
    }, index=pd.Index(sub.index, name="metric"))


def family_groups(correlations: pd.DataFrame) -> list[str]:
    """The correlation groups beyond the paper's (``correlations.GROUPS``): the zero-shot family alone and with the
    paper's 48, present when the table holds zero-shot models."""
    return [g for g in dict.fromkeys(correlations["group"]) if g not in GROUPS]


def summary_markdown(analysis, figure_files=()) -> str:
    """The human-readable summary of an ``Analysis`` (see pipeline.analyze)."""
    a = analysis
    out = ["# biasbench analysis", ""]
    out += ["## Inputs", ""] + [f"- {s}" for s in a.sources]
    prov = a.provenance["source"].reindex(a.analysed).value_counts()
    out.append("- analysed models by source: " + ", ".join(f"{k}: {v}" for k, v in prov.items()))
    mixed = a.provenance[(a.provenance["source"] == "ours+paper") & a.provenance.index.isin(a.analysed)]
    if len(mixed):
        out.append("- models with cells filled from the paper's table (ours has no value there): "
                   + ", ".join(f"{m} ({n} cells)" for m, n in mixed["paper_cells"].items()))
    out += ["", "## Notes", ""] + [f"- {n}" for n in a.notes]
    out += [f"- {q}" for q in PAPER_TABLE_QUIRKS]
    out += ["- Units as in the paper's table: aggregates in % top-1; shape bias and LPP/HPP as fractions; "
            "bw_norm in octaves, cf_norm in cycles/image, pns_norm a factor. Biases enter the correlations as "
            "they are (no sign flips); Spearman only uses ranks."]

    out += ["", "## Correlations of biases with aggregates", "",
            f"Spearman rho, two-sided; a coefficient with p >= {ALPHA} is shown as 0 (raw rho and p in brackets); "
            "[lo, hi]: 95 % percentile bootstrap interval over the models (2000 resamples, seed 0). "
            "Only the paper's 48 models enter (highlighted checkpoints outside them do not).", ""]
    for group in GROUPS:
        n = a.correlations.loc[a.correlations["group"] == group, "n"]
        n_text = f"n = {n.max()}" if n.min() == n.max() else f"n = {n.min()} to {n.max()} per coefficient"
        out += [f"### {group} (of {len(GROUPS[group])} paper models: {n_text})",
                "", _corr_markdown(a.correlations[a.correlations["group"] == group], group), ""]
    for group in family_groups(a.correlations):
        n = a.correlations.loc[a.correlations["group"] == group, "n"]
        out += [f"### {group} (n = {n.min()} to {n.max()} per coefficient)", "",
                _corr_markdown(a.correlations[a.correlations["group"] == group], group), ""]
    out += ["## Bias vs. bias (the paper's models)", "", _corr_markdown(a.bias_correlations, None), ""]

    if a.prediction is not None:
        out += ["## Does a model's bias predict its generalization? (leave one model out)", "",
                "Each aggregate of each paper model predicted from a fit on the other models: from the six "
                "biases or from ImageNet top-1 alone (the baseline); `linear` = least squares, `rank` = the same "
                "on ranks. Out-of-sample R^2 and Spearman rho of predictions vs. values, "
                "[95 % bootstrap interval over models].", "",
                md_table(prediction_display(a.prediction), index=False), ""]

    if a.highlights:
        out += ["## Highlighted models: rank among the paper's models", "",
                "Rank 1 = highest value (for every metric, biases included); the interval resamples the paper's "
                "models with replacement (2000 resamples, seed 0).", ""]
        for h in a.highlights:
            out += [f"### {h} ({a.provenance.at[h, 'source']})", "", md_table(rank_display(a.ranks, h)), ""]

    vals = a.metrics.values.loc[a.analysed, ["category", *AGGREGATES, *BIASES]]
    out += ["## Aggregates and biases per model", "", md_table(vals), ""]
    if figure_files:
        out += ["## Figures", ""] + [f"- `{p}`" for p in figure_files] + [""]
    return "\n".join(out)

"""The paper's figures: bias-vs-aggregate scatters, band-pass curves, correlation maps.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot state), so
they render with the Agg canvas in scripts and tests and display inline in a
notebook. Styling follows the authors' notebook: one colour per category
(tab10, baseline in black), one marker per model within its category, and for
adversarially trained models circles (L2) or squares (Linf) growing with eps.
Highlighted models (a user's checkpoints) are stars drawn on top.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..zoo.families import ZERO_SHOT
from ..zoo.paper_models import PAPER_CATEGORIES
from .aggregates import AGGREGATES, BIASES, SPECTRAL_CUTOFFS, UNITS, category_of
from .correlations import GROUPS, as_matrix

_TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
CATEGORY_COLORS: dict[str, str] = dict(zip(
    ["stylized", "adversarial_training", "training_recipes", "freezing", "augmentation", "contrastive"], _TAB10))
CATEGORY_COLORS["baseline"] = "#000000"
CATEGORY_COLORS["other"] = "#7f7f7f"
CATEGORY_COLORS[ZERO_SHOT] = "#17becf"  # zero-shot image-text models (open_clip:), a family of their own
HIGHLIGHT_COLORS = ["#e6194b", "#f032e6", "#ffb000", "#00a9a5", "#6a3d9a"]

_MARKERS = [".", "o", "h", "1", "2", "x", "D", "p", "8", "^", "<", ">", "v"]
_BASE_SIZE = 36.0
_BANDPASS_COLUMN = re.compile(r"^metric/bandpass/(LFC|HFC)/([0-9.]+)$")


def model_style(model: str) -> dict:
    """Colour, marker and marker area of one of the paper's models."""
    cat = category_of(model)
    style = {"color": CATEGORY_COLORS.get(cat, CATEGORY_COLORS["other"]), "marker": "o", "s": _BASE_SIZE}
    if cat == "adversarial_training":
        eps = float(model.rsplit("eps", 1)[1])
        style["marker"] = "o" if "_l2_" in model else "s"
        style["s"] = _BASE_SIZE * (eps + 1) / 5 + 6
    elif cat in PAPER_CATEGORIES:
        style["marker"] = _MARKERS[PAPER_CATEGORIES[cat].index(model) % len(_MARKERS)]
    return style


def _highlight_color(i: int) -> str:
    return HIGHLIGHT_COLORS[i % len(HIGHLIGHT_COLORS)]


def _legend_handles(categories, highlights) -> list[Line2D]:
    handles = [Line2D([], [], ls="", marker="o", color=CATEGORY_COLORS.get(c, CATEGORY_COLORS["other"]),
                      label=c.replace("_", " ")) for c in categories]
    handles += [Line2D([], [], ls="", marker="*", ms=13, mec="black", color=_highlight_color(i), label=h)
                for i, h in enumerate(highlights)]
    return handles


def _paper_rows(values: pd.DataFrame, highlights) -> pd.DataFrame:
    return values[(values["category"] != "other") & ~values.index.isin(list(highlights))]


def _label(metric: str) -> str:
    return f"{metric} [{UNITS[metric]}]"


def _rho_title(corr: pd.DataFrame | None, bias: str, agg: str) -> str:
    if corr is None:
        return agg
    row = corr[(corr["group"] == "all") & (corr["bias"] == bias) & (corr["aggregate"] == agg)]
    if row.empty or np.isnan(row["rho"].iloc[0]):
        return f"{agg}: rho n/a"
    r = row.iloc[0]
    sig = f"p={r.p:.3f}" if r.p >= 0.001 else "p<0.001"
    return f"{agg}: rho={r.rho:+.2f} ({sig}{', n.s.' if r.shown == 0 else ''}, n={r.n})"


def scatter_figure(values: pd.DataFrame, bias: str, highlights=(), correlations: pd.DataFrame | None = None
                   ) -> Figure:
    """One bias (x) against each of the four aggregates (y) for the paper models and the highlights."""
    highlights = list(highlights)
    fig = Figure(figsize=(16, 4.2), layout="constrained")
    axes = fig.subplots(1, len(AGGREGATES))
    paper = _paper_rows(values, highlights)
    styles = pd.DataFrame([model_style(m) for m in paper.index], index=paper.index)
    for ax, agg in zip(axes, AGGREGATES):
        for marker, group in styles.groupby("marker", sort=False):  # one artist per marker keeps drawing fast
            ax.scatter(paper.loc[group.index, bias], paper.loc[group.index, agg], c=list(group["color"]),
                       marker=marker, s=group["s"].to_numpy(), linewidths=1.2, alpha=0.9, zorder=2)
        for i, h in enumerate(highlights):
            if h in values.index:
                ax.scatter(values.at[h, bias], values.at[h, agg], marker="*", s=320, c=_highlight_color(i),
                           edgecolors="black", linewidths=0.8, zorder=5)
        ax.set_xlabel(_label(bias))
        ax.set_ylabel(_label(agg))
        ax.set_title(_rho_title(correlations, bias, agg), fontsize=9)
        ax.grid(alpha=0.3)
    cats = [c for c in CATEGORY_COLORS if c in set(paper["category"])]
    fig.legend(handles=_legend_handles(cats, highlights), loc="outside lower center",
               ncol=len(cats) + len(highlights), fontsize=8, frameon=False)
    fig.suptitle(f"{bias} vs. generalization (rho: Spearman over the paper's models)", fontsize=11)
    return _fixed_layout(fig)


def bandpass_columns(table: pd.DataFrame, kind: str) -> list[tuple[float, str]]:
    """(cut-off, column) of the low-pass (``LFC``) or high-pass (``HFC``) ratios in the table, by cut-off."""
    found = [(float(m.group(2)), c) for c in table.columns if (m := _BANDPASS_COLUMN.match(str(c)))
             and m.group(1) == kind]
    return sorted(found)


def bandpass_figure(table: pd.DataFrame, models, highlights=()) -> Figure | None:
    """Low-pass and high-pass curves (filtered / clean accuracy against cut-off), one line per model.

    None when the table has no band-pass columns.
    """
    highlights = list(highlights)
    kinds = {"LFC": "low-pass", "HFC": "high-pass"}
    cols = {k: bandpass_columns(table, k) for k in kinds}
    if not any(cols.values()):
        return None
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=False)
    lo, hi = float(SPECTRAL_CUTOFFS[0]), float(SPECTRAL_CUTOFFS[-1])
    for ax, (kind, title) in zip(axes, kinds.items()):
        cuts = [c for c, _ in cols[kind]]
        names = [n for _, n in cols[kind]]
        for model in models:
            if model in table.index and model not in highlights:
                ax.plot(cuts, table.loc[model, names].to_numpy(float), color=model_style(model)["color"],
                        lw=1, alpha=0.65, zorder=2)
        for i, h in enumerate(highlights):
            if h in table.index:
                ax.plot(cuts, table.loc[h, names].to_numpy(float), color=_highlight_color(i), lw=2.5,
                        marker="*", ms=10, mec="black", zorder=5)
        ax.axvspan(lo, hi, color="0.9", zorder=0, label="LPP/HPP range")
        ax.set_title(f"{title} ({'LPP' if kind == 'LFC' else 'HPP'} = mean over c in [{lo:g}, {hi:g}])",
                     fontsize=10)
        ax.set_xlabel("cut-off c (share of the spectrum kept)")
        ax.set_ylabel("accuracy / clean accuracy")
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
    present = set(category_of(m) for m in models if m in table.index and m not in highlights)
    cats = [c for c in CATEGORY_COLORS if c in present]
    fig.legend(handles=_legend_handles(cats, highlights), loc="outside lower center",
               ncol=len(cats) + len(highlights), fontsize=8, frameon=False)
    return _fixed_layout(fig)


def _heatmap(ax, matrix: pd.DataFrame, title: str, lo: pd.DataFrame | None = None,
             hi: pd.DataFrame | None = None) -> object:
    """Coloured coefficients, each annotated with its bootstrap interval [lo, hi] when given."""
    data = matrix.to_numpy(float)
    im = ax.imshow(data, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(matrix.shape[0]), matrix.index)
    for (i, j), v in np.ndenumerate(data):
        text = "n/a" if np.isnan(v) else "0" if v == 0 else f"{v:.2f}"
        if lo is not None and not np.isnan(lo.iat[i, j]):
            text += f"\n[{lo.iat[i, j]:.2f}, {hi.iat[i, j]:.2f}]"
        ax.text(j, i, text, ha="center", va="center", fontsize=6.5 if lo is not None else 8,
                color="white" if not np.isnan(v) and abs(v) > 0.6 else "black")
    ax.set_title(title, fontsize=10)
    return im


def _interval_matrices(corr: pd.DataFrame, group: str | None) -> tuple:
    if "rho_lo" not in corr.columns:
        return None, None
    return as_matrix(corr, "rho_lo", group), as_matrix(corr, "rho_hi", group)


def _n_text(n: pd.Series) -> str:
    return f"n = {n.max()}" if n.min() == n.max() else f"n = {n.min()} to {n.max()}"


def correlation_figure(correlations: pd.DataFrame) -> Figure:
    """Shown coefficients (0 where p >= 0.05) of each bias with each aggregate, one panel per group."""
    fig = Figure(figsize=(13, 4.4), layout="constrained")
    axes = fig.subplots(1, len(GROUPS))
    for ax, group in zip(axes, GROUPS):
        n = correlations.loc[correlations["group"] == group, "n"]
        im = _heatmap(ax, as_matrix(correlations, group=group), f"{group} ({_n_text(n)})",
                      *_interval_matrices(correlations, group))
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="Spearman rho (0 where p >= 0.05) [95% bootstrap interval]")
    return _fixed_layout(fig)


def bias_correlation_figure(bias_correlations: pd.DataFrame) -> Figure:
    """Shown bias-vs-bias coefficients over the paper's models."""
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    im = _heatmap(ax, as_matrix(bias_correlations), f"biases vs. biases ({_n_text(bias_correlations['n'])})",
                  *_interval_matrices(bias_correlations, None))
    fig.colorbar(im, ax=ax, shrink=0.8, label="Spearman rho (0 where p >= 0.05) [95% bootstrap interval]")
    return _fixed_layout(fig)


def _fixed_layout(fig: Figure) -> Figure:
    """Solve the constrained layout once and keep it: every later save or display skips the solver
    (it otherwise runs on each savefig and costs more than the drawing itself)."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig


def save_figure(fig: Figure, out_dir: str | os.PathLike, stem: str, dpi: int = 150) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` into ``out_dir``; returns the two paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ext in ("png", "pdf"):
        path = out / f"{stem}.{ext}"
        fig.savefig(path, dpi=dpi)
        written.append(path)
    return written


def figure_stem(bias: str) -> str:
    return "scatter_" + bias.replace("-", "_")


def all_figures(values: pd.DataFrame, table: pd.DataFrame, correlations: pd.DataFrame,
                bias_correlations: pd.DataFrame, highlights=()) -> dict[str, Figure]:
    """Every figure of the analysis by file stem: a scatter per bias that any model has (the paper's six,
    and the low-frequency bias where measured), band-pass curves, two correlation maps."""
    figs = {figure_stem(b): scatter_figure(values, b, highlights, correlations) for b in BIASES
            if values[b].notna().any()}
    curves = bandpass_figure(table, list(values.index), highlights)
    if curves is not None:
        figs["bandpass_curves"] = curves
    figs["correlations"] = correlation_figure(correlations)
    figs["bias_correlations"] = bias_correlation_figure(bias_correlations)
    return figs

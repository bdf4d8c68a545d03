"""One self-contained HTML page of an analysis: the figures (base64 PNG) and the tables of summary.md.

No external resource is referenced (no CSS, script or image URL), so the file opens offline and
can be mailed. Every piece of text is escaped with ``html.escape``; the only markup added is the
bold of significant coefficients and code spans of the notes (``**x**``, ```x``` in the shared display text). A tiny inline script
checks on load that every figure decoded and writes ``<div id="figures-ok" data-n=N>``, which the
headless-browser test reads (docs/analysis.md).
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from .aggregates import AGGREGATES, BIASES
from .correlations import ALPHA, GROUPS
from .figures import figure_stem
from .report import PAPER_TABLE_QUIRKS, _fmt, corr_display, family_groups, prediction_display, rank_display

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
section.highlight { border-left: 4px solid #e6194b; padding-left: 1em; }
"""

# Runs once the page (and so every data: image) has loaded; a figure that failed to decode is
# reported as a console error and leaves the marker out.
_CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.getElementsByTagName("img"));
  var bad = imgs.filter(function (im) { return !(im.complete && im.naturalWidth > 0); });
  var div = document.createElement("div");
  if (bad.length) {
    div.id = "figures-failed";
    console.error("figures not shown: " + bad.map(function (im) { return im.alt; }).join(", "));
  } else {
    div.id = "figures-ok";
  }
  div.setAttribute("data-n", String(imgs.length - bad.length));
  div.style.display = "none";
  document.body.appendChild(div);
});
"""


def _text(s) -> str:
    """Escaped text; the shared display text's bold (two asterisks) and code (backticks) kept as markup."""
    return _CODE.sub(r"<code>\1</code>", _BOLD.sub(r"<strong>\1</strong>", html.escape(str(s))))


def figure_png_base64(fig: Figure, dpi: int = 100) -> str:
    """A figure as a base64-encoded PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig: Figure, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{figure_png_base64(fig)}">'


def table_html(df: pd.DataFrame, index: bool = True, digits: int = 3) -> str:
    """A frame as an HTML table, numbers formatted as in summary.md, every cell escaped."""
    head = ([df.index.name or ""] if index else []) + [str(c) for c in df.columns]
    rows = ["<tr>" + "".join(f"<th>{_text(c)}</th>" for c in head) + "</tr>"]
    for idx, row in df.iterrows():
        cells = ([str(idx)] if index else []) + [v if isinstance(v, str) else _fmt(v, digits) for v in row]
        rows.append("<tr>" + "".join(f"<td>{_text(c)}</td>" for c in cells) + "</tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _list(items) -> str:
    return "<ul>\n" + "\n".join(f"<li>{_text(i)}</li>" for i in items) + "\n</ul>"


def html_report(analysis, figures: dict[str, Figure]) -> str:
    """The whole page for an ``Analysis`` and its figures (stem -> Figure, from ``figures.all_figures``)."""
    a = analysis
    figs = dict(figures)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>biasbench analysis</title>", f"<style>{_STYLE}</style>",
           f"<script>{_CHECK_SCRIPT}</script>", "</head><body>", "<h1>biasbench analysis</h1>"]
    out += ["<h2>Inputs</h2>", _list(a.sources)]
    out += ["<h2>Notes</h2>", _list([n for n in a.notes] + PAPER_TABLE_QUIRKS)]

    out += ["<h2>Biases against generalization</h2>",
            "<p>Each bias against the four aggregates; the paper's models coloured by category, highlighted "
            "models as stars on top; titles give Spearman rho over the paper's models.</p>"]
    for b in BIASES:
        fig = figs.pop(figure_stem(b), None)
        if fig is not None:
            out.append(_img(fig, f"{b} vs. aggregates"))
    if "bandpass_curves" in figs:
        out += ["<h2>Band-pass curves</h2>", _img(figs.pop("bandpass_curves"), "band-pass curves")]

    out += ["<h2>Correlations of biases with aggregates</h2>",
            f"<p>Spearman rho, two-sided; a coefficient with p &gt;= {ALPHA} is shown as 0 (raw rho and p in "
            "brackets); [lo, hi]: 95 % percentile bootstrap interval over the models (2000 resamples, seed 0). "
            "Only the paper's 48 models enter.</p>"]
    if "correlations" in figs:
        out.append(_img(figs.pop("correlations"), "correlation maps"))
    for group in GROUPS:
        sub = a.correlations[a.correlations["group"] == group]
        out += [f"<h3>{_text(group)} (of {len(GROUPS[group])} paper models, n = {_text(sub['n'].max())})</h3>",
                table_html(corr_display(sub, group))]
    for group in family_groups(a.correlations):
        sub = a.correlations[a.correlations["group"] == group]
        out += [f"<h3>{_text(group)} (n = {_text(sub['n'].max())})</h3>", table_html(corr_display(sub, group))]
    out += ["<h2>Bias vs. bias (the paper's models)</h2>"]
    if "bias_correlations" in figs:
        out.append(_img(figs.pop("bias_correlations"), "bias-bias correlation map"))
    out.append(table_html(corr_display(a.bias_correlations, None)))

    if a.prediction is not None:
        out += ["<h2>Does a model's bias predict its generalization? (leave one model out)</h2>",
                "<p>Each aggregate of each paper model predicted from a fit on the other models, from the six "
                "biases or from ImageNet top-1 alone (the baseline); out-of-sample R^2 and Spearman rho "
                "[95 % bootstrap interval over models].</p>",
                table_html(prediction_display(a.prediction), index=False)]

    for h in a.highlights:
        out += ['<section class="highlight">',
                f"<h2>Highlighted model: {_text(h)} ({_text(a.provenance.at[h, 'source'])})</h2>",
                "<p>Rank 1 = highest value; the interval resamples the paper's models with replacement "
                "(2000 resamples, seed 0).</p>",
                table_html(rank_display(a.ranks, h)), "</section>"]

    for stem, fig in figs.items():  # any figure not placed above still belongs in the report
        out += [f"<h2>{_text(stem)}</h2>", _img(fig, stem)]

    vals = a.metrics.values.loc[a.analysed, ["category", *AGGREGATES, *BIASES]]
    out += ["<h2>Aggregates and biases per model</h2>", table_html(vals)]
    out += ["</body></html>", ""]
    return "\n".join(out)


def write_html(analysis, path: str | os.PathLike, figures: dict[str, Figure]) -> Path:
    """Write ``html_report`` to ``path`` (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_report(analysis, figures), encoding="utf-8")
    return path

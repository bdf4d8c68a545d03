"""Aggregates, bias-vs-generalization correlations, highlight ranks and the paper's figures.

Typical use (this is all ``code/analyze.py`` does)::

    from biasbench.analysis import load_results, analyze, write_outputs
    table, provenance, sources = load_results("raw-data/benchmark.csv", paper="shipped")
    result = analyze(table, provenance, highlights=["my_resnet50"], sources=sources)
    write_outputs(result, "analysis-out")
"""

from .aggregates import AGGREGATES, BIASES, METRICS, SPECTRAL_CUTOFFS, Metrics, compute_metrics
from .correlations import ALPHA, GROUPS, bias_aggregate_correlations, bias_bias_correlations, spearman
from .paper_table import PAPER_TABLE_URL, fetch_paper_table, load_paper_table, paper_table_path
from .pipeline import DOWNLOAD, SHIPPED, Analysis, analyze, load_results, parse_highlights, write_outputs
from .report import highlight_ranks, summary_markdown
from .tables import check_table, merge_tables, read_results

__all__ = [
    "AGGREGATES", "ALPHA", "Analysis", "BIASES", "DOWNLOAD", "GROUPS", "METRICS", "Metrics", "PAPER_TABLE_URL",
    "SHIPPED", "SPECTRAL_CUTOFFS", "analyze", "bias_aggregate_correlations", "bias_bias_correlations", "check_table",
    "compute_metrics", "fetch_paper_table", "highlight_ranks", "load_paper_table", "load_results", "merge_tables",
    "paper_table_path", "parse_highlights", "read_results", "spearman", "summary_markdown", "write_outputs",
]

"""The analysis's command line: ``code/analyze.py`` and ``biasbench analyze`` (docs/analysis.md).

python code/analyze.py --results raw-data/benchmark.csv --out analysis-out
python code/analyze.py --results mine.csv --paper-results --highlight my_resnet50 --out analysis-out
python code/analyze.py --paper-results --highlight my_resnet50 --html report.html
"""

import argparse
import sys

import matplotlib

matplotlib.use("Agg")  # figures are written to files; no display needed (before pyplot is imported)

from ..errors import UserError, exit_status  # noqa: E402
from .figures import all_figures  # noqa: E402
from .html_report import write_html  # noqa: E402
from .pipeline import SHIPPED, analyze, load_results, parse_highlights, write_outputs  # noqa: E402


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default=None,
                   help="results CSV in the paper's column format (default: raw-data/benchmark.csv when it has rows)")
    p.add_argument("--paper-results", "--paper_results", nargs="?", const=SHIPPED, default=None, metavar="PATH",
                   help="merge the authors' published table: without PATH the copy shipped in raw-data/paper/; "
                        "'download' fetches the newest upstream version once into the cache "
                        "($BIASBENCH_CACHE/paper/benchmark.csv); our values win where both tables have one")
    p.add_argument("--highlight", default=None, metavar="MODEL[,MODEL]",
                   help="models to draw on top of the paper's 48 and rank among them (e.g. your checkpoint)")
    p.add_argument("--setup", default="", metavar="LABEL",
                   help="analyse the rows of this setup (e.g. bf16, n_samples=1000: the <model>@LABEL rows of the "
                        "results table) instead of the reference setup's (fp32, every image, seed 0)")
    p.add_argument("--out", default="analysis-out", help="output folder")
    p.add_argument("--no-figures", "--no_figures", dest="figures", action="store_false",
                   help="only the tables and the summary")
    p.add_argument("--html", default=None, metavar="OUT.html",
                   help="also write one self-contained HTML report (figures embedded, no external files) here")
    p.add_argument("--note", action="append", default=[], metavar="TEXT",
                   help="a line shown first among the notes of summary.md and the HTML report, e.g. what the "
                        "numbers are (repeatable)")
    p.add_argument("--cache-dir", "--cache_dir", default=None, help="cache root (default $BIASBENCH_CACHE)")
    p.add_argument("--offline", action="store_true", help="never download; the paper table must be cached or given")
    return p


def main(argv=None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        table, provenance, sources = load_results(args.results, args.paper_results, cache_dir=args.cache_dir,
                                                  offline=True if args.offline else None, setup=args.setup)
        result = analyze(table, provenance, parse_highlights(args.highlight), sources)
        result.notes[:0] = args.note
        figs = {}
        if args.figures or args.html:
            a = result
            figs = all_figures(a.metrics.values, a.table, a.correlations, a.bias_correlations, a.highlights)
        written = write_outputs(result, args.out, figures=figs if args.figures else False)
        if args.html:
            written.append(write_html(result, args.html, figs))
    except UserError as e:
        return exit_status(e)
    for note in result.notes:
        print(f"note: {note.replace('**', '')}", file=sys.stderr)
    print(f"wrote {len(written)} files to {args.out}: summary.md, correlations.csv, bias_correlations.csv ..."
          + (f"; report: {args.html}" if args.html else ""))
    return 0

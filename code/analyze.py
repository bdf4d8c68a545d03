"""Correlations of biases with generalization, highlight ranks and the paper's figures from a results table.

python code/analyze.py --results raw-data/benchmark.csv --out analysis-out
python code/analyze.py --results mine.csv --paper-results --highlight my_resnet50 --out analysis-out
python code/analyze.py --paper-results --highlight my_resnet50 --html report.html

A thin shell over ``biasbench.analysis.cli`` (also ``biasbench analyze``).
"""

import sys

from biasbench.analysis.cli import build_parser, main  # noqa: F401 - build_parser for callers of this script

if __name__ == "__main__":
    sys.exit(main())

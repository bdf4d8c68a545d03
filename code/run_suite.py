"""Every benchmark whose data is given, in one run: benchmarks that read the same images
share one pass over them, and every model sees every batch.

python code/run_suite.py --model NAME[,NAME] --data-root DIR   (or the per-dataset flags)
"""

import sys

from biasbench.benchmarks import REGISTRY
from biasbench.cli import main

if __name__ == "__main__":
    sys.exit(main(list(REGISTRY), description=__doc__, require_data=False))

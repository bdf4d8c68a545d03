"""``python -m biasbench.synthetic --out DATA --preset demo``: write the synthetic datasets."""

import sys

from .datasets import main

sys.exit(main())

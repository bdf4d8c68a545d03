"""Spectral bias: accuracy under low-/high-pass filters at 11 cut-offs, ratios to clean, LPP/HPP.

python code/eval_spectral.py --model NAME --imagenet ROOT
"""

import sys

from biasbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["spectral"], description=__doc__))

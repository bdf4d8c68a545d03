"""Critical band: 7 bands x 4 noise SDs + noise-free, and the bandwidth/centre-frequency/peak-sensitivity fit.

python code/eval_criticalband.py --model NAME --imagenet ROOT
"""

import sys

from biasbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["criticalband"], description=__doc__))

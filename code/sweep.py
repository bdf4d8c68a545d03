"""Models x benchmarks as jobs on a Slurm cluster or on this machine; --status shows where they stand.

python code/sweep.py --models A,B --benchmarks imagenet,imagenet-c --data-root DIR --executor slurm \
    --partition gpu --time-limit 120 --images-per-second 800
python code/sweep.py --status
"""

import sys

from biasbench.sweep import main

if __name__ == "__main__":
    sys.exit(main(prog="sweep.py"))

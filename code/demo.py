"""make demo: synthetic datasets in the real layouts, a demo ResNet-18, every benchmark, one table.

python code/demo.py --out demo-out [--data demo-data] [--device cpu]   (the same as: biasbench demo)
Nothing is downloaded; all caches stay under --out.
"""

import sys

from biasbench.demo import main

if __name__ == "__main__":
    sys.exit(main(prog="demo.py"))

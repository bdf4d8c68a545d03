"""ImageNet val top-1/top-5 accuracy: python code/eval_imagenet.py --model NAME --imagenet ROOT"""

import sys

from biasbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["imagenet"], description=__doc__))

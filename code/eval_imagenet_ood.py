"""ImageNet val, -v2 (matched frequency), -A, -R and -Sketch in one run; datasets not given are skipped:
python code/eval_imagenet_ood.py --model NAME --data-root DIR   (or --imagenet-a ROOT --imagenet-r ROOT ...)"""

import sys

from biasbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["imagenet", "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch"], description=__doc__,
                  require_data=False))

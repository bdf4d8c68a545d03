"""ImageNet ReaL accuracy over all 46,837 labelled val images: python code/eval_imagenet_real.py --model NAME --imagenet ROOT"""

import sys

from biasbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["imagenet-real"], description=__doc__))

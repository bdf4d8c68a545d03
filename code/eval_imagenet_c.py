"""ImageNet-C: all 19 corruptions x 5 severities (files fed as stored, 224x224), the mean of the
95 cells, the 15-corruption mean and AlexNet-normalised mCE (and relative mCE with --imagenet):
python code/eval_imagenet_c.py --model NAME --dataset_path ROOT [--corruptions a,b] [--severities 1,3]"""

import sys

from biasbench.cli import main

# The reference script's flag name
ALIASES = {"--dataset_path": "--imagenet-c"}

if __name__ == "__main__":
    sys.exit(main(["imagenet-c"], description=__doc__, aliases=ALIASES))

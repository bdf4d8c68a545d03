"""ImageNet-C-bar: 10 corruptions x 5 severities (files fed as stored, 224x224) and the mean of the 50 cells:
python code/eval_imagenet_cbar.py --model NAME --dataset_path ROOT [--corruptions a,b] [--severities 1,3]"""

import sys

from biasbench.cli import main

# The reference script's flag name, and the selection flags without the suite's cbar- prefix
ALIASES = {"--dataset_path": "--imagenet-cbar", "--corruptions": "--cbar-corruptions", "--severities": "--cbar-severities"}

if __name__ == "__main__":
    sys.exit(main(["imagenet-cbar"], description=__doc__, aliases=ALIASES))

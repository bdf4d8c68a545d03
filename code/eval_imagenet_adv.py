"""Adversarial robustness on ImageNet val: L-inf PGD-40 (step 2/255, random start, seed 0);
eps 0.5/255 writes the paper's top1_acc/PGD-40/low. --fgsm and --aa add FGSM and AutoAttack.

Attacks need each model's own gradients: several models in one run are attacked one
after another on each batch (they share only the decoding). Cost: 41 forward + 40
backward passes per image; images/s and the projected time are printed at start-up.

python code/eval_imagenet_adv.py --model NAME --imagenet ROOT [--eps 0.5/255,1/255] [--n_samples N]
"""

import sys

from biasbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["adversarial"], description=__doc__))

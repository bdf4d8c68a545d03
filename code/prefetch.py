"""Fill the checkpoint cache on a machine with network (e.g. a cluster's login node).

    python code/prefetch.py --models tv_resnet50,robust_resnet50_l2_eps3 [--cache-dir DIR]
    python code/prefetch.py --category adversarial_training
    python code/prefetch.py --all

Prints one line per file: cached+verified, downloaded, or FAILED with the reason.
Exit status 1 when any file failed, 2 on a usage error. The same as ``biasbench prefetch``.
"""

import sys

from biasbench.zoo.prefetch import main

if __name__ == "__main__":
    sys.exit(main(prog="prefetch.py"))

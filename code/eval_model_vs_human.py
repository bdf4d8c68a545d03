"""Shape bias (cue-conflict) and 16-class accuracy on the model-vs-human datasets.

python code/eval_model_vs_human.py --model NAME [--mvh-root DIR] [--mvh-datasets paper|all|a,b]
                                   [--responses-dir DIR]
Without --mvh-root the datasets are downloaded on first use from the model-vs-human GitHub
release (v0.1) into <cache-dir>/model-vs-human/.
"""

import sys

from biasbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["model-vs-human"], description=__doc__))

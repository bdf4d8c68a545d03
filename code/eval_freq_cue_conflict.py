"""Low-frequency bias on frequency cue-conflict stimuli (Gavrikov et al., ICLR 2025).

python code/eval_freq_cue_conflict.py --model NAME --freq-cue-conflict DIR
DIR: the released stimuli (prepare_data.py --datasets freq-cue-conflict) or a generated set
(python -m biasbench.prepare.freq_cue_conflict --from ... --out DIR); docs/datasets.md.
"""

import sys

from biasbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["freq-cue-conflict"], description=__doc__))

"""Spectral benchmark (clean + 22 filtered conditions), suite vs reference approach, same images:
(a) the data path alone (decode + filter; the model is a global-average-pool + linear head that
costs next to nothing), (b) end to end with a ResNet-50 (random weights).

python bench/bench_spectral.py [--n_data 64] [--n_model 8] [--model resnet50] [--device cpu] [--json PATH]
"""

from __future__ import annotations

from biasbench.benchmarks.spectral import Spectral
from biasbench.transforms.spectral import CUTOFFS

import common
import reference_approach as ref

PREFIX = "top1_acc/spectral/"


def main(argv=None) -> int:
    return common.main(__doc__, common.data_and_model_flags, _run, argv)


def compare(env: common.Env, what: str, n: int, model_name: str, target: float | None) -> bool:
    """Time the suite's runner and the reference on the spectral benchmark; True when their
    accuracies agree condition by condition."""
    dev = env.device
    val, images = common.val_images(env, n)
    net = common.model(model_name, dev)
    conditions = ref.spectral_conditions(val, CUTOFFS)
    ref_s, ref_acc = common.reference_run(env, net, conditions)
    suite_s, out = common.suite_run(env, [Spectral(images)], {model_name: net})
    suite_acc = common.top1_of(out, model_name, PREFIX)
    common.pass_row(env, what, len(images), len(conditions), suite_s, ref_s, target)
    return suite_acc == ref_acc


def _run(env: common.Env) -> int:
    args = env.args
    same_data = compare(env, "data path: decode + filter", args.n_data, "head", target=10.0)
    same_model = args.n_model <= 0 or compare(env, f"end to end, {args.model}", args.n_model, args.model, target=1.0)
    common.report(env, "Spectral benchmark: suite vs reference approach (wall time)", notes=[
        "suite: biasbench.runner.run, one pass (decode once into a fresh decoded-image cache, 22 filters per batch); "
        "reference: a new ImageFolder + DataLoader per condition, per-image Resize/CenterCrop/ToTensor/filter",
        f"same top-1 per condition on both sides: data path {'yes' if same_data else 'NO'}, "
        f"end to end {'yes' if same_model else 'NO'}",
        "speedup = reference seconds / suite seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

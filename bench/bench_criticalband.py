"""Critical-band benchmark, suite vs reference approach, same images: (a) the data path alone
(decode + noise; a global-average-pool + linear head stands in for the model), (b) end to end
with a ResNet-50 (random weights). Default: 13 of the 29 conditions (noise-free, and bands 0, 3, 6
at every SD, so the SDs at which the reference's pixel loop runs are represented); --all for 29.

python bench/bench_criticalband.py [--all] [--n_data 64] [--n_model 8] [--device cpu] [--json PATH]
"""

from __future__ import annotations

import numpy as np

from biasbench.benchmarks.base import Benchmark
from biasbench.benchmarks.criticalband import CriticalBand

import common
import reference_approach as ref

PREFIX = "top1_acc/criticalband/"
SUBSET_BANDS = (0, 3, 6)


class Cells(Benchmark):
    """The suite's critical-band benchmark restricted to some of its conditions (same transforms,
    same condition names; no summary, which needs the whole grid)."""

    name = "criticalband"

    def __init__(self, full: CriticalBand, names: set[str] | None):
        self.full, self.names = full, names

    def conditions(self):
        return [c for c in self.full.conditions() if self.names is None or c.name in self.names]

    def columns(self, condition, result):
        return self.full.columns(condition, result)


def cells(all_cells: bool) -> list[tuple[int | None, float]]:
    from biasbench.transforms.criticalband import BANDS, SDS

    bands = BANDS if all_cells else SUBSET_BANDS
    return [(None, 0.0)] + [(b, sd) for sd in SDS for b in bands]


def _flags(p) -> None:
    p.add_argument("--all", action="store_true", help="all 29 conditions (default: 13)")
    common.data_and_model_flags(p)


def main(argv=None) -> int:
    return common.main(__doc__, _flags, _run, argv)


def compare(env: common.Env, what: str, n: int, model_name: str, grid, target: float | None) -> None:
    """Time both sides on the same images and conditions (their noise draws differ)."""
    dev = env.device
    val, images = common.val_images(env, n)
    net = common.model(model_name, dev)
    conditions = ref.criticalband_conditions(val, grid)
    np.random.seed(0)
    ref_s, ref_acc = common.reference_run(env, net, conditions)
    bench = Cells(CriticalBand(images), set(conditions) if len(conditions) < 29 else None)
    suite_s, out = common.suite_run(env, [bench], {model_name: net})
    assert set(common.top1_of(out, model_name, PREFIX)) == set(ref_acc)
    common.pass_row(env, what, len(images), len(conditions), suite_s, ref_s, target)


def _run(env: common.Env) -> int:
    args = env.args
    grid = cells(args.all)
    compare(env, "data path: decode + noise", args.n_data, "head", grid, target=None)
    if args.n_model > 0:
        compare(env, f"end to end, {args.model}", args.n_model, args.model, grid, target=1.0)
    common.report(env, "Critical-band benchmark: suite vs reference approach (wall time)", notes=[
        "suite: biasbench.runner.run, one pass (decode once into a fresh decoded-image cache, the noise of every "
        "condition on whole batches); reference: a new ImageFolder + DataLoader per condition, per-image "
        "Resize/CenterCrop, PIL grey, pyrtools, the out-of-range pixel loop when needed, ToTensor",
        "speedup = reference seconds / suite seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Critical-band noise in float32 vs the reference's float64, same images and noise draws: the
deviation of the stimulus (every cell of the 29-cell grid), the share of top-1 decisions of a
classifier that change, and the transform's speed ratio. float32 is what ``dtype="auto"`` uses on
GPUs with slow float64 (docs/devices.md).

python bench/bench_criticalband_float32.py [--n 16] [--model resnet18] [--device cpu] [--json PATH]
"""

from __future__ import annotations

import torch

from biasbench.data.loader import batches
from biasbench.transforms.criticalband import BANDS, SDS, CriticalBandNoise

import common


def _flags(p) -> None:
    p.add_argument("--n", type=int, default=16, help="images (rounded up to a multiple of 8)")
    p.add_argument("--model", default="resnet18", help="torchvision classifier (random weights) for the decisions")


def main(argv=None) -> int:
    return common.main(__doc__, _flags, _run, argv)


def _run(env: common.Env) -> int:
    dev = env.device
    _, images = common.val_images(env, env.args.n)
    batch = next(iter(batches(images, len(images), 0)))
    x, idx = batch.images.to(dev), batch.indices.to(dev)
    net = common.model(env.args.model, dev)
    grid = [(None, 0.0)] + [(b, sd) for sd in SDS for b in BANDS]
    worst = mean_dev = flipped = 0.0
    seconds = {"float64": 0.0, "float32": 0.0}
    per_cell = []
    for band, sd in grid:
        out = {}
        for dtype in seconds:
            t, out[dtype] = common.timed(lambda: CriticalBandNoise(band, sd, dtype=dtype)(x, idx), dev)
            seconds[dtype] += t
        diff = (out["float32"] - out["float64"]).abs()
        with torch.no_grad():
            pred = {k: net(v).argmax(dim=1) for k, v in out.items()}
        changed = float((pred["float32"] != pred["float64"]).float().mean())
        per_cell.append({"band": band, "sd": sd, "max_abs": float(diff.max()), "mean_abs": float(diff.mean()),
                         "flipped": changed})
        worst, mean_dev = max(worst, float(diff.max())), mean_dev + float(diff.mean()) / len(grid)
        flipped += changed / len(grid)
    n = len(images) * len(grid)
    common.row(env, "critical-band transform, float32 vs float64", "img/s", n / seconds["float32"],
               n / seconds["float64"], higher_is_better=True)
    notes = [f"stimulus deviation over {len(grid)} cells x {len(images)} images: max |float32 - float64| "
             f"= {worst:.3g}, mean = {mean_dev:.3g} (pixel values in [0, 1]; one grey level is 1/255 = 3.9e-3)",
             f"top-1 decisions of {env.args.model} (random weights) that change: {100 * flipped:.3g} %"]
    common.report(env, "Critical band in float32 vs float64", notes, max_abs=worst, mean_abs=mean_dev,
                  flipped_share=flipped, cells=per_cell)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

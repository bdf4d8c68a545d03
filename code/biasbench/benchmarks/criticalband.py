"""Critical band (README "Bias measurements"): accuracy of low-contrast greyscale
images under octave-band noise, 7 bands x 4 noise SDs plus the noise-free run, and the
Gaussian fit of the noise thresholds (bandwidth, centre frequency, peak noise sensitivity).

Columns: the 29 grid accuracies ``top1_acc/criticalband/f=<f>/sd=<sd>`` (noise-free:
``top1_acc/criticalband/sd=0``), ``metric/criticalband/{bw,cf,pns}`` at the absolute
50 % criterion and ``metric/criticalband/{bw,cf,pns}_norm`` at 50 % of the noise-free
accuracy (the paper's). The whole grid is stored, so either can be recomputed.
"""

from __future__ import annotations

from ..metrics.criticalband import make_grid, summary
from ..transforms.criticalband import BANDS, SDS, CriticalBandNoise
from .base import Benchmark, Condition
from .imagenet import add_arguments as add_imagenet_arguments
from .imagenet import load_val

NOISE_FREE = "sd=0"


def cell(band: int, sd: float) -> str:
    return f"f={band}/sd={sd}"


class CriticalBand(Benchmark):
    name = "criticalband"
    seeded = True

    def __init__(self, images, seed: int = 0, dtype: str = "auto"):
        self.images = images
        self.seed = seed
        # "auto": float64 as the reference, except float32 on GPUs with slow float64 (1 float32 ulp of
        # deviation, measured by bench/bench_criticalband_float32.py; README "Same numbers on every device")
        self.dtype = dtype

    def conditions(self):
        conds = [Condition(NOISE_FREE, self.images, transform=CriticalBandNoise(None, 0.0, self.seed, self.dtype))]
        for sd in SDS:
            for band in BANDS:
                conds.append(Condition(cell(band, sd), self.images, transform=CriticalBandNoise(band, sd, self.seed,
                                                                                            self.dtype),
                                       info={"band": band, "sd": sd}))
        return conds

    def columns(self, condition, result):
        return {f"top1_acc/criticalband/{condition.name}": result["top1"]}

    def summarize(self, values):
        acc = {name: next(iter(cols.values())) for name, cols in values.items()}
        grid = make_grid(acc[NOISE_FREE], [[acc[cell(b, sd)] for b in BANDS] for sd in SDS])
        return {f"metric/criticalband/{k}": v for k, v in summary(grid).items()}


def add_arguments(parser, add) -> None:
    add_imagenet_arguments(parser, add)


def build(args):
    return CriticalBand(load_val(args), seed=args.seed) if args.imagenet else None

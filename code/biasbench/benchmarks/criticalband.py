"""Critical band (docs/benchmarks.md "Bias measurements"): accuracy of low-contrast greyscale
images under octave-band noise, 7 bands x 4 noise SDs plus the noise-free run, and the
Gaussian fit of the noise thresholds (bandwidth, centre frequency, peak noise sensitivity).

Columns: the 29 grid accuracies ``top1_acc/criticalband/f=<f>/sd=<sd>`` (noise-free:
``top1_acc/criticalband/sd=0``), ``metric/criticalband/{bw,cf,pns}`` at the absolute
50 % criterion and ``metric/criticalband/{bw,cf,pns}_norm`` at 50 % of the noise-free
accuracy (the paper's). The whole grid is stored, so either can be recomputed.
"""

from __future__ import annotations

from ..metrics.criticalband import SUMMARY_KEYS, degenerate_keys, make_grid, summary
from ..transforms.criticalband import BANDS, SDS, CriticalBandNoise
from . import imagenet
from .base import Benchmark, Column, Condition, family

NOISE_FREE = "sd=0"


def cell(band: int, sd: float) -> str:
    return f"f={band}/sd={sd}"


def accuracy_column(condition: str) -> str:
    return f"top1_acc/criticalband/{condition}"


def summary_column(key: str) -> str:
    """``metric/criticalband/<bw|cf|pns>[_norm]``."""
    return f"metric/criticalband/{key}"


class CriticalBand(Benchmark):
    name = "criticalband"
    seeded = True

    def __init__(self, images, seed: int = 0, dtype: str = "auto"):
        self.images = images
        self.seed = seed
        # "auto": float64 as the reference, except float32 on GPUs with slow float64 (1 float32 ulp of
        # deviation, measured by bench/bench_criticalband_float32.py; docs/devices.md)
        self.dtype = dtype

    def conditions(self):
        conds = [Condition(NOISE_FREE, self.images, transform=CriticalBandNoise(None, 0.0, self.seed, self.dtype))]
        for sd in SDS:
            for band in BANDS:
                conds.append(Condition(cell(band, sd), self.images, transform=CriticalBandNoise(band, sd, self.seed,
                                                                                            self.dtype),
                                       params={"band": band, "sd": sd}))
        return conds

    def columns(self, condition, result):
        return {accuracy_column(condition.name): result["top1"]}

    def summarize(self, values):
        return {summary_column(k): v for k, v in summary(self._grid(values)).items()}

    def degenerate(self, values):
        return {summary_column(k) for k in degenerate_keys(self._grid(values))}

    @staticmethod
    def _grid(values):
        acc = {name: cols[accuracy_column(name)] for name, cols in values.items()}
        return make_grid(acc[NOISE_FREE], [[acc[cell(b, sd)] for b in BANDS] for sd in SDS])

    @staticmethod
    def declare() -> list[Column]:
        return [Column(accuracy_column(NOISE_FREE), "top-1 accuracy (%) of the low-contrast greyscale images, "
                       "no noise"),
                *family("top1_acc/criticalband/f=<f>/sd=<sd>", "top-1 accuracy (%) with noise of SD sd in octave "
                        "band f (0 = coarsest, centred at 1.75 * 2^f cycles/image)",
                        [accuracy_column(cell(b, sd)) for sd in SDS for b in BANDS]),
                *family("metric/criticalband/{bw,cf,pns}", "the Gaussian fit of the noise thresholds at the 50 % "
                        "criterion: bandwidth (octaves), centre frequency (cycles/image), peak noise sensitivity",
                        [summary_column(k) for k in SUMMARY_KEYS if not k.endswith("_norm")], summary=True),
                *family("metric/criticalband/{bw,cf,pns}_norm", "the same fit at 50 % of the noise-free accuracy "
                        "(the paper's)", [summary_column(k) for k in SUMMARY_KEYS if k.endswith("_norm")],
                        summary=True)]


OPTIONS = imagenet.OPTIONS


def build(name, config, datasets):
    return CriticalBand(datasets.imagenet_val(), seed=config.seed) if config.imagenet else None


def declared_columns(name, config):
    return CriticalBand.declare()

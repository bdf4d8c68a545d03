"""ImageNet-C (Hendrycks & Dietterich, ICLR 2019; docs/benchmarks.md "Distribution shift"): 19 corruptions x 5
severities of 224x224 files, fed as stored.

Summaries (every cell present):
- ``top1_acc/imagenet-c``: plain mean of all 95 cells (the paper's column);
- ``top1_acc/imagenet-c-15``: mean of the 75 cells of the 15 standard corruptions;
- ``metric/imagenet-c/mCE``: AlexNet-normalised mean corruption error over the 15, in percent;
- ``metric/imagenet-c/relative_mCE``: only when ImageNet val is given too (``--imagenet``): its
  clean accuracy is one more condition of this benchmark (``top1_acc/imagenet``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from ..data import corruptions as data
from ..flags import Option, path
from ..metrics.corruption import mce, mean_accuracy, relative_mce
from . import imagenet
from .base import Column, Condition
from .corruptions import CorruptionBenchmark, cell_columns, complete
from .imagenet import CLEAN_COLUMNS, TOP1, TOP5

log = logging.getLogger("biasbench")

CLEAN = "clean"
MEAN_19, MEAN_15 = "top1_acc/imagenet-c", "top1_acc/imagenet-c-15"
MCE, RELATIVE_MCE = "metric/imagenet-c/mCE", "metric/imagenet-c/relative_mCE"


class ImageNetC(CorruptionBenchmark):
    name = "imagenet-c"
    all_corruptions = data.IMAGENET_C

    def __init__(self, cells, clean=None):
        super().__init__(cells)
        self.clean = clean

    def conditions(self):
        clean = [Condition(CLEAN, self.clean)] if self.clean is not None else []
        return super().conditions() + clean

    def columns(self, condition, result):
        if condition.name == CLEAN:
            return {TOP1: result["top1"], TOP5: result["top5"]}
        return super().columns(condition, result)

    def summarize_cells(self, cells, values):
        standard = {k: v for k, v in cells.items() if k[0] in data.IMAGENET_C_STANDARD}
        out = {MEAN_19: mean_accuracy(cells), MEAN_15: mean_accuracy(standard), MCE: mce(standard)}
        if CLEAN in values:
            out[RELATIVE_MCE] = relative_mce(standard, values[CLEAN][TOP1])
        return out


OPTIONS = [
    Option("imagenet_c", ("--imagenet-c", "--imagenet_c"), "ImageNet-C root holding <corruption>/<1..5>/<wnid>/*.JPEG",
           metavar="ROOT", folder="imagenet-c", parse=path, type=Path | None),
    Option("corruptions", ("--corruptions",), "ImageNet-C corruptions to evaluate, all 19 when not given: "
           f"{', '.join(data.IMAGENET_C)}", default=data.IMAGENET_C, shown="", metavar="A,B", type=tuple[str, ...],
           parse=lambda v: tuple(data.select(v, data.IMAGENET_C, "--corruptions")), columns=True),
    Option("severities", ("--severities",), "ImageNet-C severities to evaluate, 1..5 when not given",
           default=data.SEVERITIES, shown="", metavar="1,3", type=tuple[int, ...],
           parse=lambda v: tuple(data.select_severities(v, "--severities")), columns=True),
    *imagenet.OPTIONS,  # --imagenet: the clean accuracy for relative mCE
]


SUMMARY_COLUMNS = [
    Column(MEAN_19, "mean top-1 accuracy (%) over the 95 cells of the 19 corruptions (the paper's)",
           summary=True),
    Column(MEAN_15, "mean top-1 accuracy (%) over the 75 cells of the 15 standard corruptions",
           summary=True),
    Column(MCE, "AlexNet-normalised mean corruption error (%) over the 15", summary=True),
    Column(RELATIVE_MCE, "mCE relative to the clean error (%); needs --imagenet",
           summary=True),
]


def build(name, config, datasets):
    if not config.imagenet_c:
        return None
    cells = data.imagenet_c(config.imagenet_c, corruptions=config.corruptions, severities=config.severities,
                            check=config.check_dataset, n_samples=config.n_samples)
    if not config.imagenet:
        log.info("imagenet-c: no --imagenet, so no relative mCE (it needs the clean accuracy)")
    return ImageNetC(cells, datasets.imagenet_val() if config.imagenet else None)


def declared_columns(name, config):
    """The cells of the selection; the summaries when it is every cell; the clean accuracy (for
    relative mCE) is ImageNet val's columns."""
    out = cell_columns("ImageNet-C", config.corruptions, config.severities)
    if complete(config.corruptions, config.severities, data.IMAGENET_C):
        out += SUMMARY_COLUMNS
    return out + [replace(c, meaning=f"{c.meaning}, with --imagenet (relative mCE's clean error)")
                  for c in CLEAN_COLUMNS]

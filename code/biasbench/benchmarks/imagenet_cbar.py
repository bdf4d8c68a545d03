"""ImageNet-C-bar (Mintun et al., NeurIPS 2021; docs/benchmarks.md "Distribution shift"): 10 corruptions x 5
severities of 224x224 files, fed as stored.
Summary (every cell present): ``top1_acc/imagenet-cbar`` = plain mean of the 50 cells."""

from __future__ import annotations

from pathlib import Path

from ..data import corruptions as data
from ..flags import Option, path
from ..metrics.corruption import mean_accuracy
from .base import Column
from .corruptions import CorruptionBenchmark, cell_columns, complete

MEAN = Column("top1_acc/imagenet-cbar", "mean top-1 accuracy (%) over the 50 cells", summary=True)


class ImageNetCBar(CorruptionBenchmark):
    name = "imagenet-cbar"
    all_corruptions = data.IMAGENET_CBAR

    def summarize_cells(self, cells, values):
        return {MEAN.name: mean_accuracy(cells)}


OPTIONS = [
    Option("imagenet_cbar", ("--imagenet-cbar", "--imagenet_cbar"), "ImageNet-C-bar root holding "
           "<corruption>/<1..5 or parameter value>/<wnid>/*.JPEG", metavar="ROOT", folder="imagenet-cbar", parse=path,
           type=Path | None),
    Option("cbar_corruptions", ("--cbar-corruptions", "--cbar_corruptions"), "ImageNet-C-bar corruptions to evaluate, "
           f"all 10 when not given: {', '.join(data.IMAGENET_CBAR)}", default=data.IMAGENET_CBAR, shown="",
           metavar="A,B", type=tuple[str, ...],
           parse=lambda v: tuple(data.select(v, data.IMAGENET_CBAR, "--cbar-corruptions")), columns=True),
    Option("cbar_severities", ("--cbar-severities", "--cbar_severities"), "ImageNet-C-bar severities to evaluate, "
           "1..5 when not given", default=data.SEVERITIES, shown="", metavar="1,3", type=tuple[int, ...],
           parse=lambda v: tuple(data.select_severities(v, "--cbar-severities")), columns=True),
]


def build(name, config, datasets):
    if not config.imagenet_cbar:
        return None
    return ImageNetCBar(data.imagenet_cbar(config.imagenet_cbar, corruptions=config.cbar_corruptions,
                                           severities=config.cbar_severities, check=config.check_dataset,
                                           n_samples=config.n_samples))


def declared_columns(name, config):
    out = cell_columns("ImageNet-C-bar", config.cbar_corruptions, config.cbar_severities)
    return out + ([MEAN] if complete(config.cbar_corruptions, config.cbar_severities, data.IMAGENET_CBAR) else [])

"""ImageNet-C-bar (Mintun et al., NeurIPS 2021; README "Distribution shift"): 10 corruptions x 5
severities of 224x224 files, fed as stored.
Summary (every cell present): ``top1_acc/imagenet-cbar`` = plain mean of the 50 cells."""

from __future__ import annotations

from ..data import corruptions as data
from ..metrics.corruption import mean_accuracy
from .base import Column
from .corruptions import CorruptionBenchmark, cell_columns, complete

MEAN = Column("top1_acc/imagenet-cbar", "mean top-1 accuracy (%) over the 50 cells", summary=True)


class ImageNetCBar(CorruptionBenchmark):
    name = "imagenet-cbar"
    all_corruptions = data.IMAGENET_CBAR

    def summarize_cells(self, cells, values):
        return {MEAN.name: mean_accuracy(cells)}


def add_arguments(parser, add) -> None:
    add("--imagenet-cbar", "--imagenet_cbar", dest="imagenet_cbar", metavar="ROOT", subdir="imagenet-cbar",
        help="ImageNet-C-bar root holding <corruption>/<1..5 or parameter value>/<wnid>/*.JPEG")
    add("--cbar-corruptions", "--cbar_corruptions", dest="cbar_corruptions", metavar="A,B", default=None,
        help=f"ImageNet-C-bar corruptions to evaluate, all 10 when not given: {', '.join(data.IMAGENET_CBAR)}")
    add("--cbar-severities", "--cbar_severities", dest="cbar_severities", metavar="1,3", default=None,
        help="ImageNet-C-bar severities to evaluate, 1..5 when not given")


def build(name, config, datasets):
    if not config.imagenet_cbar:
        return None
    return ImageNetCBar(data.imagenet_cbar(config.imagenet_cbar, corruptions=config.cbar_corruptions,
                                           severities=config.cbar_severities, check=config.check_dataset,
                                           n_samples=config.n_samples))


def declared_columns(name, config):
    out = cell_columns("ImageNet-C-bar", config.cbar_corruptions, config.cbar_severities)
    return out + ([MEAN] if complete(config.cbar_corruptions, config.cbar_severities, data.IMAGENET_CBAR) else [])

"""ImageNet-C-bar (SPEC §1 'C-bar'): 10 corruptions x 5 severities of 224x224 files, fed as stored.
Summary (every cell present): ``top1_acc/imagenet-cbar`` = plain mean of the 50 cells."""

from __future__ import annotations

from ..data import corruptions as data
from ..metrics.corruption import mean_accuracy
from .corruptions import CorruptionBenchmark, selection


class ImageNetCBar(CorruptionBenchmark):
    name = "imagenet-cbar"
    all_corruptions = data.IMAGENET_CBAR

    def summarize_cells(self, cells, values):
        return {"top1_acc/imagenet-cbar": mean_accuracy(cells)}


def add_arguments(parser, add) -> None:
    add("--imagenet-cbar", "--imagenet_cbar", dest="imagenet_cbar", metavar="ROOT", subdir="imagenet-cbar",
        help="ImageNet-C-bar root holding <corruption>/<1..5 or parameter value>/<wnid>/*.JPEG")
    add("--cbar-corruptions", "--cbar_corruptions", dest="cbar_corruptions", metavar="A,B", default=None,
        help=f"ImageNet-C-bar corruptions to evaluate, all 10 when not given: {', '.join(data.IMAGENET_CBAR)}")
    add("--cbar-severities", "--cbar_severities", dest="cbar_severities", metavar="1,3", default=None,
        help="ImageNet-C-bar severities to evaluate, 1..5 when not given")


def build_cbar(args):
    if not args.imagenet_cbar:
        return None
    return ImageNetCBar(data.imagenet_cbar(
        args.imagenet_cbar, **selection(args, "--cbar-corruptions", "--cbar-severities", data.IMAGENET_CBAR)))

"""ImageNet-A, -R, -Sketch and -v2 (docs/benchmarks.md "Distribution shift"): one condition each.

A and R score the logits of their own 200 classes only (two different lists); Sketch and v2
are 1000-way. Columns: ``top1_acc/<name>`` and ``top5_acc/<name>``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..data import ood
from ..data.imagelist import ImageList
from ..data.synsets import subset_indices
from ..flags import Option, path
from ..metrics.accuracy import TopK
from .base import Benchmark, Column, Condition


class ShiftedSet(Benchmark):
    """Top-1/top-5 accuracy on one distribution-shift dataset."""

    def __init__(self, name: str, images: ImageList):
        self.name = name
        self.images = images
        subset = ood.LAYOUTS[name].subset  # A and R: logits restricted to the dataset's own 200 classes
        self.classes = subset_indices(subset) if subset else None

    def conditions(self):
        return [Condition(self.name, self.images, metric=partial(TopK, self.classes))]

    def columns(self, condition, result):
        return {f"top1_acc/{self.name}": result["top1"], f"top5_acc/{self.name}": result["top5"]}


OPTIONS = [Option(lay.name.replace("-", "_"), (lay.flag, "--" + lay.name.replace("-", "_")),
                  f"{lay.title} root ({lay.total:,} images in {lay.n_classes} class folders)", metavar="ROOT",
                  folder=lay.name, parse=path, type=Path | None)
           for lay in ood.LAYOUTS.values()]


def build(name, config, datasets):
    root = getattr(config, name.replace("-", "_"))  # its Option's dest
    return ShiftedSet(name, ood.read(name, root, check=config.check_dataset, n_samples=config.n_samples)) \
        if root else None


def declared_columns(name, config):
    lay = ood.LAYOUTS[name]
    scope = f" (logits restricted to its {lay.n_classes} classes)" if lay.subset else ""
    return [Column(f"top{k}_acc/{name}", f"top-{k} accuracy (%) on {lay.title}{scope}") for k in (1, 5)]

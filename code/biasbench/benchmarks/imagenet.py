"""ImageNet val: top-1/top-5 accuracy and ReaL accuracy (Beyer et al. 2020 for ReaL; docs/benchmarks.md)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..data.imagenet import real_labels, real_targets
from ..flags import Option, path
from ..metrics.accuracy import ReaL
from .base import Benchmark, Column, Condition

TOP1, TOP5, REAL_TOP1 = "top1_acc/imagenet", "top5_acc/imagenet", "top1_acc/imagenet-real"
CLEAN_COLUMNS = [Column(TOP1, "top-1 accuracy (%) on ImageNet val"),
                 Column(TOP5, "top-5 accuracy (%) on ImageNet val")]


class ImageNetClean(Benchmark):
    name = "imagenet"

    def __init__(self, images):
        self.images = images

    def conditions(self):
        return [Condition("clean", self.images)]

    def columns(self, condition, result):
        return {TOP1: result["top1"], TOP5: result["top5"]}


class ImageNetReaL(Benchmark):
    """Accuracy over every image with a non-empty ReaL label list. The paper's column is the
    accuracy of the last batch only (a logging bug); this is the whole-set value."""

    name = "imagenet-real"

    def __init__(self, images, labels_path=None):
        self.images = images
        self.targets = real_targets(images, real_labels(labels_path))

    def conditions(self):
        return [Condition("real", self.images, metric=partial(ReaL, self.targets))]

    def columns(self, condition, result):
        return {REAL_TOP1: result["top1"]}


IMAGENET = Option("imagenet", ("--imagenet",), metavar="ROOT", folder="imagenet", parse=path, type=Path | None,
                  help="ImageNet root holding val/<wnid>/*.JPEG (or val/ with meta.bin); --data-root default: "
                       "DIR/imagenet")
OPTIONS = [
    IMAGENET,
    Option("real_labels", ("--real-labels", "--real_labels"), metavar="JSON", parse=path, type=Path | None,
           help="ReaL labels real.json (default: ROOT/real.json if present, else the copy that ships with timm)"),
]


def build(name, config, datasets):
    if not config.imagenet:
        return None
    if name == "imagenet":
        return ImageNetClean(datasets.imagenet_val())
    labels = config.real_labels
    if labels is None and (config.imagenet / "real.json").is_file():
        labels = config.imagenet / "real.json"  # a real.json beside val/ wins over timm's copy
    return ImageNetReaL(datasets.imagenet_val(), labels)


def declared_columns(name, config):
    if name == "imagenet":
        return list(CLEAN_COLUMNS)
    return [Column(REAL_TOP1, "top-1 accuracy (%) against the ReaL labels, over the 46,837 images that have one")]

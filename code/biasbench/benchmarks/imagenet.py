"""ImageNet val: top-1/top-5 accuracy and ReaL accuracy (SPEC §1 'clean', 'ReaL')."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..data.imagenet import imagenet_val, real_labels, real_targets
from ..metrics.accuracy import ReaL
from .base import Benchmark, Condition


class ImageNetClean(Benchmark):
    name = "imagenet"

    def __init__(self, images):
        self.images = images

    def conditions(self):
        return [Condition("clean", self.images)]

    def columns(self, condition, result):
        return {"top1_acc/imagenet": result["top1"], "top5_acc/imagenet": result["top5"]}


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
        return {"top1_acc/imagenet-real": result["top1"]}


def add_arguments(parser, add) -> None:
    add("--imagenet", metavar="ROOT", subdir="imagenet",
        help="ImageNet root holding val/<wnid>/*.JPEG (or val/ with meta.bin); --data-root default: DIR/imagenet")
    add("--real-labels", "--real_labels", metavar="JSON",
        help="ReaL labels real.json (default: ROOT/real.json if present, else the copy that ships with timm)")


def load_val(args):
    """ImageNet val from the flags shared by every benchmark on it (cached per args object)."""
    cached = getattr(args, "_imagenet_val", None)
    if cached is None:
        cached = imagenet_val(args.imagenet, check=args.check_dataset, n_samples=args.n_samples)
        args._imagenet_val = cached
    return cached


def build_clean(args):
    return ImageNetClean(load_val(args)) if args.imagenet else None


def build_real(args):
    if not args.imagenet:
        return None
    labels = args.real_labels
    if labels is None and (Path(args.imagenet).expanduser() / "real.json").is_file():
        labels = Path(args.imagenet).expanduser() / "real.json"  # a real.json beside val/ wins over timm's copy
    return ImageNetReaL(load_val(args), labels)

"""ImageNet-A, -R, -Sketch and -v2 (matched frequency): readers and layout checks.

Layouts (the folder each archive extracts to is accepted as well as its parent):
- ImageNet-A  ``ROOT/<wnid>/*.jpg``, 200 wnid folders, 7,500 images   (``imagenet-a/``)
- ImageNet-R  ``ROOT/<wnid>/*.jpg``, 200 wnid folders, 30,000 images  (``imagenet-r/``)
- Sketch      ``ROOT/<wnid>/*.JPEG``, 1000 wnid folders, 50,889 images (``sketch/``)
- v2          ``ROOT/<class index>/*.jpeg``, folders ``0``..``999`` (or zero-padded), 10 images each
  (``imagenetv2-matched-frequency-format-val/``)
All are natural images: Resize(256) + CenterCrop(224).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from .folders import class_folders, descend, existing_dir, index_label, wnid_label
from .imagelist import RESIZE_CROP, ImageList
from .imagenet import check_layout
from .synsets import subset_indices

RELAX = "--check_dataset false"


@dataclass(frozen=True)
class Layout:
    name: str  # also the ImageList name
    title: str
    flag: str
    n_classes: int
    total: int
    per_class: int | None = None
    archive_dirs: tuple[str, ...] = ()
    by_index: bool = False  # folders are class indices, not wnids
    subset: str | None = None  # 'a' or 'r': the 200-class subset its folders must come from


LAYOUTS = {
    "imagenet-a": Layout("imagenet-a", "ImageNet-A", "--imagenet-a", 200, 7500, archive_dirs=("imagenet-a",), subset="a"),
    "imagenet-r": Layout("imagenet-r", "ImageNet-R", "--imagenet-r", 200, 30000, archive_dirs=("imagenet-r",), subset="r"),
    "imagenet-sketch": Layout("imagenet-sketch", "ImageNet-Sketch", "--imagenet-sketch", 1000, 50889,
                              archive_dirs=("sketch", "imagenet-sketch")),
    "imagenet-v2": Layout("imagenet-v2", "ImageNet-v2 matched-frequency", "--imagenet-v2", 1000, 10000, per_class=10,
                          archive_dirs=("imagenetv2-matched-frequency-format-val", "imagenet-v2"), by_index=True),
}


def read(name: str, root: str | Path, *, check: bool = True, n_samples: int | None = None) -> ImageList:
    """The dataset ``name`` (a key of LAYOUTS) under ``root``, layout-checked unless ``check`` is off."""
    lay = LAYOUTS[name]
    expected = f"{'<class index 0..999>' if lay.by_index else '<wnid>'}/ image folders"
    base = descend(existing_dir(root, lay.flag, f"a folder of {expected}"), lay.archive_dirs)
    images = class_folders(base, lay.name, RESIZE_CROP, index_label if lay.by_index else wnid_label)
    if lay.subset:
        allowed = set(subset_indices(lay.subset))
        wrong = sorted({int(y) for y in images.labels} - allowed)
        if wrong:
            # Logits are restricted to the dataset's 200 classes: any other label could never be hit.
            raise DatasetError(
                f"{lay.flag} {base}: {len(wrong)} class folder(s) are not among {lay.title}'s 200 classes "
                f"(e.g. class {wrong[0]}); is this the right dataset?")
    if check:
        check_layout(images, lay.n_classes, lay.per_class, lay.title, RELAX, total=lay.total)
    if n_samples:
        images = images.subset(n_samples)
    return images

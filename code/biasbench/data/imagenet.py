"""ImageNet val: the folder layouts met in practice, layout checks, ReaL labels.

Layouts read (``--imagenet ROOT``):
- ``ROOT/val/<wnid>/*.JPEG`` (torchvision's ImageNet layout, with or without its
  ``meta.bin``/devkit in ROOT), or ``ROOT`` itself holding the wnid folders;
- ``ROOT/val/*.JPEG`` flat, as extracted from ILSVRC2012_img_val.tar, labelled by
  torchvision's ``meta.bin`` (or the devkit archive, which torchvision parses into it).
Labels come from the wnid through the standard synset order, never from a
folder's position among the folders present (docs/running.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import DatasetError, IncompleteDataset
from .imagelist import RESIZE_CROP, ImageList, list_images
from .synsets import label_of, timm_info_dir

N_CLASSES, PER_CLASS = 1000, 50
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.", re.IGNORECASE)


def _val_dir(root: Path) -> Path:
    if not root.exists():
        raise DatasetError(f"ImageNet root {root} does not exist (pass the folder that holds val/)")
    if not root.is_dir():
        raise DatasetError(f"ImageNet root {root} is not a folder (pass the folder that holds val/)")
    val = root / "val"
    if val.is_dir():
        return val
    if any(p.is_dir() and p.name.startswith("n") for p in root.iterdir()):
        return root  # the val folder itself was given
    raise DatasetError(
        f"no ImageNet val images under {root}: expected {root}/val/<wnid>/*.JPEG "
        f"(or {root}/val/*.JPEG with torchvision's meta.bin in {root})"
    )


def _flat_labels(root: Path, files: list[Path]) -> np.ndarray:
    """Labels of a flat val folder from torchvision's meta.bin (built from the devkit if needed)."""
    import torch

    meta = root / "meta.bin"
    if not meta.exists() and any(root.glob("ILSVRC2012_devkit_t12.tar*")):
        from torchvision.datasets.imagenet import parse_devkit_archive

        parse_devkit_archive(str(root))
    if not meta.exists():
        raise DatasetError(
            f"{root}/val holds images but no <wnid> folders, and {meta} is missing: "
            "put torchvision's meta.bin or ILSVRC2012_devkit_t12.tar.gz in the root, "
            "or sort the images into val/<wnid>/ folders"
        )
    try:
        _, val_wnids = torch.load(meta, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable meta.bin is the same user problem
        raise DatasetError(f"cannot read {meta} (expected torchvision's ImageNet meta.bin): {e}") from None
    labels = []
    for f in files:
        m = VAL_NAME.match(f.name)
        if not m or not 1 <= int(m.group(1)) <= len(val_wnids):
            raise DatasetError(f"{f} is not named ILSVRC2012_val_<8 digits>, so meta.bin cannot label it")
        labels.append(label_of(val_wnids[int(m.group(1)) - 1], str(meta)))
    return np.asarray(labels, dtype=np.int64)


def imagenet_val(root: str | Path, *, check: bool = True, n_samples: int | None = None) -> ImageList:
    """The ImageNet val images under ``root``, checked to be the full 50,000 unless ``check`` is off."""
    root = Path(root).expanduser()
    val = _val_dir(root)
    class_dirs = sorted(p for p in val.iterdir() if p.is_dir())
    if class_dirs:
        files, labels, empty = [], [], []
        for d in class_dirs:
            y = label_of(d.name, str(val))
            imgs = list_images(d)
            if not imgs:
                empty.append(d.name)
            files += [str(p.relative_to(val)) for p in imgs]
            labels += [y] * len(imgs)
        if empty:
            # An error even with --check_dataset false: a deliberate subset leaves a class out, it does not
            # keep its folder empty (docs/troubleshooting.md).
            finding = (f"{len(empty)} class folder(s) in {val} hold no images (e.g. {empty[0]}); expected "
                       f"{PER_CLASS if check else 'at least one'} image(s) each")
            raise IncompleteDataset(f"{finding}. Delete the empty folders to evaluate a deliberate subset (with "
                                    "--check_dataset false)", finding)
        label_arr = np.asarray(labels, dtype=np.int64)
    else:
        paths = list_images(val)
        if not paths:  # before the labels: an empty folder is not "images without <wnid> folders"
            raise DatasetError(f"{val} is empty: expected ImageNet val images in {val}/<wnid>/*.JPEG "
                               f"(or {val}/*.JPEG with torchvision's meta.bin beside it)")
        files = [p.name for p in paths]
        label_arr = _flat_labels(val.parent if val != root else root, paths)
    if not files:
        raise DatasetError(f"no images found in {val} (expected *.JPEG files)")
    images = ImageList("imagenet-val", val, tuple(files), label_arr, RESIZE_CROP)
    if check:
        check_layout(images, N_CLASSES, PER_CLASS, "ImageNet val", "--check_dataset false")
    if n_samples:
        images = images.subset(n_samples)
    return images


def check_layout(images: ImageList, n_classes: int, per_class: int | None, what: str, relax_flag: str,
                 total: int | None = None) -> None:
    """Stop unless the dataset has the expected class count and images per class (or total)."""
    counts = np.bincount(images.labels, minlength=1000)
    present = int((counts > 0).sum())
    expected_total = total if total is not None else n_classes * (per_class or 0)
    problems = []
    if present != n_classes:
        problems.append(f"{present} classes (expected {n_classes})")
    if per_class is not None:
        off = np.flatnonzero((counts > 0) & (counts != per_class))
        if len(off):
            problems.append(f"{len(off)} classes without exactly {per_class} images (e.g. class {off[0]}: {counts[off[0]]})")
    if expected_total and len(images) != expected_total:
        problems.append(f"{len(images)} images (expected {expected_total:,})")
    if problems:
        finding = f"{what} at {images.root} looks incomplete: {'; '.join(problems)}"
        raise IncompleteDataset(f"{finding}. Fix the path, or pass {relax_flag} to evaluate a deliberate subset",
                                finding)


def real_labels(path: str | Path | None = None) -> list[list[int]]:
    """The ReaL label lists (entry i for ILSVRC2012_val_{i+1:08d}); timm's copy when no path is given."""
    if path is None:
        text = (timm_info_dir() / "imagenet_real_labels.json").read_bytes()
        where = "timm's imagenet_real_labels.json"
    else:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DatasetError(f"ReaL labels file {p} does not exist (expected real.json from google-research/reviewing_imagenet)")
        try:
            text, where = p.read_bytes(), str(p)
        except OSError as e:
            raise DatasetError(f"cannot read ReaL labels file {p}: {e.strerror or e}") from None
    try:
        labels = json.loads(text)
    except (ValueError, RecursionError) as e:  # also bytes that are not UTF-8, and absurd nesting
        msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise DatasetError(f"{where} is not valid JSON ({msg}); expected a list of 50,000 label lists") from None
    if not isinstance(labels, list) or len(labels) != 50000:
        n = len(labels) if isinstance(labels, list) else type(labels).__name__
        raise DatasetError(f"{where} holds {n} entries; expected a JSON list of 50,000 label lists")
    for i, entry in enumerate(labels):
        # type(y) is int: JSON true/false are Python bools, which isinstance(y, int) would let through
        if not isinstance(entry, list) or not all(type(y) is int and 0 <= y < 1000 for y in entry):
            raise DatasetError(f"{where}: entry {i} is {entry!r}; expected a list of class indices in 0..999")
    return labels


def real_targets(images: ImageList, labels: list[list[int]]) -> list[list[int]]:
    """The ReaL label list of every image of ``images``, by its ILSVRC2012_val_<n> file name."""
    out = []
    for f in images.files:
        m = VAL_NAME.search(Path(f).name)
        if not m or not 1 <= int(m.group(1)) <= 50000:
            raise DatasetError(
                f"{images.root / f}: ReaL needs the original file names ILSVRC2012_val_<8 digits>.JPEG"
            )
        out.append(labels[int(m.group(1)) - 1])
    return out

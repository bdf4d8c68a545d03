"""Image lists from class folders: ``<root>/<wnid>/*`` or ``<root>/<class index>/*``.

Labels come from the folder name (a wnid through the standard synset order, or a
class index read as a number), never from a folder's position (docs/running.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import DatasetError, IncompleteDataset
from .imagelist import ImageList, list_images
from .synsets import label_of


def existing_dir(path: str | Path, flag: str, expected: str) -> Path:
    """``path`` as a folder, or a DatasetError naming the flag and the expected layout."""
    p = Path(path).expanduser()
    if not p.is_dir():
        state = "does not exist" if not p.exists() else "is not a folder"
        raise DatasetError(f"{flag} {p} {state} (expected {expected})")
    return p


def descend(root: Path, names: tuple[str, ...]) -> Path:
    """``root/<name>`` for the first ``name`` that exists when ``root`` itself holds no class
    folders: the folder an archive extracts to (``sketch/``, ``imagenet-a/`` ...) is accepted too."""
    if any(p.is_dir() and _is_class_dir(p.name) for p in root.iterdir()):
        return root
    for name in names:
        if (root / name).is_dir():
            return root / name
    return root


def _is_class_dir(name: str) -> bool:
    return name.isdigit() or (name.startswith("n") and name[1:].isdigit())


def wnid_label(name: str, where: Path) -> int:
    return label_of(name, str(where))


def index_label(name: str, where: Path) -> int:
    """A class-index folder name: ``7`` or zero-padded ``007``, read as a number (so ``10`` comes
    after ``9``, not after ``1`` as in lexicographic order)."""
    if not name.isdigit() or not 0 <= int(name) < 1000:
        raise DatasetError(f"folder '{name}' in {where} is not a class index (expected folders named 0..999)")
    return int(name)


def class_folders(root: Path, name: str, preprocess: str, label: Callable[[str, Path], int] = wnid_label,
                  note: str = "") -> ImageList:
    """Every image in the class folders directly under ``root``, labelled by ``label(folder name)``."""
    dirs = sorted(p for p in root.iterdir() if p.is_dir())
    labelled = sorted((label(d.name, root), d) for d in dirs)
    for (a, da), (b, db) in zip(labelled, labelled[1:]):
        if a == b:
            raise DatasetError(f"folders '{da.name}' and '{db.name}' in {root} are the same class {a}")
    files, labels = [], []
    for y, d in labelled:
        imgs = list_images(d)
        if not imgs:  # an error even with --check_dataset false (docs/troubleshooting.md)
            finding = f"class folder {d} holds no images"
            raise IncompleteDataset(f"{finding}; delete it to evaluate a deliberate subset", finding)
        files += [str(p.relative_to(root)) for p in imgs]
        labels += [y] * len(imgs)
    if not files:
        raise DatasetError(f"no images found under {root} (expected {root}/<class folder>/<images>)")
    return ImageList(name, root, tuple(files), np.asarray(labels, dtype=np.int64), preprocess, note=note)

"""The manifest in a folder of ImageNet-C-bar that biasbench generated: which recipe of the generator
made its files (docs/datasets.md, "ImageNet-C-bar, generated from ImageNet val"). The C-bar reader folds the recipe into every
cell's fingerprint, so results computed on files of one recipe are never taken for another's.
A folder without a manifest (the authors' own files, or biasbench's from before recipe 2) keeps the
fingerprint it always had."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import DatasetError

MANIFEST = "biasbench-cbar.json"


def recipe(folder: str | Path) -> int | None:
    """The recipe written in ``folder``'s manifest, or None when there is no manifest."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())["recipe"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{path}: unreadable ({type(e).__name__}: {e}); expected {{\"recipe\": <number>}} as "
                           "prepare_data.py writes it") from None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DatasetError(f"{path}: recipe is {value!r}; expected a whole number >= 1 as prepare_data.py writes it")
    return value


def fingerprint_note(folder: str | Path) -> str:
    """What the reader adds to each cell's fingerprint: the recipe, or nothing without a manifest."""
    r = recipe(folder)
    return "" if r is None else f"cbar-recipe{r};"


def write(folder: str | Path, value: int) -> None:
    """Record ``value`` as the recipe of ``folder``'s files (written whole, then renamed into place)."""
    path = Path(folder) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.part")
    tmp.write_text(json.dumps({"recipe": value}) + "\n")
    os.replace(tmp, path)

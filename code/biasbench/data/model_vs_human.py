"""The model-vs-human datasets (Geirhos et al., NeurIPS 2021): layouts, file-name parsing, reading.

Seventeen 16-class datasets, as the ``modelvshuman`` toolbox ships them in its GitHub
release ``v0.1`` (``<RELEASE_URL>/<name>.tar.gz``, each extracting to ``<name>/``; fetched by
``prepare/model_vs_human.py``):

- folder layout (``cue-conflict``, ``edge``, ``silhouette``): ``<name>/<category>/<file>.png``;
  the category is the folder (cue-conflict: the *shape*; files ``<shape><i>-<texture><j>.png``).
- session layout (the other 14): ``<name>/dnn/session-<n>/<file>.png`` with file names
  ``NNNN_<abbr>_<subject>_<condition>_<category>_<xx>_<source>.png``; the category and the
  condition are the 5th and 4th ``_`` fields (``0001_nse_dnn_0.03_elephant_10_n02504458_7209.png``).

Every image is a 224 x 224 PNG and is fed as it is (``ToTensor``). ``DATASETS`` holds each
set's image count and, for the 12 parametric sets, the toolbox's conditions and the ones its
OOD accuracy leaves out (``modelvshuman/plotting/plot.py``, ``EXCLUDE_CONDITIONS``: the
unmanipulated control, and conditions where humans are below 20 % correct).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import DatasetError
from ..metrics.shape_bias import texture_category
from ..metrics.sixteen_class import CATEGORIES
from .imagelist import AS_IS, IMAGE_SUFFIXES, ImageList

RELEASE_URL = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1"
CACHE_SUBDIR = "model-vs-human"
_SESSION = re.compile(r"^session-(\d+)$")


@dataclass(frozen=True)
class MvhDataset:
    """One model-vs-human dataset: its image count, and for the parametric ones the toolbox's
    condition labels (``conditions``) and those left out of the OOD accuracy (``excluded``)."""

    name: str
    n_images: int
    conditions: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    top5: bool = False  # the toolbox reports top-5 for sketch and stylized

    @property
    def parametric(self) -> bool:
        return bool(self.conditions)

    @property
    def ood_conditions(self) -> tuple[str, ...]:
        return tuple(c for c in self.conditions if c not in self.excluded)


def _eidolon(coherence: int, excluded_reach: tuple[int, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    conds = tuple(f"{2 ** k}-{coherence}-10" for k in range(8))
    return conds, tuple(f"{r}-{coherence}-10" for r in excluded_reach)


_SETS = [
    MvhDataset("edge", 160),
    MvhDataset("silhouette", 160),
    MvhDataset("cue-conflict", 1280),
    MvhDataset("colour", 1280, ("cr", "bw"), ("cr",)),
    MvhDataset("contrast", 1280, ("c100", "c50", "c30", "c15", "c10", "c05", "c03", "c01"), ("c100", "c03", "c01")),
    MvhDataset("high-pass", 1280, ("inf", "3.0", "1.5", "1.0", "0.7", "0.55", "0.45", "0.4"),
               ("inf", "0.55", "0.45", "0.4")),
    MvhDataset("low-pass", 1280, ("0", "1", "3", "5", "7", "10", "15", "40"), ("0", "15", "40")),
    MvhDataset("phase-scrambling", 1120, ("0", "30", "60", "90", "120", "150", "180"), ("0", "150", "180")),
    MvhDataset("power-equalisation", 1120, ("0", "pow"), ("0",)),
    MvhDataset("false-colour", 1120, ("True", "False"), ("True",)),
    MvhDataset("rotation", 1280, ("0", "90", "180", "270"), ("0",)),
    MvhDataset("eidolonI", 1280, *_eidolon(10, (1, 64, 128))),
    MvhDataset("eidolonII", 1280, *_eidolon(3, (1, 32, 64, 128))),
    MvhDataset("eidolonIII", 1280, *_eidolon(0, (1, 16, 32, 64, 128))),
    MvhDataset("uniform-noise", 1280, ("0.0", "0.03", "0.05", "0.1", "0.2", "0.35", "0.6", "0.9"),
               ("0.0", "0.6", "0.9")),
    MvhDataset("sketch", 800, top5=True),
    MvhDataset("stylized", 800, top5=True),
]
#: All 17 datasets in the toolbox's DEFAULT_DATASETS order (the sets its OOD accuracy averages).
DATASETS: dict[str, MvhDataset] = {d.name: d for d in _SETS}
OOD_DATASETS: tuple[str, ...] = tuple(DATASETS)
#: The two the paper evaluates (shape bias and the 'Concepts' aggregate).
PAPER_DATASETS: tuple[str, ...] = ("cue-conflict", "stylized")


@dataclass(frozen=True)
class ImageInfo:
    """What a file's path says about it, as the toolbox reads it."""

    category: str  # the true class (cue-conflict: the shape)
    condition: str  # as written in the file name ("0.03", "true", "c05"); "NaN" without one
    session: int
    imagename: str  # the bare file name, as the toolbox's response tables store it


def dataset_url(name: str) -> str:
    """The toolbox's release archive of dataset ``name``."""
    return f"{RELEASE_URL}/{name}.tar.gz"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where downloaded datasets live: ``<cache>/model-vs-human/<name>/``."""
    from ..paths import cache_dir as _cache_dir

    return _cache_dir(cache_dir) / CACHE_SUBDIR


# ---------------------------------------------------------------------------- file names

def parse_path(rel: str) -> ImageInfo:
    """Category, condition and session of one file from its path relative to the dataset root.

    ``.../session-<n>/<name>``: category and condition from the name's 5th and 4th ``_``
    fields; ``.../<category>/<name>``: the folder is the category, and a name in the session
    convention must agree with it. Raises DatasetError for anything else.
    """
    parts = PurePosixPath(rel).parts
    name = parts[-1]
    parent = parts[-2] if len(parts) > 1 else ""
    fields = PurePosixPath(name).stem.split("_")
    coded = len(fields) >= 6 and fields[0].isdigit()
    session_match = _SESSION.match(parent)
    if session_match:
        if not coded:
            raise DatasetError(f"{rel}: expected a file name NNNN_<abbr>_<subject>_<condition>_<category>_<xx>_"
                               "<source>.png in a session folder (model-vs-human's naming)")
        category, condition, session = fields[4], fields[3], int(session_match.group(1))
    else:
        category, condition, session = parent, (fields[3] if coded else "NaN"), 1
        if coded and fields[4] != parent:
            raise DatasetError(f"{rel}: the file name says category {fields[4]!r} but it lies in folder {parent!r}")
    if category not in CATEGORIES:
        raise DatasetError(f"{rel}: category {category!r} is not one of the 16 model-vs-human categories "
                           f"({', '.join(CATEGORIES)})")
    return ImageInfo(category=category, condition=condition, session=session, imagename=name)


def _as_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if not math.isnan(value) else None


def condition_label(dataset: MvhDataset, raw: str) -> str:
    """The toolbox's label of a file-name condition: files say "0.00", "3" or "true" where the
    toolbox's condition lists say "0.0", "3.0" or "True" (it compares after pandas has parsed
    the column into numbers or booleans). Raises DatasetError for a condition it does not know."""
    for label in dataset.conditions:
        if raw == label or raw.lower() == label.lower():
            return label
        a, b = _as_number(raw), _as_number(label)
        if a is not None and b is not None and a == b:
            return label
    raise DatasetError(f"{dataset.name}: condition {raw!r} in a file name is not one of the toolbox's conditions "
                       f"({', '.join(dataset.conditions)})")


def image_infos(images: ImageList) -> list[ImageInfo]:
    """``parse_path`` of every file of ``images``, in order."""
    return [parse_path(f) for f in images.files]


# ---------------------------------------------------------------------------- reading

def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path, root: Path) -> list[str]:
    # Dot files are left out (e.g. '._x.png' resource forks from macOS archives).
    return sorted(p.relative_to(root).as_posix() for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def list_files(root: Path, name: str) -> list[str]:
    """Image files of a dataset, relative to ``root``, in the toolbox's order (torchvision
    ImageFolder: sorted folders, then sorted names)."""
    base = root / "dnn" if (root / "dnn").is_dir() else root
    folders = _visible_dirs(base)
    sessions = [d for d in folders if _SESSION.match(d.name)]
    if sessions and len(sessions) != len(folders):
        others = [d.name for d in folders if d not in sessions]
        raise DatasetError(f"{base} mixes session folders with others ({', '.join(others[:3])}); expected only "
                           "session-<n> folders (model-vs-human's dnn/ layout) or only category folders")
    if base is not root and not sessions:
        raise DatasetError(f"{base} holds no session-<n> folders; expected {name}/dnn/session-1/*.png")
    files = [f for d in folders for f in _image_files(d, root)]
    if not files:
        raise DatasetError(f"{root} holds no images; expected {name}/<category>/*.png or {name}/dnn/session-1/*.png "
                           f"(extract {dataset_url(name)} there)")
    return files


def read_dataset(root: str | os.PathLike, name: str, *, check: bool = True, n_samples: int | None = None
                 ) -> ImageList:
    """The images of model-vs-human dataset ``name`` under ``root`` (its own folder), labelled
    with the index of their category in ``CATEGORIES`` (never an ImageNet class)."""
    if name not in DATASETS:
        raise DatasetError(f"unknown model-vs-human dataset {name!r}; expected one of {', '.join(DATASETS)}")
    ds = DATASETS[name]
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"model-vs-human dataset folder {root} does not exist; expected {name}/ from "
                           f"{dataset_url(name)}")
    files = list_files(root, name)
    infos = [parse_path(f) for f in files]
    for f, info in zip(files, infos):
        if ds.parametric:
            condition_label(ds, info.condition)
        if name == "cue-conflict" and texture_category(info.imagename) not in CATEGORIES:
            raise DatasetError(f"{root / f}: expected a cue-conflict name <shape><i>-<texture><j>.png with a "
                               "texture among the 16 categories")
    if check:
        missing = sorted(set(CATEGORIES) - {i.category for i in infos})
        if len(files) != ds.n_images or missing:
            raise DatasetError(f"{root}: found {len(files)} images" + (f", none of {', '.join(missing)}" if missing
                                                                        else "")
                               + f"; model-vs-human {name} has {ds.n_images} images of all 16 categories "
                               "(pass --check_dataset false for a deliberate subset)")
    labels = np.array([CATEGORIES.index(i.category) for i in infos], dtype=np.int64)
    images = ImageList(name=f"model-vs-human/{name}", root=root, files=tuple(files), labels=labels, preprocess=AS_IS)
    return images.subset(n_samples) if n_samples else images


# ---------------------------------------------------------------------------- presence

def is_present(folder: Path) -> bool:
    """Whether a dataset folder is there (not empty); fetching it is ``prepare/model_vs_human.py``'s."""
    return folder.is_dir() and any(folder.iterdir())

"""The frequency cue-conflict stimuli (Gavrikov et al., ICLR 2025; docs/datasets.md "Frequency cue-conflict").

Each stimulus holds the low-frequency band of an image of one model-vs-human category and the
high-frequency band of an image of another. Both the released set and the generated one
(``biasbench.prepare.freq_cue_conflict``) are read from one layout, that of model-vs-human's
cue-conflict set with the low-frequency category in the shape's place::

    <root>/<lf category>/[<prefix>_]<lf><i>-<hf><j>.<png|JPEG|...>

The last ``_`` field of a file name, digits removed, is ``<lf>-<hf>`` (the authors' own
``upload_hf_freq_cue_conflict.py`` reads the labels this way); the folder must agree with
``<lf>``. The released set (Hugging Face ``paulgavrikov/frequency-cue-conflict``, split
``test``, 1,280 rows) is parquet with columns ``image``, ``lf_label`` and ``hf_label``;
``prepare_data.py --datasets freq-cue-conflict`` writes its images into this layout. A generated
set carries ``manifest.csv`` (one row per stimulus, both sources named); without a manifest the
folder must hold the released 1,280 stimuli (``--check_dataset false`` for a subset).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..errors import DatasetError
from ..metrics.sixteen_class import CATEGORIES
from .imagelist import AS_IS, IMAGE_SUFFIXES, RESIZE_CROP, ImageList

HUB_REPO = "paulgavrikov/frequency-cue-conflict"
N_RELEASED = 1280
MANIFEST = "manifest.csv"
SUBDIR = "freq-cue-conflict"  # the folder under --data-root / prepare_data.py --root


@dataclass(frozen=True)
class Stimulus:
    lf: str  # the category of the low-frequency band (the folder)
    hf: str  # the category of the high-frequency band
    imagename: str


def parse_name(name: str) -> tuple[str, str]:
    """``'0007_airplane3-bear12.png'`` -> ``('airplane', 'bear')``; DatasetError unless both are categories."""
    last = PurePosixPath(name).stem.split("_")[-1]
    parts = ["".join(ch for ch in p if not ch.isdigit()) for p in last.split("-")]
    if len(parts) != 2 or not all(p in CATEGORIES for p in parts):
        raise DatasetError(f"{name}: expected a frequency cue-conflict name [<prefix>_]<lf><i>-<hf><j>.<ext> with "
                           f"both categories among the 16 ({', '.join(CATEGORIES)})")
    return parts[0], parts[1]


def stimuli(images: ImageList) -> list[Stimulus]:
    """The low- and high-frequency category of every file of ``images``, in order."""
    out = []
    for f in images.files:
        lf, hf = parse_name(f)
        out.append(Stimulus(lf, hf, PurePosixPath(f).name))
    return out


def _files(root: Path) -> list[str]:
    """``<lf>/<name>`` of every image, in ImageFolder order (sorted folders, then sorted names)."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    stray = sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if stray:
        raise DatasetError(f"{root} holds images at its top level ({stray[0]} ...); expected them in one folder per "
                           "low-frequency category, <lf>/<lf><i>-<hf><j>.png")
    unknown = [p.name for p in folders if p.name not in CATEGORIES]
    if unknown:
        raise DatasetError(f"{root}: folder {unknown[0]!r} is not one of the 16 categories; expected "
                           f"<lf category>/ folders ({', '.join(CATEGORIES)})")
    return [p.relative_to(root).as_posix() for d in folders for p in sorted(d.iterdir())
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]


def _preprocess(path: Path) -> str:
    """224 x 224 stimuli are fed as they are (as model-vs-human's); others get the paper's Resize/CenterCrop."""
    try:
        with Image.open(path) as im:
            return AS_IS if im.size == (224, 224) else RESIZE_CROP
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from None


def read(root: str | os.PathLike, *, check: bool = True, n_samples: int | None = None) -> ImageList:
    """The stimuli under ``root``, labelled with the index of their low-frequency category in
    ``CATEGORIES`` (the high-frequency one comes from the file name: ``stimuli``)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"frequency cue-conflict folder {root} does not exist; fetch the released stimuli with "
                           f"prepare_data.py --datasets freq-cue-conflict, or generate them (docs/datasets.md)")
    parquet = sorted(root.rglob("*.parquet"))
    files = _files(root)
    if not files:
        hint = (f"; it holds {parquet[0].name}: extract it with prepare_data.py --root {root.parent} --datasets "
                "freq-cue-conflict") if parquet else ""
        raise DatasetError(f"{root} holds no images; expected <lf category>/<lf><i>-<hf><j>.png{hint}")
    labels = []
    for f in files:
        lf, hf = parse_name(f)
        folder = PurePosixPath(f).parts[0]
        if lf != folder:
            raise DatasetError(f"{root / f}: the name says low-frequency category {lf!r} but it lies in {folder}/")
        labels.append(CATEGORIES.index(lf))
    manifest = root / MANIFEST
    if check:
        listed = _manifest_files(manifest) if manifest.is_file() else None
        if listed is not None and set(listed) != set(files):
            odd = sorted(set(listed) ^ set(files))
            raise DatasetError(f"{root}: {MANIFEST} and the images differ ({len(odd)} file(s), e.g. {odd[0]}); "
                               "regenerate the set, or pass --check_dataset false for a deliberate subset")
        expected = len(listed) if listed is not None else N_RELEASED
        missing = sorted(set(CATEGORIES) - {CATEGORIES[i] for i in labels})
        if len(files) != expected or missing:
            what = f"{MANIFEST} lists {expected}" if listed is not None else f"the released set has {N_RELEASED}"
            raise DatasetError(f"{root}: found {len(files)} stimuli" + (f", no low-frequency {', '.join(missing)}"
                                                                        if missing else "")
                               + f"; {what} over all 16 categories (pass --check_dataset false for a deliberate "
                               "subset)")
    images = ImageList(name="freq-cue-conflict", root=root, files=tuple(files), labels=np.array(labels, np.int64),
                       preprocess=_preprocess(root / files[0]))
    return images.subset(n_samples) if n_samples else images


def _manifest_files(path: Path) -> list[str]:
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and "file" not in rows[0]:
        raise DatasetError(f"{path} has no 'file' column; expected the generator's manifest "
                           "(biasbench.prepare.freq_cue_conflict)")
    return [r["file"] for r in rows]

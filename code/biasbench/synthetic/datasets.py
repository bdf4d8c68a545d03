"""Small synthetic datasets in the real on-disk layouts of every dataset the suite reads.

For tests and the demo: deterministic (same arguments, same bytes), fast, and with
class-dependent content (see ``biasbench.synthetic.images``) so that a model can tell the
classes apart and the benchmarks give meaningful, non-degenerate numbers.

Layout under ``root`` (the returned dict maps each dataset name to its folder):

    imagenet/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG   varied sizes, 250..400 px a side
    imagenet/train/<wnid>/<wnid>_<n>.JPEG               only with train_per_class > 0
    imagenet/meta.bin                                    torchvision: (wnid_to_classes, val_wnids)
    imagenet/real.json                                   ReaL: 50,000 label lists
    imagenet-c/<corruption>/<1..5>/<wnid>/ILSVRC2012_val_<8 digits>.JPEG   224x224
    imagenet-cbar/<corruption>/<1..5 or parameter>/<wnid>/ILSVRC2012_val_<8 digits>.JPEG
    imagenet-a/<wnid>/<p>_<name> _ <name>_<q>.jpg        ImageNet-A's 200 classes only
    imagenet-r/<wnid>/<rendition>_<n>.jpg                ImageNet-R's 200 classes only
    imagenet-sketch/<wnid>/sketch_<n>.JPEG
    imagenet-v2/<class index>/<sha1>.jpeg                folders "0".."999" (or "000".."999")
    modelvshuman/cue-conflict/<shape>/<shape><i>-<texture><j>.png        224x224
    modelvshuman/stylized/dnn/session-1/<NNNN>_sty_dnn_0_<cat>_00_<cat>-<MMMM>-ILSVRC2012-val-<8 digits>.png
    SYNTHETIC.json                                       what was written, with which arguments

The 50,000 val file numbers are a fixed permutation (per seed) of all (class,
instance < 50) pairs, so meta.bin and real.json describe a complete 50-per-class
val set of which any subset can be written, and a file keeps its number whatever
else is written. ImageNet-C/C-bar files are stand-in corruptions of the
Resize(256)+CenterCrop(224) of the val image with the same name.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.corruptions import IMAGENET_C, IMAGENET_CBAR, cbar_severity_folder, severity_folder
from ..data.synsets import imagenet_wnids, subset_indices
from ..errors import ConfigError, UserError, exit_status
from ..flags import comma_list
from .corruptions import corrupt
from .images import (
    ADVERSARIAL,
    RENDITION,
    RENDITIONS,
    SKETCH,
    TRAIN,
    V2,
    VAL,
    adversarial_image,
    class_image,
    cue_conflict_image,
    rendition_image,
    rng,
    sketch_image,
    stylized_image,
)

__all__ = ["ALL", "PRESETS", "MVH_CATEGORIES", "MVH_REPRESENTATIVES", "class_image", "write_datasets",
           "write_preset", "val_file_number", "real_label_list", "main"]

ALL = ("imagenet", "imagenet-c", "imagenet-cbar", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-v2",
       "cue-conflict", "stylized")
_ALIASES = {"val": "imagenet", "real": "imagenet", "c": "imagenet-c", "cbar": "imagenet-cbar",
            "c-bar": "imagenet-cbar", "imagenet-c-bar": "imagenet-cbar", "a": "imagenet-a", "r": "imagenet-r",
            "sketch": "imagenet-sketch", "v2": "imagenet-v2", "cue_conflict": "cue-conflict"}

# The 16 model-vs-human categories and the ImageNet class drawn for each (one of the
# category's indices in model-vs-human's human_categories.py; a typical member).
MVH_REPRESENTATIVES = {
    "airplane": 404,  # airliner
    "bear": 294,  # brown bear
    "bicycle": 671,  # mountain bike
    "bird": 15,  # robin
    "boat": 472,  # canoe
    "bottle": 440,  # beer bottle
    "car": 817,  # sports car
    "cat": 281,  # tabby
    "chair": 765,  # rocking chair
    "clock": 409,  # analog clock
    "dog": 207,  # golden retriever
    "elephant": 386,  # African elephant
    "keyboard": 508,  # computer keyboard
    "knife": 499,  # cleaver
    "oven": 766,  # rotisserie
    "truck": 717,  # pickup
}
MVH_CATEGORIES = tuple(MVH_REPRESENTATIVES)

# 2, 10, 100 sort as "10" < "100" < "2" as strings (catches v2 folder-order bugs);
# 15, 404 are ImageNet-A only, 2, 100, 281 ImageNet-R only, 207, 472 in both.
TEST_CLASSES = (2, 10, 15, 100, 207, 281, 404, 472)
DEMO_CLASSES = tuple(sorted(set(MVH_REPRESENTATIVES.values()) | {2, 10, 100}))

PRESETS: dict[str, dict] = {
    "test": dict(classes=TEST_CLASSES, per_class=2, train_per_class=2, corrupt_per_class=2,
                 c_corruptions=("gaussian_noise", "gaussian_blur"),
                 cbar_corruptions=("blue_noise_sample", "checkerboard_cutout"), mvh_per_category=2),
    # C and C-bar are 95 and 50 passes: the demo corrupts one image of each of 8 classes for them.
    "demo": dict(classes=DEMO_CLASSES, per_class=1, train_per_class=10, corrupt_per_class=1,
                 corrupt_classes=DEMO_CLASSES[:8], c_corruptions=IMAGENET_C,
                 cbar_corruptions=IMAGENET_CBAR, mvh_per_category=5),
}

N_VAL, PER_CLASS_MAX = 50000, 50
JPEG_QUALITY, CORRUPT_JPEG_QUALITY = 90, 85  # ImageNet-C and C-bar were saved at quality 85
MANIFEST = "SYNTHETIC.json"
_PERMUTATION_KEY, _SIZE_KEY, _NAME_KEY, _CORRUPT_KEY = 50000, 7, 8, 9  # random streams of this module


@lru_cache(maxsize=8)
def _val_permutation(seed: int) -> np.ndarray:
    return rng(seed, _PERMUTATION_KEY).permutation(N_VAL)


def val_file_number(label: int, instance: int, seed: int = 0) -> int:
    """The n of ILSVRC2012_val_<n>.JPEG holding val instance ``instance`` (0..49) of ``label``."""
    return int(_val_permutation(seed)[label * PER_CLASS_MAX + instance]) + 1


def real_label_list(label: int, instance: int) -> list[int]:
    """The synthetic ReaL list of val instance ``instance`` of ``label``.

    Of every 16 (class, instance) positions one gets an empty list (3,125 in all; the real
    file has 3,163) and three get the class plus its neighbour in synset order (often a
    similar class, e.g. another dog breed); the rest just the class.
    """
    slot = (label * PER_CLASS_MAX + instance) % 16
    if slot == 0:
        return []
    if slot <= 3:
        return sorted([label, label + 1 if label < 999 else label - 1])
    return [label]


def _lemmas() -> dict[str, tuple[str, ...]]:
    text = resources.files("timm.data").joinpath("_info", "imagenet_synset_to_lemma.txt").read_text()
    pairs = (line.split("\t", 1) for line in text.splitlines() if line.strip())
    return {w: tuple(names.split(", ")) for w, names in pairs}


def _meta_bin(seed: int) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """torchvision's meta.bin content: wnid -> class names, and the wnid of each val file."""
    wnids = imagenet_wnids()
    lemmas = _lemmas()
    val_wnids = [""] * N_VAL
    for j, n in enumerate(_val_permutation(seed)):
        val_wnids[n] = wnids[j // PER_CLASS_MAX]
    return {w: lemmas[w] for w in wnids}, val_wnids


def _real_json(seed: int) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(N_VAL)]
    for j, n in enumerate(_val_permutation(seed)):
        out[n] = real_label_list(j // PER_CLASS_MAX, j % PER_CLASS_MAX)
    return out


def _natural_size(r: np.random.Generator) -> tuple[int, int]:
    """A non-square (width, height) with sides in 250..400, so Resize(256) + CenterCrop(224) matter."""
    w, h = (int(s) for s in r.integers(250, 401, 2))
    return (w, h + 1 if h < 400 else h - 1) if w == h else (w, h)


def _size_of(label: int, instance: int, seed: int, stream: int) -> tuple[int, int]:
    return _natural_size(rng(seed, _SIZE_KEY, stream, label, instance))


def resize_crop(img: Image.Image) -> Image.Image:
    """The suite's natural-image preprocessing (docs/running.md), as torchvision does it on PIL images."""
    from torchvision.transforms import functional as TF

    return TF.center_crop(TF.resize(img, 256), 224)


class _Writer:
    """Writes files, refusing to overwrite, and counts them per dataset."""

    def __init__(self, root: Path):
        self.root = root
        self.counts: dict[str, int] = {}

    def save(self, dataset: str, rel: Path, img: Image.Image, **kw) -> None:
        path = self.root / rel
        if path.exists():
            raise RuntimeError(f"{path} written twice (file name collision)")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".png":
            img.save(path, "PNG")
        else:
            img.save(path, "JPEG", quality=kw.get("quality", JPEG_QUALITY))
        self.counts[dataset] = self.counts.get(dataset, 0) + 1


def _wnid(label: int) -> str:
    return imagenet_wnids()[label]


def _write_imagenet(w: _Writer, base: Path, classes: Sequence[int], per_class: int, train_per_class: int,
                    seed: int, flat: bool) -> None:
    import torch

    for c in classes:
        val = base / "val" if flat else base / "val" / _wnid(c)
        for k in range(per_class):
            img = class_image(c, k, _size_of(c, k, seed, VAL), seed)
            w.save("imagenet", val / f"ILSVRC2012_val_{val_file_number(c, k, seed):08d}.JPEG", img)
        for k in range(train_per_class):
            img = class_image(c, k, _size_of(c, k, seed, TRAIN), seed, stream=TRAIN)
            w.save("imagenet/train", base / "train" / _wnid(c) / f"{_wnid(c)}_{k + 1}.JPEG", img)
    torch.save(_meta_bin(seed), w.root / base / "meta.bin")
    (w.root / base / "real.json").write_text(json.dumps(_real_json(seed)))


def _write_corrupted(w: _Writer, name: str, base: Path, corruptions: Sequence[str], folder: Callable[[str, int], str],
                     classes: Sequence[int], per_class: int, seed: int) -> None:
    crops = {(c, k): resize_crop(class_image(c, k, _size_of(c, k, seed, VAL), seed))
             for c in classes for k in range(per_class)}
    for corruption in corruptions:
        for severity in range(1, 6):
            for (c, k), crop in crops.items():
                img = corrupt(crop, corruption, severity, key=(seed, _CORRUPT_KEY, c, k))
                rel = base / corruption / folder(corruption, severity) / _wnid(c)
                w.save(name, rel / f"ILSVRC2012_val_{val_file_number(c, k, seed):08d}.JPEG", img,
                       quality=CORRUPT_JPEG_QUALITY)


def _subset_classes(classes: Sequence[int], which: str) -> list[int]:
    allowed = subset_indices(which)
    chosen = [c for c in classes if c in set(allowed)]
    return chosen or list(allowed[:5])


def _write_a(w: _Writer, base: Path, classes: Sequence[int], per_class: int, seed: int) -> None:
    lemmas = _lemmas()
    wnids = imagenet_wnids()
    for c in _subset_classes(classes, "a"):
        for k in range(per_class):
            r = rng(seed, _NAME_KEY, c, k)
            # Real names: "<p>_<model's guess> _ <other guess>_<q>.jpg", spaces included.
            guess = [lemmas[wnids[int(i)]][0].replace("/", " ") for i in r.integers(0, 1000, 2)]
            name = f"{r.uniform(0, 0.01):.6f}_{guess[0]} _ {guess[1]}_{r.uniform(0.1, 0.99):.8f}.jpg"
            img = adversarial_image(c, k, _size_of(c, k, seed, ADVERSARIAL), seed)
            w.save("imagenet-a", base / _wnid(c) / name, img)


def _write_r(w: _Writer, base: Path, classes: Sequence[int], per_class: int, seed: int) -> None:
    for c in _subset_classes(classes, "r"):
        for k in range(per_class):
            img, style = rendition_image(c, k, _size_of(c, k, seed, RENDITION), seed)
            w.save("imagenet-r", base / _wnid(c) / f"{style}_{k // len(RENDITIONS)}.jpg", img)


def _write_sketch(w: _Writer, base: Path, classes: Sequence[int], per_class: int, seed: int) -> None:
    for c in classes:
        for k in range(per_class):
            w.save("imagenet-sketch", base / _wnid(c) / f"sketch_{k}.JPEG",
                   sketch_image(c, k, _size_of(c, k, seed, SKETCH), seed))


def _write_v2(w: _Writer, base: Path, classes: Sequence[int], per_class: int, seed: int, zero_pad: bool) -> None:
    for c in classes:
        folder = f"{c:03d}" if zero_pad else str(c)
        for k in range(per_class):
            name = hashlib.sha1(f"imagenet-v2/{seed}/{c}/{k}".encode()).hexdigest() + ".jpeg"
            w.save("imagenet-v2", base / folder / name, class_image(c, k, _size_of(c, k, seed, V2), seed, stream=V2))


def _write_cue_conflict(w: _Writer, base: Path, n: int, seed: int) -> None:
    cats = MVH_CATEGORIES
    for si, shape in enumerate(cats):
        for i in range(1, n + 1):
            p = si * n + i - 1  # running number: texture == shape for every 16th image, as in the real set (80/1280)
            texture, j = cats[(si + p) % 16], p % 3 + 1
            img = cue_conflict_image(MVH_REPRESENTATIVES[shape], i - 1, MVH_REPRESENTATIVES[texture], j - 1, seed)
            w.save("cue-conflict", base / shape / f"{shape}{i}-{texture}{j}.png", img)


def _write_stylized(w: _Writer, base: Path, n: int, seed: int, by_category: bool) -> None:
    for ci, cat in enumerate(MVH_CATEGORIES):
        rep = MVH_REPRESENTATIVES[cat]
        for k in range(n):
            # model-vs-human: <trial>_sty_dnn_<condition 0>_<category>_00_<source image>.png
            name = (f"{ci * n + k + 1:04d}_sty_dnn_0_{cat}_00_{cat}-{k + 1:04d}-ILSVRC2012-val-"
                    f"{val_file_number(rep, k, seed):08d}.png")
            folder = base / cat if by_category else base / "dnn" / "session-1"
            w.save("stylized", folder / name, stylized_image(rep, k, seed))


_BASES = {"imagenet": Path("imagenet"), "imagenet-c": Path("imagenet-c"), "imagenet-cbar": Path("imagenet-cbar"),
          "imagenet-a": Path("imagenet-a"), "imagenet-r": Path("imagenet-r"),
          "imagenet-sketch": Path("imagenet-sketch"), "imagenet-v2": Path("imagenet-v2"),
          "cue-conflict": Path("modelvshuman", "cue-conflict"), "stylized": Path("modelvshuman", "stylized")}


def _names(which: Iterable[str] | str) -> list[str]:
    items = comma_list(which, keep_empty=True)
    out = []
    for item in items:
        name = _ALIASES.get(item.strip().lower(), item.strip().lower())
        if name not in ALL:
            raise ConfigError(f"unknown dataset '{item}' in --which; expected some of {', '.join(ALL)} "
                              f"(or the short names {', '.join(sorted(_ALIASES))})")
        if name not in out:
            out.append(name)
    if not out:
        raise ConfigError("no dataset selected (--which is empty)")
    return out


def _corruption_list(given: Sequence[str] | str | None, known: tuple[str, ...], flag: str) -> list[str]:
    if given is None or given == "all":
        return list(known)
    items = comma_list(given, keep_empty=True) if isinstance(given, str) else list(given)
    bad = [c for c in items if c not in known]
    if bad or not items:
        raise ConfigError(f"{flag}: unknown corruption '{bad[0] if bad else ''}'; expected 'all' or some of "
                          f"{', '.join(known)}")
    return list(dict.fromkeys(items))


def _count(value: int, flag: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= PER_CLASS_MAX:
        raise ConfigError(f"{flag} is {value!r}; expected an integer in {low}..{PER_CLASS_MAX}")
    return int(value)


def _class_list(classes: Sequence[int] | None) -> list[int]:
    if classes is None:
        return list(TEST_CLASSES)
    out = []
    for c in classes:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < 1000:
            raise ConfigError(f"class {c!r} is not an ImageNet class index (expected integers 0..999)")
        if int(c) not in out:
            out.append(int(c))
    if not out:
        raise ConfigError("the class list is empty; give at least one ImageNet class index")
    return out


def write_datasets(root: str | Path, *, classes: Sequence[int] | None = None, per_class: int = 2,
                   which: Iterable[str] | str = ALL, seed: int = 0, train_per_class: int = 0,
                   corrupt_per_class: int | None = None, corrupt_classes: Sequence[int] | None = None,
                   c_corruptions: Sequence[str] | str | None = None,
                   cbar_corruptions: Sequence[str] | str | None = None, cbar_severity_folders: str = "index",
                   mvh_per_category: int | None = None, v2_zero_pad: bool = False,
                   stylized_layout: str = "toolbox", val_layout: str = "folders",
                   overwrite: bool = False) -> dict[str, Path]:
    """Write the synthetic datasets named in ``which`` under ``root``; returns each one's folder.

    ``classes``: ImageNet class indices (default ``TEST_CLASSES``); ImageNet-A and -R use
    those among their 200 classes (or their first 5 classes when none is). ``per_class``:
    images per class for val, A, R, Sketch and v2 (<= 50); ``train_per_class``: also write
    ``imagenet/train``; ``corrupt_per_class``: val instances corrupted for C and C-bar
    (default ``per_class``); ``corrupt_classes``: the classes among ``classes`` whose instances C and C-bar
    corrupt (default all); ``c_corruptions``/``cbar_corruptions``: names or "all" (default
    all 19 / all 10); ``cbar_severity_folders``: "index" (1..5, the released download) or
    "value" ("2.35" ..., what make_imagenet_c_bar.py writes); ``mvh_per_category``:
    cue-conflict and stylized images per category (default ``per_class``);
    ``v2_zero_pad``: v2 folders "000".."999"; ``stylized_layout``: "toolbox"
    (stylized/dnn/session-1/*.png, as model-vs-human ships it) or "by-category"
    (stylized/<category>/*.png); ``val_layout``: "folders" (val/<wnid>/) or "flat" (val/*.JPEG,
    as ILSVRC2012_img_val.tar extracts; labelled by meta.bin). A dataset folder that exists and is not empty is only
    replaced with ``overwrite`` and only under a root this function wrote before.
    """
    root = Path(root).expanduser()
    names = _names(which)
    classes = _class_list(classes)
    per_class = _count(per_class, "per_class")
    train_per_class = _count(train_per_class, "train_per_class", low=0)
    corrupt_per_class = _count(per_class if corrupt_per_class is None else corrupt_per_class, "corrupt_per_class")
    corrupt_classes = classes if corrupt_classes is None else _class_list(corrupt_classes)
    if not set(corrupt_classes) <= set(classes):
        raise ConfigError(f"corrupt_classes {sorted(set(corrupt_classes) - set(classes))} are not among classes; "
                          "expected a subset of the classes written")
    n_mvh = _count(per_class if mvh_per_category is None else mvh_per_category, "mvh_per_category")
    c_list = _corruption_list(c_corruptions, IMAGENET_C, "c_corruptions")
    cbar_list = _corruption_list(cbar_corruptions, IMAGENET_CBAR, "cbar_corruptions")
    if cbar_severity_folders not in ("index", "value"):
        raise ConfigError(f"cbar_severity_folders is {cbar_severity_folders!r}; "
                          "expected 'index' (1..5) or 'value' (2.35 ...)")
    if val_layout not in ("folders", "flat"):
        raise ConfigError(f"val_layout is {val_layout!r}; expected 'folders' (val/<wnid>/) or 'flat' (val/*.JPEG)")
    if stylized_layout not in ("toolbox", "by-category"):
        raise ConfigError(f"stylized_layout is {stylized_layout!r}; expected 'toolbox' or 'by-category'")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed is {seed!r}; expected a non-negative integer")
    if root.exists() and not root.is_dir():
        raise ConfigError(f"output {root} is a file; expected a folder (new or empty)")

    manifest_path = root / MANIFEST
    for name in names:
        folder = root / _BASES[name]
        if folder.exists() and any(folder.iterdir()):
            if not overwrite:
                raise ConfigError(f"{folder} already exists and is not empty; choose a new output folder "
                                  "or pass --overwrite")
            if not manifest_path.is_file():
                raise ConfigError(f"{folder} exists but {root} holds no {MANIFEST}, so it was not written by this "
                                  "generator; refusing to delete it (choose a new output folder)")
            shutil.rmtree(folder)

    root.mkdir(parents=True, exist_ok=True)
    w = _Writer(root)
    c_folder = lambda c, s: severity_folder(s)  # noqa: E731
    cbar_folder = cbar_severity_folder if cbar_severity_folders == "value" else c_folder
    for name in names:
        base = _BASES[name]
        (root / base).mkdir(parents=True, exist_ok=True)
        if name == "imagenet":
            _write_imagenet(w, base, classes, per_class, train_per_class, seed, val_layout == "flat")
        elif name == "imagenet-c":
            _write_corrupted(w, name, base, c_list, c_folder, corrupt_classes, corrupt_per_class, seed)
        elif name == "imagenet-cbar":
            _write_corrupted(w, name, base, cbar_list, cbar_folder, corrupt_classes, corrupt_per_class, seed)
        elif name == "imagenet-a":
            _write_a(w, base, classes, per_class, seed)
        elif name == "imagenet-r":
            _write_r(w, base, classes, per_class, seed)
        elif name == "imagenet-sketch":
            _write_sketch(w, base, classes, per_class, seed)
        elif name == "imagenet-v2":
            _write_v2(w, base, classes, per_class, seed, v2_zero_pad)
        elif name == "cue-conflict":
            _write_cue_conflict(w, base, n_mvh, seed)
        elif name == "stylized":
            _write_stylized(w, base, n_mvh, seed, stylized_layout == "by-category")

    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"datasets": {}}
    for name in names:
        manifest["datasets"][name] = {"path": _BASES[name].as_posix(), "images": w.counts.get(name, 0)}
    if "imagenet" in names:
        manifest["datasets"]["imagenet"]["train_images"] = w.counts.get("imagenet/train", 0)
    manifest.update(generator="biasbench.synthetic", seed=int(seed), classes=classes, per_class=per_class,
                    train_per_class=train_per_class, corrupt_per_class=corrupt_per_class,
                    corrupt_classes=corrupt_classes,
                    c_corruptions=c_list, cbar_corruptions=cbar_list, cbar_severity_folders=cbar_severity_folders,
                    mvh_per_category=n_mvh, v2_zero_pad=bool(v2_zero_pad), stylized_layout=stylized_layout,
                    val_layout=val_layout)
    manifest["datasets"] = dict(sorted(manifest["datasets"].items()))
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return {name: root / _BASES[name] for name in names}


def write_preset(root: str | Path, preset: str = "test", **overrides) -> dict[str, Path]:
    """``write_datasets`` with the arguments of ``PRESETS[preset]``, updated by ``overrides``."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset '{preset}'; expected one of {', '.join(PRESETS)}")
    return write_datasets(root, **{**PRESETS[preset], **overrides})


def _parser(prog: str = "biasbench synthetic") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog,
                                description="Write small synthetic datasets in the real layouts of ImageNet val "
                                            "(+ReaL, meta.bin), ImageNet-C, -C-bar, -A, -R, -Sketch, -v2 and "
                                            "the model-vs-human cue-conflict and stylized sets.")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="test", help="size preset (default: test)")
    p.add_argument("--which", default=",".join(ALL), help="comma-separated datasets (default: all): "
                   + ", ".join(ALL) + "; short names c, cbar, a, r, sketch, v2")
    p.add_argument("--seed", type=int)
    p.add_argument("--classes", help="comma-separated ImageNet class indices")
    p.add_argument("--per-class", type=int)
    p.add_argument("--train-per-class", type=int)
    p.add_argument("--corrupt-per-class", type=int)
    p.add_argument("--mvh-per-category", type=int)
    p.add_argument("--c-corruptions", help="comma-separated ImageNet-C corruptions, or 'all'")
    p.add_argument("--cbar-corruptions", help="comma-separated ImageNet-C-bar corruptions, or 'all'")
    p.add_argument("--cbar-severity-folders", choices=("index", "value"),
                   help="C-bar severity folder names: 1..5 (index, default) or the parameter, e.g. 2.35 (value)")
    p.add_argument("--v2-zero-pad", action="store_true", help="ImageNet-v2 folders 000..999 instead of 0..999")
    p.add_argument("--stylized-layout", choices=("toolbox", "by-category"))
    p.add_argument("--val-layout", choices=("folders", "flat"))
    p.add_argument("--overwrite", action="store_true", help="replace datasets this generator wrote before")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "biasbench synthetic") -> int:
    args = _parser(prog).parse_args(argv)
    overrides = {k: v for k, v in dict(
        seed=args.seed, per_class=args.per_class, train_per_class=args.train_per_class,
        corrupt_per_class=args.corrupt_per_class, mvh_per_category=args.mvh_per_category,
        c_corruptions=args.c_corruptions, cbar_corruptions=args.cbar_corruptions,
        cbar_severity_folders=args.cbar_severity_folders, stylized_layout=args.stylized_layout,
        val_layout=args.val_layout).items()
        if v is not None}
    try:
        if args.classes is not None:
            try:
                overrides["classes"] = [int(c) for c in comma_list(args.classes)]
            except ValueError:
                raise ConfigError(f"--classes {args.classes!r}: expected comma-separated integers 0..999") from None
        t0 = time.perf_counter()
        paths = write_preset(args.out, args.preset, which=args.which, v2_zero_pad=args.v2_zero_pad,
                             overwrite=args.overwrite, **overrides)
    except UserError as e:
        return exit_status(e)
    counts = json.loads((Path(args.out) / MANIFEST).read_text())["datasets"]
    for name, path in paths.items():
        extra = f" (+{counts[name]['train_images']} train)" if counts[name].get("train_images") else ""
        print(f"{name:16s} {counts[name]['images']:6d} images{extra}  {path}")
    print(f"written in {time.perf_counter() - t0:.1f} s")
    return 0


"""Frequency cue-conflict stimuli: the released set unpacked, or a set generated from your own images.

Released (``extract``): the Hugging Face dataset ``paulgavrikov/frequency-cue-conflict`` is one
parquet split (columns ``image`` {bytes, path}, ``lf_label``, ``hf_label``); each image's bytes are
written unchanged to ``<lf>/<name>`` (its own file name where that names its two categories, else
``<row>_<lf>-<hf>.<ext>``), the layout ``biasbench.data.freq_cue_conflict`` reads.

Generated (``generate``; docs/datasets.md "Frequency cue-conflict"): hybrid images (Oliva, Torralba &
Schyns, 2006) from 16-class images, 224 x 224 in [0, 1]. Stimulus = clip(L(A) + (B - L(B)), 0, 1) with L
the spectral benchmark's square low-pass at cut-off ``c`` (``transforms.spectral``; default 0.1: the
square of half-width int(0.1 * 112) = 11 around DC, so A gives the frequencies below about 11 cycles per
image and B the rest), before its clip. Stimulus ``k`` (0-based) pairs low-frequency category
``k mod 16`` with high-frequency category ``(k mod 16 + 1 + (k div 16) mod 15) mod 16`` (category order
of ``CATEGORIES``): every low-frequency category gets n/16 stimuli and every ordered pair of different
categories appears once ``n >= 240`` (1,280, the released count, gives each pair 5 or 6 times). The
images of each category are shuffled by ``numpy.random.default_rng(seed)`` and taken in turn (reused
cyclically when a category has fewer). ``manifest.csv`` names both sources of every stimulus and the
share of its pixel values the clip changed.

    python -m biasbench.prepare.freq_cue_conflict --from DIR --out ROOT/freq-cue-conflict [--n 1280]
        [--cutoff 0.1] [--seed 0] [--condition cr]

``--from``: a model-vs-human 16-class dataset (``<category>/*.png`` or ``dnn/session-1/*.png``, e.g.
``colour`` with ``--condition cr``) or an ImageNet val folder (``<wnid>/*.JPEG``: the member classes of
the 16 categories, Resize(256)/CenterCrop(224)).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from ..data.decode import decode
from ..data.freq_cue_conflict import MANIFEST, parse_name
from ..data.imagelist import AS_IS, RESIZE_CROP
from ..errors import DatasetError, UserError
from ..metrics.sixteen_class import CATEGORIES, CATEGORY_INDICES
from ..transforms.spectral import lowpass_unclipped

DEFAULT_CUTOFF = 0.1
DEFAULT_N = 1280  # the released set's count
MANIFEST_COLUMNS = ("file", "lf_category", "hf_category", "lf_source", "hf_source", "cutoff", "seed", "clipped")
_WNID = re.compile(r"^n\d{8}$")


# ---------------------------------------------------------------------------- the recipe

def pair(k: int) -> tuple[int, int]:
    """(low-frequency, high-frequency) category index of stimulus ``k``."""
    lf = k % len(CATEGORIES)
    return lf, (lf + 1 + (k // len(CATEGORIES)) % (len(CATEGORIES) - 1)) % len(CATEGORIES)


def hybrid(a: torch.Tensor, b: torch.Tensor, cutoff: float = DEFAULT_CUTOFF) -> tuple[torch.Tensor, torch.Tensor]:
    """(stimulus clipped to [0, 1], stimulus before the clip) of image batches ``a`` (low band) and
    ``b`` (high band), float [B, 3, H, W] in [0, 1]."""
    raw = lowpass_unclipped(a, cutoff) + (b - lowpass_unclipped(b, cutoff))
    return raw.clamp(0.0, 1.0), raw


class _Bands:
    """The low band L(x) and high band x - L(x) of each source image, computed once per image and
    kept for the most recent ``keep`` images (a source recurs when a category has few images)."""

    def __init__(self, cutoff: float, keep: int = 256):
        self.cutoff, self.keep = cutoff, keep
        self.low: dict[Path, np.ndarray] = {}  # H x W x 3 float32
        self.high: dict[Path, np.ndarray] = {}

    def load(self, wanted: Sequence[Source]) -> None:
        new = list({s.path: s for s in wanted if s.path not in self.low}.values())
        if new:
            x = torch.stack([decode(s.path, s.preprocess) for s in new]).float() / 255
            low = lowpass_unclipped(x, self.cutoff)
            for s, xi, li in zip(new, x.permute(0, 2, 3, 1).numpy(), low.permute(0, 2, 3, 1).numpy()):
                self.low[s.path], self.high[s.path] = li, xi - li
        needed = {s.path for s in wanted}
        spare = [p for p in self.low if p not in needed]  # oldest first
        for path in spare[:max(len(self.low) - max(self.keep, len(needed)), 0)]:
            del self.low[path], self.high[path]


@dataclass(frozen=True)
class Source:
    path: Path
    preprocess: str
    name: str  # as written in the manifest: relative to the source folder


def _sources_from_mvh(root: Path, condition: str | None) -> dict[str, list[Source]]:
    from ..data.model_vs_human import list_files, parse_path

    out: dict[str, list[Source]] = {c: [] for c in CATEGORIES}
    for rel in list_files(root, root.name):
        info = parse_path(rel)
        if condition is None or info.condition.lower() == condition.lower():
            out[info.category].append(Source(root / rel, AS_IS, rel))
    return out


def _sources_from_imagenet(root: Path) -> dict[str, list[Source]]:
    from ..data.imagenet import imagenet_val

    val = imagenet_val(root, check=False)
    category_of = {i: c for c, members in CATEGORY_INDICES.items() for i in members}
    out: dict[str, list[Source]] = {c: [] for c in CATEGORIES}
    for rel, label in zip(val.files, val.labels.tolist()):
        if label in category_of:
            out[category_of[label]].append(Source(val.root / rel, RESIZE_CROP, rel))
    return out


def sources(root: str | os.PathLike, condition: str | None = None) -> dict[str, list[Source]]:
    """The 16-class images under ``root`` by category, sorted: ImageNet val (``<wnid>/`` folders, or
    ``val/<wnid>/``) or a model-vs-human dataset; a category without images is a DatasetError."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"--from {root} is not a folder; expected a model-vs-human 16-class dataset or ImageNet "
                           "val")
    base = root / "val" if (root / "val").is_dir() else root
    imagenet = any(_WNID.match(p.name) for p in base.iterdir() if p.is_dir())
    if imagenet and condition is not None:
        raise UserError(f"--condition {condition}: ImageNet val ({root}) has no conditions; it is for "
                        "model-vs-human datasets such as colour (cr)")
    found = _sources_from_imagenet(root) if imagenet else _sources_from_mvh(root, condition)
    empty = [c for c, s in found.items() if not s]
    if empty:
        what = "ImageNet val" if imagenet else f"model-vs-human folder{f' (condition {condition})' if condition else ''}"
        raise DatasetError(f"{root}: the {what} has no image of {', '.join(empty)}; every one of the 16 categories "
                           "needs at least one")
    return {c: sorted(s, key=lambda x: x.name) for c, s in found.items()}


def generate(source: str | os.PathLike, out: str | os.PathLike, *, n: int = DEFAULT_N,
             cutoff: float = DEFAULT_CUTOFF, seed: int = 0, condition: str | None = None,
             batch: int = 32) -> Path:
    """Write ``n`` stimuli and ``manifest.csv`` into ``out`` (created; it must not hold images yet)."""
    if n < 1:
        raise UserError(f"--n {n}: expected a number of stimuli >= 1 (1280 as released; >= 240 covers every pair)")
    out = Path(out).expanduser()
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; generate into a new folder (an existing set is never overwritten)")
    pools = sources(source, condition)
    rng = np.random.default_rng(seed)
    order = {c: [pools[c][i] for i in rng.permutation(len(pools[c]))] for c in CATEGORIES}
    number = {c: {s.name: i + 1 for i, s in enumerate(pools[c])} for c in CATEGORIES}  # 1-based, sorted order
    taken = {c: 0 for c in CATEGORIES}

    def draw(c: str) -> Source:
        s = order[c][taken[c] % len(order[c])]
        taken[c] += 1
        return s

    plan = []
    for k in range(n):
        lf, hf = (CATEGORIES[i] for i in pair(k))
        a, b = draw(lf), draw(hf)
        name = f"{lf}/{k + 1:04d}_{lf}{number[lf][a.name]}-{hf}{number[hf][b.name]}.png"
        plan.append((name, lf, hf, a, b))

    bands = _Bands(cutoff)
    tmp = Path(tempfile.mkdtemp(prefix=".freq-cue-conflict-", dir=out.parent if out.parent.is_dir() else None))
    rows = []
    try:
        for start in range(0, n, batch):
            chunk = plan[start:start + batch]
            bands.load([s for _, _, _, a, b in chunk for s in (a, b)])
            for name, lf, hf, a, b in chunk:
                raw = bands.low[a.path] + bands.high[b.path]  # H x W x 3
                stim = np.clip(raw, 0.0, 1.0)
                (tmp / lf).mkdir(exist_ok=True)
                Image.fromarray(np.rint(stim * 255).astype(np.uint8)).save(tmp / name, compress_level=1)
                rows.append((name, lf, hf, a.name, b.name, cutoff, seed, f"{float((raw != stim).mean()):.6f}"))
        with open(tmp / MANIFEST, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(MANIFEST_COLUMNS)
            writer.writerows(rows)
        if out.exists():
            out.rmdir()
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_manifest(path: str | os.PathLike) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------- the released set

def extract(parquet: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike) -> int:
    """Write the images of the released parquet file(s) into ``out/<lf>/<name>``; returns how many.
    ``out`` appears only when complete."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("reading the released frequency cue-conflict parquet needs pyarrow: pip install "
                        "pyarrow") from None
    files = [parquet] if isinstance(parquet, (str, os.PathLike)) else list(parquet)
    out = Path(out)
    tmp = Path(tempfile.mkdtemp(prefix=".freq-cue-conflict-", dir=out.parent))
    n = 0
    try:
        for file in files:
            try:
                table = pq.read_table(file)
            except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
                raise DatasetError(f"cannot read {file} as parquet: {e}") from None
            missing = {"image", "lf_label", "hf_label"} - set(table.column_names)
            if missing:
                raise DatasetError(f"{file} lacks column(s) {sorted(missing)}; expected the released columns image, "
                                   "lf_label, hf_label (Hugging Face paulgavrikov/frequency-cue-conflict)")
            for row in table.to_pylist():
                n += 1
                _write_row(row, n, tmp, file)
        if n == 0:
            raise DatasetError(f"{', '.join(map(str, files))} hold no rows; expected the released 1,280 stimuli")
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n


def _write_row(row: dict, index: int, tmp: Path, file) -> None:
    lf, hf = str(row["lf_label"]), str(row["hf_label"])
    if lf not in CATEGORIES or hf not in CATEGORIES:
        raise DatasetError(f"{file}, row {index}: labels {lf!r}/{hf!r} are not among the 16 categories")
    image = row["image"] or {}
    data = image.get("bytes") if isinstance(image, dict) else None
    if not data:
        raise DatasetError(f"{file}, row {index}: the image holds no bytes")
    name = PurePosixPath(str(image.get("path") or "")).name
    try:
        ok = bool(name) and parse_name(name) == (lf, hf)
    except DatasetError:
        ok = False
    if not ok:
        try:
            with Image.open(io.BytesIO(data)) as im:
                ext = {"JPEG": ".JPEG", "PNG": ".png"}.get(im.format, f".{(im.format or 'png').lower()}")
        except OSError as e:
            raise DatasetError(f"{file}, row {index}: the image bytes are not an image ({e})") from None
        name = f"{index:04d}_{lf}-{hf}{ext}"
    target = tmp / lf / name
    if target.exists():
        raise DatasetError(f"{file}: two rows are named {name}")
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(data)


def main(argv=None) -> int:
    import argparse

    from ..errors import exit_status

    p = argparse.ArgumentParser(prog="python -m biasbench.prepare.freq_cue_conflict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="source", required=True, help="model-vs-human 16-class dataset or ImageNet val")
    p.add_argument("--out", required=True, help="new folder for the stimuli (e.g. DATA_ROOT/freq-cue-conflict)")
    p.add_argument("--n", type=int, default=DEFAULT_N, help="number of stimuli (>= 240 covers every ordered pair)")
    p.add_argument("--cutoff", type=float, default=DEFAULT_CUTOFF,
                   help="share of the spectrum the low band keeps (the spectral benchmark's c)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--condition", default=None, help="model-vs-human condition to draw from (e.g. cr for colour)")
    args = p.parse_args(argv)
    try:
        out = generate(args.source, args.out, n=args.n, cutoff=args.cutoff, seed=args.seed, condition=args.condition)
    except UserError as e:
        return exit_status(e)
    print(f"wrote {args.n} frequency cue-conflict stimuli and {MANIFEST} to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""ImageNet val from the user's own download, arranged into ``<root>/imagenet/val/<wnid>/``.

ImageNet cannot be fetched without an account, so the user passes the official
``ILSVRC2012_img_val.tar`` (or the folder it was extracted to) and the labels: the devkit
``ILSVRC2012_devkit_t12.tar.gz`` (read by torchvision) or a label file with one wnid per
image (one per line in image order, or lines naming ``ILSVRC2012_val_<n>`` and its wnid,
e.g. Kaggle's ``LOC_val_solution.csv``). No second copy of the data is made: the tar's
members are streamed straight into their class folders, and an extracted folder is
hard-linked (copied only where the file system cannot link). The images collect in
``val.partial/`` and are moved to ``val/`` when all 50,000 are there; an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from ..data.imagenet import VAL_NAME
from ..data.synsets import wnid_to_index
from ..errors import DatasetError

log = logging.getLogger("biasbench")
N_VAL = 50_000
_WNID = re.compile(r"\bn\d{8}\b")
_VAL_ID = re.compile(r"ILSVRC2012_val_(\d{8})")


def labels_from_devkit(devkit: Path) -> list[str]:
    import torch
    from torchvision.datasets.imagenet import parse_devkit_archive

    with tempfile.TemporaryDirectory() as tmp:
        try:
            parse_devkit_archive(tmp, str(devkit))
            _, val_wnids = torch.load(Path(tmp) / "meta.bin", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable devkit is the same user problem
            raise DatasetError(f"--imagenet-devkit {devkit}: not a readable ILSVRC2012 devkit archive ({e})") from None
    return list(val_wnids)


def labels_from_file(path: Path) -> list[str]:
    """One wnid per val image (index 0 = ILSVRC2012_val_00000001) from a label file."""
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"--imagenet-val-labels {path}: cannot read it ({e})") from None
    out: dict[int, str] = {}
    for i, line in enumerate(ln for ln in lines if _WNID.search(ln)):
        m = _VAL_ID.search(line)
        out[int(m.group(1)) - 1 if m else i] = _WNID.search(line).group(0)
    if sorted(out) != list(range(N_VAL)):
        raise DatasetError(f"--imagenet-val-labels {path}: found wnids for {len(out)} images; expected one for "
                           f"each of the {N_VAL:,} val images (one wnid per line, or ILSVRC2012_val_<n> and its wnid)")
    known = wnid_to_index()
    bad = sorted({w for w in out.values() if w not in known})
    if bad:
        raise DatasetError(f"--imagenet-val-labels {path}: {bad[0]} is not an ImageNet-1k wnid")
    return [out[i] for i in range(N_VAL)]


def _index(name: str, where: str) -> int:
    m = VAL_NAME.match(name)
    if not m or not 1 <= int(m.group(1)) <= N_VAL:
        raise DatasetError(f"{where}: {name!r} is not an ImageNet val image (ILSVRC2012_val_<8 digits>.JPEG)")
    return int(m.group(1)) - 1


def arrange(source: Path, wnids: list[str], imagenet_root: Path, *, progress: bool = True) -> Path:
    """Put every val image of ``source`` (the tar or its extracted folder) into ``val/<wnid>/``."""
    from tqdm import tqdm

    partial = imagenet_root / "val.partial"
    partial.mkdir(parents=True, exist_ok=True)
    done = 0
    with tqdm(total=N_VAL, desc="ImageNet val", unit="img", disable=not progress) as bar:
        if source.is_dir():
            for f in sorted(source.iterdir()):
                if f.is_file() and VAL_NAME.match(f.name):
                    dst = partial / wnids[_index(f.name, str(source))] / f.name
                    if not dst.exists():
                        dst.parent.mkdir(exist_ok=True)
                        try:
                            os.link(f, dst)
                        except OSError:  # another file system, or no hard links: copy
                            shutil.copy2(f, dst)
                    done += 1
                    bar.update()
        else:
            try:
                with tarfile.open(source, "r:*") as tar:
                    for m in tar:
                        if m.isdir():
                            continue
                        if not m.isfile():
                            raise DatasetError(f"{source}: member {m.name!r} is a link or special file; the "
                                               "official val tar holds only images, so it is refused")
                        name = Path(m.name).name
                        dst = partial / wnids[_index(name, str(source))] / name
                        if not (dst.exists() and dst.stat().st_size == m.size):
                            dst.parent.mkdir(exist_ok=True)
                            tmp = dst.with_name(name + ".tmp")
                            with tar.extractfile(m) as src, open(tmp, "wb") as out:
                                shutil.copyfileobj(src, out, 1 << 20)
                            os.replace(tmp, dst)
                        done += 1
                        bar.update()
            except (tarfile.TarError, EOFError, OSError) as e:
                raise DatasetError(f"--imagenet-val-tar {source}: not a readable tar archive ({e})") from None
    if done != N_VAL:
        raise DatasetError(f"{source} holds {done:,} val images; expected {N_VAL:,} (the official "
                           f"ILSVRC2012_img_val.tar). The {done:,} are kept in {partial}")
    val = imagenet_root / "val"
    if val.exists():
        raise DatasetError(f"{val} already exists but is not a complete val set; move it away and run again "
                           f"(the arranged images are in {partial})")
    os.replace(partial, val)
    return val

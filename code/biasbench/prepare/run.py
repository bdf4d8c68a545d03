"""``prepare_data.py``: fetch, verify, extract and check every dataset under one root.

    python code/prepare_data.py --root /data --datasets all            # or a,r,v2,sketch,c,real,mvh
    python code/prepare_data.py --root /data --imagenet-val-tar ILSVRC2012_img_val.tar \\
        --imagenet-devkit ILSVRC2012_devkit_t12.tar.gz                  # ImageNet val -> /data/imagenet/val/
    python code/prepare_data.py --root /data --datasets all --dry-run  # what would be fetched, sizes, free space
    python code/prepare_data.py --root /data --datasets cbar           # generate ImageNet-C-bar from ImageNet val

The folders are those ``run_suite.py --data-root /data`` reads. One line per dataset says
how many images were found, how many the benchmark expects, and OK. A dataset already in
place and passing its layout check is left alone ("nothing to do"). Offline
(``--offline`` or ``$BIASBENCH_OFFLINE``) every missing archive is named with its URL
and the folder it goes to. Exit status 1 when any dataset failed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from .. import paths
from ..errors import DatasetError, UserError, exit_status
from ..files import safe_extract
from ..flags import comma_list
from . import fetch as dl
from . import imagenet_val
from .sources import DATASETS, Archive, Dataset

ORDER = tuple(DATASETS)
GENERATED = ("cbar",)  # made here from ImageNet val rather than downloaded (biasbench/prepare/cbar.py)


def _parse_datasets(text: str) -> list[str]:
    items = comma_list(text)
    if items == ["all"]:
        return list(ORDER + GENERATED)
    bad = [t for t in items if t not in DATASETS and t not in ("val",) + GENERATED]
    if bad or not items:
        raise UserError(f"--datasets: unknown dataset {bad[0] if bad else text!r}; expected 'all' or a comma list "
                        f"of {', '.join(ORDER + GENERATED)}, val")
    return [k for k in ("val",) + ORDER + GENERATED if k in items]


def _gb(n: int | None) -> str:
    return "size unknown" if n is None else f"{n / 1e9:.2f} GB"


def _missing(ds: Dataset, root: Path) -> list[Archive]:
    return [a for a in ds.archives if not all(t.exists() for t in a.targets(root))]


def _summary(ds_title: str, found: int, expected: int, note: str = "") -> str:
    return f"{ds_title}: {found:,} images found, {expected:,} expected, OK{note}"


def _install(archive: Archive, path: Path, root: Path) -> None:
    """Move the folders (or the plain file) of a verified archive into place, each only when complete."""
    if archive.plain:
        target = root / archive.place[0][1]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target.with_name(target.name + ".part"))
        os.replace(target.with_name(target.name + ".part"), target)
        return
    tmp = dl.downloads_dir(root) / f".extract-{archive.filename}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        safe_extract(path, tmp)
        tops = [p for p in tmp.iterdir() if not p.name.startswith(".")]
        for candidates, dst in archive.place:
            target = root / dst
            if target.exists():
                continue
            found = next((tmp / c for c in candidates if (tmp / c).is_dir()), None)
            if found is None and len(archive.place) == 1 and len(tops) == 1 and tops[0].is_dir():
                found = tops[0]  # a release that renamed its top folder
            if found is None:
                raise DatasetError(f"{path} holds none of {', '.join(c + '/' for c in candidates)}; is it the "
                                   f"right archive ({archive.shown_url})?")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(found, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prepare(ds: Dataset, root: Path, *, offline: bool, dry_run: bool, progress: bool, keep: bool,
            out=print) -> bool:
    """Bring one dataset into place; prints its summary line and returns whether it is OK."""
    missing = _missing(ds, root)
    if not missing:
        found, expected = ds.check(root)
        out(_summary(ds.title, found, expected, " (already in place; nothing to do)"))
        return True
    have = {a.filename for a in missing if (dl.downloads_dir(root) / a.filename).exists()}
    if dry_run or offline:
        verb = "would fetch" if dry_run else "missing (offline)"
        for a in missing:
            size = a.size if offline else dl.remote_size(a)
            src = f"{dl.downloads_dir(root) / a.filename} (already downloaded)" if a.filename in have else a.shown_url
            dests = ", ".join(f"{t}{'' if a.plain else '/'}" for t in a.targets(root) if not t.exists())
            out(f"{ds.title}: {verb} {src} [{_gb(size)}] -> {dests}")
        if offline and len(have) < len(missing):
            out(f"{ds.title}: download the archives above into {dl.downloads_dir(root)}/ (keeping their names) "
                "and run again, or extract them so that the folders named exist")
            return False
        if dry_run:
            return True
    for a in missing:
        if a.filename not in have:
            size = dl.remote_size(a)
            dl.check_space(root, 2 * size if size else 0, f"{ds.title} ({a.filename}, {_gb(size)})")
        path = dl.fetch(a, root, progress=progress, offline=offline)
        _install(a, path, root)
        if not keep:
            path.unlink()
    found, expected = ds.check(root)
    out(_summary(ds.title, found, expected))
    return True


def prepare_val(root: Path, args, out=print) -> bool:
    from ..data.imagenet import imagenet_val as read_val

    inet = root / "imagenet"
    if (inet / "val").is_dir():
        n = len(read_val(inet))
        out(_summary("ImageNet val", n, imagenet_val.N_VAL, " (already in place; nothing to do)"))
        return True
    if not args.imagenet_val_tar:
        raise UserError(f"ImageNet val is not in {inet}/val/ and cannot be downloaded without an account: pass "
                        "--imagenet-val-tar ILSVRC2012_img_val.tar (from image-net.org) and --imagenet-devkit "
                        "ILSVRC2012_devkit_t12.tar.gz or --imagenet-val-labels FILE")
    source = Path(args.imagenet_val_tar).expanduser()
    if not source.exists():
        raise UserError(f"--imagenet-val-tar {source} does not exist (expected ILSVRC2012_img_val.tar or its "
                        "extracted folder)")
    if args.imagenet_val_labels:
        wnids = imagenet_val.labels_from_file(Path(args.imagenet_val_labels).expanduser())
    elif args.imagenet_devkit:
        wnids = imagenet_val.labels_from_devkit(Path(args.imagenet_devkit).expanduser())
    else:
        raise UserError("--imagenet-val-tar needs the labels: --imagenet-devkit ILSVRC2012_devkit_t12.tar.gz or "
                        "--imagenet-val-labels FILE")
    if args.dry_run:
        out(f"ImageNet val: would arrange {source} into {inet}/val/<wnid>/ (hard links or streamed from the tar)")
        return True
    imagenet_val.arrange(source, wnids, inet, progress=args.progress)
    out(_summary("ImageNet val", len(read_val(inet)), imagenet_val.N_VAL))
    return True


def prepare_cbar(root: Path, args, out=print) -> bool:
    """Generate ImageNet-C-bar (10 corruptions x 5 parameters) from ROOT/imagenet/val into ROOT/imagenet-cbar."""
    from ..data import corruptions
    from ..data.imagenet import imagenet_val as read_val
    from . import cbar

    title, inet, dst = "ImageNet-C-bar", root / "imagenet", root / "imagenet-cbar"
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers is {args.workers}; expected a number of processes >= 1")
    n_cells = len(corruptions.IMAGENET_CBAR) * len(corruptions.SEVERITIES)
    if dst.is_dir():
        cbar.claim(dst, write=not args.dry_run)  # files of an older recipe: say which folder to regenerate
    if args.check_dataset and dst.is_dir():
        try:
            cells = corruptions.imagenet_cbar(dst)
        except UserError:
            pass  # incomplete: generate what is missing
        else:
            found = sum(len(v) for v in cells.values())
            out(_summary(title, found, found, " (already in place; nothing to do)"))
            return True
    if not (inet / "val").is_dir():
        if args.dry_run:
            out(f"{title}: would be generated from ImageNet val into {dst}/ once {inet}/val/ is in place")
            return True
        raise UserError(f"it is generated from ImageNet val, which is not in {inet}/val/: arrange it first with "
                        "--imagenet-val-tar ILSVRC2012_img_val.tar --imagenet-devkit ILSVRC2012_devkit_t12.tar.gz")
    val = read_val(inet, check=args.check_dataset)
    if args.dry_run:
        out(f"{title}: would generate {len(val) * n_cells:,} files from {len(val):,} ImageNet val images into "
            f"{dst}/ on {args.workers or os.cpu_count()} processes")
        return True
    written = cbar.generate(val, dst, workers=args.workers, progress=args.progress)
    cells = corruptions.imagenet_cbar(dst, check=args.check_dataset)
    found = sum(len(v) for v in cells.values())
    out(_summary(title, found, len(val) * n_cells, "" if written else " (already in place; nothing to do)"))
    return True


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1", "yes")


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="data root: the folder run_suite.py --data-root reads")
    p.add_argument("--datasets", default=None,
                   help=f"'all' or a comma list of {', '.join(ORDER + GENERATED)}, val (default: all; only val when "
                        "--imagenet-val-tar is given)")
    p.add_argument("--dry-run", "--dry_run", action="store_true", help="list what would be fetched and stop")
    p.add_argument("--offline", action="store_true", help="no network: name every missing piece and its URL")
    p.add_argument("--keep-archives", action="store_true", help="keep the downloaded archives in ROOT/.downloads/")
    p.add_argument("--imagenet-val-tar", help="your ILSVRC2012_img_val.tar (or the folder it was extracted to)")
    p.add_argument("--imagenet-devkit", help="ILSVRC2012_devkit_t12.tar.gz, for the val labels")
    p.add_argument("--imagenet-val-labels", help="a val label file instead of the devkit: one wnid per image")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--workers", type=int, default=None,
                   help="processes generating ImageNet-C-bar (default: one per CPU core)")
    p.add_argument("--check-dataset", "--check_dataset", type=_bool, default=True, metavar="true|false",
                   help="false: generate ImageNet-C-bar from a partial ImageNet val (a deliberate subset) and "
                        "skip the 1000 classes x 50 check of the result")
    args = p.parse_args(argv)
    root = Path(args.root).expanduser()
    offline = args.offline or paths.offline()
    failed = 0
    try:
        keys = _parse_datasets(args.datasets or ("val" if args.imagenet_val_tar else "all"))
        if args.imagenet_val_tar and "val" not in keys:
            keys.insert(0, "val")
        if args.dry_run:
            root.mkdir(parents=True, exist_ok=True)
            print(f"{root}: {shutil.disk_usage(root).free / 1e9:.1f} GB free")
    except UserError as e:
        return exit_status(e)
    for key in keys:
        try:
            if key == "val":
                ok = prepare_val(root, args)
            elif key == "cbar":
                ok = prepare_cbar(root, args)
            else:
                ok = prepare(DATASETS[key], root, offline=offline, dry_run=args.dry_run, progress=args.progress,
                             keep=args.keep_archives)
        except UserError as e:
            title = {"val": "ImageNet val", "cbar": "ImageNet-C-bar"}.get(key) or DATASETS[key].title
            print(f"{title}: FAILED: {e}")
            ok = False
        failed += not ok
    return 1 if failed else 0

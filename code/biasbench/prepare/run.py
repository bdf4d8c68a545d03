"""``prepare_data.py``: fetch, verify, extract and check every dataset under one root.

    python code/prepare_data.py --root /data --datasets all            # or a,r,v2,sketch,c,real,mvh
    python code/prepare_data.py --root /data --imagenet-val-tar ILSVRC2012_img_val.tar \\
        --imagenet-devkit ILSVRC2012_devkit_t12.tar.gz                  # ImageNet val -> /data/imagenet/val/
    python code/prepare_data.py --root /data --datasets all --dry-run  # what would be fetched, sizes, free space
    python code/prepare_data.py --root /data --datasets cbar           # generate ImageNet-C-bar from ImageNet val
    python code/prepare_data.py --root /data --datasets freq-cue-conflict --generate-from /data/imagenet/val
                                                    # generate frequency cue-conflict stimuli instead of downloading

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
from ..errors import DatasetError, IncompleteDataset, UserError, exit_status
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


def _extract(archive: Archive, path: Path, root: Path, stage: Path) -> None:
    """Extract a verified archive and move its folders (or the plain file) to ``stage/<folder>``, where the
    dataset is checked before anything reaches ``root`` (``_install``)."""
    if archive.plain:
        target = stage / archive.place[0][1]
        target.parent.mkdir(parents=True, exist_ok=True)
        if archive.convert is not None:
            archive.convert(path, target)
            return
        shutil.copyfile(path, target)
        return
    tmp = dl.downloads_dir(root) / f".extract-{archive.filename}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        safe_extract(path, tmp)
        tops = [p for p in tmp.iterdir() if not p.name.startswith(".")]
        for candidates, dst in archive.place:
            if (root / dst).exists():
                continue
            found = next((tmp / c for c in candidates if (tmp / c).is_dir()), None)
            if found is None and len(archive.place) == 1 and len(tops) == 1 and tops[0].is_dir():
                found = tops[0]  # a release that renamed its top folder
            if found is None:
                raise DatasetError(f"{path} holds none of {', '.join(c + '/' for c in candidates)}; is it the "
                                   f"right archive ({archive.shown_url})?")
            (stage / dst).parent.mkdir(parents=True, exist_ok=True)
            os.replace(found, stage / dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _install(ds: Dataset, fetched: list, root: Path) -> tuple[int, int]:
    """Extract the dataset's fetched archives into a staging folder beside them, check the dataset there
    (counts against what the release promises) and only then move its folders into place. An archive that
    extracts to an incomplete dataset (e.g. a tar truncated exactly at a member boundary, which reads without
    error) moves nothing; the archives stay for the caller to keep or delete."""
    stage = dl.downloads_dir(root) / f".stage-{ds.key}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        for archive, got in fetched:
            _extract(archive, got.path, root, stage)
        for target in (t for a in ds.archives for t in a.targets(root)):
            if target.exists():  # already in place from an earlier run: seen by the check, not moved
                (stage / target.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
                (stage / target.relative_to(root)).symlink_to(target.resolve())
        try:
            counts = ds.check(stage)
        except DatasetError as e:
            finding = e.finding if isinstance(e, IncompleteDataset) else str(e)
            names = ", ".join(str(got.path) for _, got in fetched)
            raise DatasetError(
                f"{names} extracted to an incomplete dataset, so nothing was moved into {root}: "
                f"{finding.replace(str(stage), str(root))}. The archive is damaged or truncated (an interrupted "
                "download or copy): delete it and run again") from None
        for archive, _ in fetched:
            for target in archive.targets(root):
                staged = stage / target.relative_to(root)
                if staged.exists() and not staged.is_symlink():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staged, target)
        return counts
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def prepare(ds: Dataset, root: Path, *, offline: bool, dry_run: bool, progress: bool, keep: bool,
            out=print) -> bool:
    """Bring one dataset into place; prints its summary line and returns whether it is OK."""
    missing = _missing(ds, root)
    offline = offline or (any(a.hub for a in missing) and paths.hub_offline())
    if not missing:
        try:
            found, expected = ds.check(root)
        except IncompleteDataset as e:  # never suggest --check_dataset false for a dataset made here
            raise DatasetError(f"{e.finding}. Delete the folder(s) of {ds.title} under {root} and run "
                               "prepare_data.py again to fetch it whole") from None
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
    fetched = []
    for a in missing:
        if a.filename not in have:
            size = dl.remote_size(a)
            dl.check_space(root, 2 * size if size else 0, f"{ds.title} ({a.filename}, {_gb(size)})")
        fetched.append((a, dl.fetch(a, root, progress=progress, offline=offline)))
    found, expected = _install(ds, fetched, root)
    for a, got in fetched:  # only now is each archive known good: record its hash, then delete it
        dl.confirm(a, root, got)
        if not keep:
            got.path.unlink()
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


def prepare_freq_generated(root: Path, args, out=print) -> bool:
    """Generate the frequency cue-conflict stimuli from --generate-from into ROOT/freq-cue-conflict."""
    from ..data import freq_cue_conflict as fcc
    from . import freq_cue_conflict as gen

    title, dst = DATASETS["freq-cue-conflict"].title, root / fcc.SUBDIR
    if dst.is_dir() and any(dst.iterdir()):
        found, expected = DATASETS["freq-cue-conflict"].check(root)
        out(_summary(title, found, expected, " (already in place; nothing to do)"))
        return True
    if args.dry_run:
        out(f"{title}: would generate {gen.DEFAULT_N} stimuli from {args.generate_from} into {dst}/")
        return True
    gen.generate(args.generate_from, dst, n=gen.DEFAULT_N, condition=args.freq_condition)
    found, expected = DATASETS["freq-cue-conflict"].check(root)
    out(_summary(title, found, expected, f" (generated from {args.generate_from})"))
    return True


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1", "yes")


def _forget(root: Path, names: list[str]) -> int:
    ledger = dl.ledger(root)
    try:
        known = [n for n in names if ledger.get(n) is not None]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UserError(f"--forget {unknown[0]}: no such entry in {ledger.path}; its entries: "
                            f"{', '.join(ledger.entries()) or 'none'}")
        for n in known:
            ledger.forget(n)
            print(f"{n}: recorded SHA-256 forgotten; it is recorded again once the archive extracts to a "
                  "complete dataset")
    except UserError as e:
        return exit_status(e)
    return 0


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
    p.add_argument("--generate-from", "--generate_from", default=None, metavar="DIR",
                   help="freq-cue-conflict: generate the stimuli (1,280 hybrid images, cut-off 0.1, seed 0; "
                        "python -m biasbench.prepare.freq_cue_conflict for other settings) from a model-vs-human "
                        "16-class dataset or ImageNet val instead of downloading the released set")
    p.add_argument("--freq-condition", "--freq_condition", default=None,
                   help="with --generate-from a model-vs-human dataset: the condition to draw from (e.g. cr)")
    p.add_argument("--check-dataset", "--check_dataset", type=_bool, default=True, metavar="true|false",
                   help="false: generate ImageNet-C-bar from a partial ImageNet val (a deliberate subset) and "
                        "skip the 1000 classes x 50 check of the result")
    p.add_argument("--forget", metavar="ARCHIVE", action="append", default=[],
                   help="forget the SHA-256 recorded for this archive file name in ROOT/.downloads/"
                        f"{dl.LEDGER} (e.g. after replacing a damaged copy by hand); repeatable")
    args = p.parse_args(argv)
    root = Path(args.root).expanduser()
    if args.forget:
        return _forget(root, args.forget)
    offline = args.offline or paths.offline()
    failed = 0
    try:
        keys = _parse_datasets(args.datasets or ("val" if args.imagenet_val_tar else "all"))
        if args.generate_from and "freq-cue-conflict" not in keys:
            raise UserError("--generate-from makes the frequency cue-conflict stimuli: add --datasets freq-cue-conflict")
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
            elif key == "freq-cue-conflict" and args.generate_from:
                ok = prepare_freq_generated(root, args)
            else:
                ok = prepare(DATASETS[key], root, offline=offline, dry_run=args.dry_run, progress=args.progress,
                             keep=args.keep_archives)
        except UserError as e:
            title = {"val": "ImageNet val", "cbar": "ImageNet-C-bar"}.get(key) or DATASETS[key].title
            print(f"{title}: FAILED: {e}")
            ok = False
        failed += not ok
    return 1 if failed else 0

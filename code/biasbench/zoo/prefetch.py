"""Fill the checkpoint cache on a machine with network (e.g. a cluster's login node), one status line per file.

    biasbench prefetch --models tv_resnet50,robust_resnet50_l2_eps3 [--cache-dir DIR]
    biasbench prefetch --category adversarial_training
    biasbench prefetch --all

Prints one line per file: cached+verified, downloaded, or FAILED with the reason.
Exit status 1 when any file failed, 2 on a usage error. (``code/prefetch.py`` is the same.)
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

from ..errors import ModelError
from . import robustbench
from .download import fetch, forget, relpath
from .loader import LocalModels, get_entry, load_model


def prefetch_models(names: Sequence[str], *, local: LocalModels | None = None,
                    cache_dir: str | os.PathLike | None = None, relock: bool = False, check: bool = False,
                    progress: bool = True, out: Callable[[str], None] = print) -> int:
    """Fetch and verify every file of ``names`` (local checkpoints: named in ``local``); print
    ``status  model  file`` lines; return the failure count.

    relock: forget the recorded hashes (and cached files) first, accepting a changed upstream file.
    check: afterwards load each model (offline, CPU) to confirm its checkpoint converts and fits.
    """
    failed = 0
    for name in names:
        if robustbench.is_robustbench(name):  # robustbench downloads into its layout under the cache
            failed += not _prefetch_robustbench(name, cache_dir, out)
            continue
        entry = get_entry(name, local)
        ok = True
        for src in entry.effective_sources():
            if not src.has_file:
                out(f"no file          {name}  {src.describe()}")
                continue
            where = relpath(src) if src.kind != "file" else src.location
            try:
                if relock and src.kind != "file":
                    forget(src, cache_dir)
                got = fetch(src, cache_dir=cache_dir, model=name, progress=progress)
                out(f"{got.status:<16} {name}  {where}  sha256={(got.sha256 or '')[:16]}")
            except ModelError as e:
                ok = False
                out(f"FAILED           {name}  {where}: {e}")
        if ok and check:
            try:
                load_model(name, "cpu", local=local, cache_dir=cache_dir, offline=True)
                out(f"loads            {name}")
            except ModelError as e:
                ok = False
                out(f"FAILED           {name}  (loading): {e}")
        failed += not ok
    return failed


def _prefetch_robustbench(name: str, cache_dir, out: Callable[[str], None]) -> bool:
    try:
        robustbench.load(name, cache_dir, offline=False)
    except ModelError as e:
        out(f"FAILED           {name}: {e}")
        return False
    files = robustbench.checkpoint_files(name, cache_dir)
    out(f"cached           {name}  {', '.join(map(str, files)) or '(robustbench pretrained weights)'}")
    return True


def main(argv: Sequence[str] | None = None, prog: str = "biasbench prefetch") -> int:
    from ..errors import UserError, exit_status
    from .loader import list_models, resolve_models

    p = argparse.ArgumentParser(prog=prog, allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--models", "--model", help="comma-separated names, categories or paper48 (see checkpoints.md)")
    which.add_argument("--category", help="every model of one category, e.g. adversarial_training or extra")
    which.add_argument("--all", action="store_true", help="every model of the registry")
    p.add_argument("--cache-dir", "--cache_dir", default=None, help="checkpoint cache (default $BIASBENCH_CACHE)")
    p.add_argument("--relock", action="store_true",
                   help="forget the recorded SHA-256 of these files and fetch them again (accepts an upstream change)")
    p.add_argument("--check", action="store_true", help="also load each model once to confirm its checkpoint fits")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    args = p.parse_args(argv)
    try:
        local = LocalModels()  # the file:// checkpoints named by --models
        if args.all:
            names = list_models()
        elif args.category:
            names = list_models(args.category)
        else:
            names = resolve_models(args.models, local, cache_dir=args.cache_dir)
        failed = prefetch_models(names, local=local, cache_dir=args.cache_dir, relock=args.relock, check=args.check,
                                 progress=args.progress)
    except UserError as e:
        return exit_status(e)
    print(f"{len(names) - failed} of {len(names)} models ready" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0

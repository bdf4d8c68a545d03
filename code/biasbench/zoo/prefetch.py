"""Fill the checkpoint cache ahead of time (``code/prefetch.py``), one status line per file."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from ..errors import ModelError
from .download import fetch, forget, relpath
from . import robustbench
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

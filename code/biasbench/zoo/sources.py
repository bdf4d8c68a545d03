"""What the run record says of each zoo model: architecture, normalisation, and each source with the
SHA-256 of its file (docs/results.md "Run records")."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_sources(models: Iterable[str], local=None, cache_dir=None) -> dict[str, dict]:
    """Each zoo model's architecture, normalisation and sources; a source's SHA-256 is the local file's own,
    or the one the download ledger recorded when the file was fetched (None: not fetched, or nothing to
    fetch). A model the zoo does not know (an ``nn.Module`` given to ``biasbench.evaluate``) is marked so."""
    from ..errors import ModelError
    from . import download
    from .loader import get_entry

    ledger = download.ledger(cache_dir)
    out: dict[str, dict] = {}
    for name in models:
        try:
            entry = get_entry(name, local, cache_dir=cache_dir)
        except ModelError:
            out[name] = {"source": "in-memory module (biasbench.evaluate)"}
            continue
        sources = []
        for s in entry.effective_sources():
            row = {"kind": s.kind, "location": s.location, "file": s.filename, "describe": s.describe(),
                   "sha256": None}
            if s.kind == "file" and Path(s.location).is_file():
                row["sha256"] = sha256_file(s.location)
            elif s.has_file:
                try:
                    row["sha256"] = (ledger.get(download.relpath(s)) or {}).get("sha256")
                except ModelError:
                    pass
            sources.append(row)
        out[name] = {"architecture": entry.architecture, "mean": list(entry.mean), "std": list(entry.std),
                     "normalisation": entry.norm_source, "sources": sources}
    return out

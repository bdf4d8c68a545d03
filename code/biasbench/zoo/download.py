"""Checkpoint files in the cache: where each source lives, and fetching it through ``biasbench.download``.

Layout under ``<cache>/checkpoints/``: ``hf/<repo>/<file>`` (Hugging Face and
timm tags), ``url/<host>/<path>`` (plain URLs, torchvision weights),
``gdrive/<id>`` (Google Drive), and ``checkpoints.lock.json``, the ledger that
records the SHA-256 and size of every file when it is first downloaded. The
transfer, resume, retries, hash checks and offline mode are ``biasbench.download``'s
(docs/models.md "Downloads and cache"); this module maps a registry ``Source`` onto them and
words the messages for checkpoints (the ``prefetch.py`` command, ``--relock``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .. import download, paths
from ..errors import DownloadError, ModelError
from .registry import Source, timm_hub_id, torchvision_url

LOCK_NAME = "checkpoints.lock.json"
_TIMM_FILE = "model.safetensors"

Fetched = download.Fetched


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    return paths.cache_dir(cache_dir) / "checkpoints"


def ledger(cache_dir: str | os.PathLike | None = None) -> download.Ledger:
    """``<cache>/checkpoints/checkpoints.lock.json``."""
    return download.Ledger(cache_root(cache_dir), LOCK_NAME)


def _safe_parts(parts: list[str], what: str) -> str:
    if not parts or any(p in ("", ".", "..") for p in parts):
        raise ModelError(f"{what}: cannot derive a cache path from it")
    return "/".join(parts)


def hf_location(source: Source) -> tuple[str, str]:
    """(repo id, filename) of an hf or timm source."""
    if source.kind == "timm":
        return timm_hub_id(source.location), _TIMM_FILE
    return source.location, source.filename or ""


def source_url(source: Source) -> str:
    return torchvision_url(source.location) if source.kind == "torchvision" else source.location


def relpath(source: Source) -> str:
    """Where ``source`` lives under the checkpoint cache."""
    if source.kind in ("hf", "timm"):
        repo, filename = hf_location(source)
        return "hf/" + _safe_parts(repo.split("/") + filename.split("/"), f"hf {repo}/{filename}")
    if source.kind in ("url", "torchvision"):
        url = source_url(source)
        u = urlsplit(url)
        parts = [u.netloc] + [unquote(p) for p in u.path.split("/") if p]
        return "url/" + _safe_parts(parts, url)
    if source.kind == "gdrive":
        return "gdrive/" + _safe_parts([source.location], f"gdrive {source.location}")
    raise ModelError(f"a {source.kind} source has no cache file")


def remote(source: Source) -> download.Remote:
    """What ``biasbench.download`` transfers for ``source``."""
    if source.kind in ("hf", "timm"):
        repo, filename = hf_location(source)
        return download.Remote("hf", repo, filename, shown=source.describe())
    if source.kind in ("url", "torchvision"):
        return download.Remote("url", source_url(source), shown=source.describe())
    if source.kind == "gdrive":
        return download.Remote("gdrive", source.location, shown=source.describe())
    raise ModelError(f"a {source.kind} source has no cache file")


def prefetch_command(model: str, cache_dir: str | os.PathLike | None) -> str:
    return f"python code/prefetch.py --models {model or 'NAME'} --cache-dir {paths.cache_dir(cache_dir)}"


def fetch(source: Source, *, cache_dir: str | os.PathLike | None = None, offline: bool | None = None,
          model: str = "", progress: bool = True) -> Fetched:
    """The verified local file of ``source``, downloading it first when needed (``biasbench.download.fetch``)."""
    if source.kind == "file":
        path = Path(source.location).expanduser()
        if not path.is_file():
            raise ModelError(f"{path}: checkpoint file not found")
        return Fetched(path, "local file")
    rel = relpath(source)
    command = prefetch_command(model, cache_dir)
    try:
        return download.fetch(remote(source), cache_root(cache_dir) / rel, ledger(cache_dir), rel,
                              who=model or source.describe(), offline=offline, progress=progress,
                              hint=f"On a machine with network run `{command}`",
                              relock=f"If the change is expected, {command} --relock")
    except DownloadError as e:
        raise ModelError(str(e)) from None


def forget(source: Source, cache_dir: str | os.PathLike | None = None) -> None:
    """Drop the recorded hash of ``source`` and its cached file (``prefetch.py --relock``)."""
    rel = relpath(source)
    with contextlib.suppress(FileNotFoundError):
        (cache_root(cache_dir) / rel).unlink()
    ledger(cache_dir).forget(rel)

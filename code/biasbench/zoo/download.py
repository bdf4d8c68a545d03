"""Checkpoint downloads into the cache, with integrity checks.

Layout under ``<cache>/checkpoints/``: ``hf/<repo>/<file>`` (Hugging Face and
timm tags), ``url/<host>/<path>`` (plain URLs, torchvision weights),
``gdrive/<id>`` (Google Drive), and ``checkpoints.lock.json``, which records
the SHA-256 and size of every file when it is first downloaded.

- A download goes to a temporary ``.part`` file (URL downloads resume it with an
  HTTP Range request) and is renamed into place only when complete, so a partial
  file never counts as a download.
- Transient failures are retried with exponential backoff; a permanent one
  (404, missing repository, Google Drive refusal) fails at once with the reason.
- Every use re-hashes the file and compares it with the lock file. A truncated or
  tampered file is deleted and fetched again (or refused offline), never loaded;
  a fresh download must match the recorded hash too (``prefetch.py --relock``
  accepts an upstream change).
- A file found in place without a record (e.g. downloaded by hand where gdown is
  blocked) is adopted: its hash is recorded on first use.
- Offline (``$BIASBENCH_OFFLINE`` or ``offline=True``) nothing touches the network;
  a missing file raises ModelError naming it, its source and the prefetch command.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

from filelock import FileLock

from .. import paths
from ..errors import ModelError
from .registry import Source, timm_hub_id, torchvision_url

log = logging.getLogger("biasbench")

RETRIES = 4  # attempts per file
BACKOFF_S = 2.0  # wait before retry k: BACKOFF_S * 2**(k-1)
TIMEOUT_S = 60.0  # socket timeout of URL downloads
CHUNK = 1 << 20
LOCK_NAME = "checkpoints.lock.json"
_TIMM_FILE = "model.safetensors"


@dataclass(frozen=True)
class Fetched:
    path: Path
    status: str  # "cached+verified", "cached (hash recorded now)", "downloaded", "local file"
    sha256: str | None = None


class _Permanent(Exception):
    """A failure that retrying cannot fix."""


class _Unreachable(_Permanent):
    """The server's name does not resolve or it refuses the connection: no network here (README "Downloads")."""


def _unreachable_reason(err: BaseException) -> str | None:
    """'name does not resolve' / 'connection refused' when ``err`` (or what caused it) says so, else None.
    Timeouts, 5xx and connections dropped mid-file are transient and retried; these two never pass."""
    seen: set[int] = set()
    stack = [err]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror) or "NameResolution" in type(e).__name__:
            return "name does not resolve"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        stack += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        stack += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    return None


def _check_reachable(url: str) -> None:
    """Raise _Unreachable at once when ``url``'s host does not resolve or refuses connections (libraries such
    as huggingface_hub would otherwise retry for minutes); other failures are left to the download."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=TIMEOUT_S).close()
    except OSError as e:
        reason = _unreachable_reason(e)
        if reason:
            raise _Unreachable(f"{parts.hostname}:{port}: {reason}") from None


@contextlib.contextmanager
def _quiet_hub():
    """huggingface_hub logs each of its own retries (through its handler and the root's: every line twice);
    our loop reports retries once."""
    hub = logging.getLogger("huggingface_hub")
    level = hub.level
    hub.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub.setLevel(level)


class _Incomplete(Exception):
    """The connection ended before the announced size arrived."""


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    return paths.cache_dir(cache_dir) / "checkpoints"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


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


# --- the lock file ----------------------------------------------------------------------------------


class Ledger:
    """``checkpoints.lock.json``: relative path -> sha256, size, source, time. Written atomically under a
    file lock, so concurrent processes never lose each other's records."""

    def __init__(self, root: Path, name: str = LOCK_NAME):
        self.path = root / name
        self._lock = FileLock(str(self.path) + ".lock")

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"version": 1, "files": {}}
        except (OSError, json.JSONDecodeError) as e:
            raise ModelError(f"{self.path}: unreadable checkpoint lock file ({e}); delete it to re-record "
                             "the hashes of the cached files on their next use") from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise ModelError(f"{self.path}: not a checkpoint lock file (expected {{'files': {{...}}}})")
        return data

    def get(self, rel: str) -> dict | None:
        return self._read()["files"].get(rel)

    def _update(self, fn: Callable[[dict], None]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            data = self._read()
            fn(data["files"])
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".lock-", suffix=".json")
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)

    def record(self, rel: str, sha: str, size: int, source: str) -> None:
        entry = {"sha256": sha, "size": size, "source": source,
                 "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self._update(lambda files: files.__setitem__(rel, entry))

    def forget(self, rel: str) -> None:
        self._update(lambda files: files.pop(rel, None))


# --- fetching ---------------------------------------------------------------------------------------


def prefetch_command(model: str, cache_dir: str | os.PathLike | None) -> str:
    return f"python code/prefetch.py --models {model or 'NAME'} --cache-dir {paths.cache_dir(cache_dir)}"


def fetch(source: Source, *, cache_dir: str | os.PathLike | None = None, offline: bool | None = None,
          model: str = "", progress: bool = True) -> Fetched:
    """The verified local file of ``source``, downloading it first when needed (see the module docstring)."""
    if source.kind == "file":
        path = Path(source.location).expanduser()
        if not path.is_file():
            raise ModelError(f"{path}: checkpoint file not found")
        return Fetched(path, "local file")
    offline = paths.offline() if offline is None else offline
    root = cache_root(cache_dir)
    rel = relpath(source)
    final = root / rel
    who = model or source.describe()
    if offline and not final.exists():
        raise ModelError(f"{who}: {final} is not in the cache and offline mode is on; it comes from "
                         f"{source.describe()}. Fetch it where there is network: {prefetch_command(model, cache_dir)}")
    final.parent.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(root)
    lock = FileLock(str(final) + ".lock")
    with lock:
        refetch = ""
        if final.exists():
            sha = sha256_of(final)
            rec = ledger.get(rel)
            if rec is None:
                ledger.record(rel, sha, final.stat().st_size, source.describe())
                log.info("%s: recorded the SHA-256 of %s (first use of a file placed in the cache)", who, final)
                return Fetched(final, "cached (hash recorded now)", sha)
            if rec["sha256"] == sha:
                return Fetched(final, "cached+verified", sha)
            final.unlink()
            refetch = (f"{final} failed its SHA-256 check (recorded {rec['sha256'][:12]}..., size {rec['size']}; "
                       f"found {sha[:12]}..., size-mismatch or tampered) and was deleted")
            if offline:
                raise ModelError(f"{who}: {refetch}; offline mode is on, so it was not fetched again. Fetch it "
                                 f"where there is network: {prefetch_command(model, cache_dir)}")
            log.warning("%s: %s; fetching it again", who, refetch)
        part = _download(source, final, progress=progress, who=who, hint=prefetch_command(model, cache_dir))
        sha = sha256_of(part)
        rec = ledger.get(rel)
        if rec is not None and rec["sha256"] != sha:
            part.unlink()
            raise ModelError(f"{who}: the download of {source.describe()} has SHA-256 {sha[:12]}..., not the "
                             f"{rec['sha256'][:12]}... recorded in {ledger.path} on {rec.get('recorded', '?')}: the "
                             "upstream file changed or the transfer was tampered with. If the change is expected, "
                             f"{prefetch_command(model, cache_dir)} --relock")
        os.replace(part, final)
        if rec is None:
            ledger.record(rel, sha, final.stat().st_size, source.describe())
        return Fetched(final, "downloaded (after a failed SHA-256 check)" if refetch else "downloaded", sha)


def forget(source: Source, cache_dir: str | os.PathLike | None = None) -> None:
    """Drop the recorded hash of ``source`` and its cached file (``prefetch.py --relock``)."""
    root = cache_root(cache_dir)
    rel = relpath(source)
    with contextlib.suppress(FileNotFoundError):
        (root / rel).unlink()
    Ledger(root).forget(rel)


def _download(source: Source, final: Path, *, progress: bool, who: str, hint: str = "python code/prefetch.py") -> Path:
    """Download ``source`` completely into ``<final>.part`` (retrying) and return that path."""
    part = final.with_name(final.name + ".part")
    fn = {"url": _download_url, "torchvision": _download_url, "hf": _download_hf, "timm": _download_hf,
          "gdrive": _download_gdrive}[source.kind]
    what = f"{who}: downloading {source.describe()}"
    for attempt in range(1, RETRIES + 1):
        try:
            fn(source, part, progress)
            _check_payload(part)
            return part
        except _Unreachable as e:
            raise _no_network(who, source, final, str(e), hint) from None
        except _Permanent as e:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise ModelError(f"{what} failed: {e}") from None
        except Exception as e:  # noqa: BLE001 - each downloader raises only transient errors here
            reason = _unreachable_reason(e)
            if reason:
                raise _no_network(who, source, final, reason, hint) from None
            if attempt == RETRIES:
                raise ModelError(f"{what} failed after {RETRIES} attempts: {type(e).__name__}: {e}") from None
            wait = BACKOFF_S * 2 ** (attempt - 1)
            log.warning("%s: attempt %d failed (%s: %s); retrying in %.0f s", what, attempt, type(e).__name__, e, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def _no_network(who: str, source: Source, final: Path, reason: str, hint: str) -> ModelError:
    return ModelError(f"{who}: cannot reach the server of {source.describe()} ({reason}) to download {final}: "
                      f"no network here? On a machine with network run `{hint}`, then run here with --offline")


def _check_payload(path: Path) -> None:
    """Reject what servers send instead of a file (an HTML quota or login page, an empty body)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        path.unlink()
        raise _Permanent("the server sent an empty file")
    if head.lstrip()[:1] == b"<":
        path.unlink()
        raise _Permanent("the server sent an HTML/XML page instead of a checkpoint (a quota, login or "
                         "error page); download the file by hand and put it at the cache path "
                         f"{path.with_suffix('')}")


def _transient_http(code: int) -> bool:
    return code in (408, 425, 429) or code >= 500


def _download_url(source: Source, part: Path, progress: bool) -> None:
    url = source_url(source)
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "biasbench"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # our partial is not a prefix of what the server has: start over
            part.unlink()
            raise _Incomplete("range not satisfiable; restarting") from None
        if _transient_http(e.code):
            raise
        raise _Permanent(f"HTTP {e.code} {e.reason} for {url}") from None
    with resp:
        length = resp.headers.get("Content-Length")
        if have and resp.status == 206 and resp.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            mode, start = "ab", have
        else:
            mode, start = "wb", 0
        total = start + int(length) if length is not None else None
        bar = _bar(progress, total, start, part.name)
        with open(part, mode) as f:
            try:
                while block := resp.read(CHUNK):
                    f.write(block)
                    bar.update(len(block))
            except (http.client.IncompleteRead, ConnectionError, socket.timeout) as e:
                raise _Incomplete(f"connection lost after {f.tell()} bytes ({type(e).__name__})") from None
            finally:
                bar.close()
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Incomplete(f"got {size} of {total} bytes")


def _bar(progress: bool, total: int | None, initial: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=desc, disable=not progress)


def _download_hf(source: Source, part: Path, progress: bool) -> None:
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    repo, filename = hf_location(source)
    staging = part.parent / (part.name + ".hf")
    # Missing repository/file/revision or no access: retrying cannot help. (LocalEntryNotFoundError, raised
    # when the Hub cannot be reached, is transient.)
    permanent = tuple(getattr(hf_errors, n) for n in (
        "RepositoryNotFoundError", "RemoteEntryNotFoundError", "RevisionNotFoundError", "GatedRepoError",
        "HFValidationError") if hasattr(hf_errors, n))
    cached = huggingface_hub.try_to_load_from_cache(repo, filename)
    if isinstance(cached, str):  # already in the Hugging Face cache (e.g. timm's own downloads): no network
        shutil.copyfile(cached, part)
        return
    if huggingface_hub.constants.HF_HUB_OFFLINE:  # nothing to retry: the Hub is not to be reached
        permanent += (hf_errors.LocalEntryNotFoundError,)
    else:
        _check_reachable(huggingface_hub.constants.ENDPOINT)
    try:
        with _quiet_hub():
            got = huggingface_hub.hf_hub_download(repo_id=repo, filename=filename, local_dir=staging)
    except permanent as e:
        raise _Permanent(f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}") from None
    os.replace(got, part)
    shutil.rmtree(staging, ignore_errors=True)


def _download_gdrive(source: Source, part: Path, progress: bool) -> None:
    import gdown

    refusal = getattr(getattr(gdown, "exceptions", None), "FileURLRetrievalError", None)
    try:
        out = gdown.download(id=source.location, output=str(part), quiet=not progress, resume=True)
    except Exception as e:
        if refusal is not None and isinstance(e, refusal):
            raise _Permanent(f"Google Drive refused the file ({str(e).splitlines()[0]}); download it by hand from "
                             f"https://drive.google.com/uc?id={source.location} and put it at the cache path "
                             f"{part.with_suffix('')}") from None
        raise
    if out is None or not part.is_file():
        raise _Incomplete("gdown returned without a file")

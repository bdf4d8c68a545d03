"""Every download of biasbench: checkpoints, datasets, the paper's table (docs/models.md "Downloads and cache").

``fetch(remote, final, ledger, key, ...)`` returns the verified local file ``final``:

- A download goes to ``<final>.part`` (a URL download resumes it with an HTTP Range request) and
  is renamed into place only when complete, so a partial file never counts as a download.
- Transient failures (timeouts, HTTP 408/425/429/5xx, a connection dropped mid-file) are retried
  with exponential backoff; a permanent one (404, a missing repository, Google Drive's refusal,
  an HTML page instead of the file) fails at once with the reason. A server name that does not
  resolve or a refused connection stops at once with one line: no network here.
- A ledger (JSON, written atomically under a file lock) records the SHA-256 and size of every
  file when it is first downloaded or first found in place (e.g. downloaded by hand); every
  later use re-hashes the file. A truncated or altered file is deleted and fetched again (or
  refused offline), never used; a fresh download must match the record (or a pinned hash) too.
- Offline, nothing touches the network; a missing file raises DownloadError naming it, its
  source and what to do.

Checkpoints keep their ledger in ``<cache>/checkpoints/`` (zoo/download.py names their paths);
the other downloads of the cache (model-vs-human archives, the paper table) use
``<cache>/downloads/downloads.lock.json``; ``prepare_data.py`` keeps its own beside the
archives it downloads under its ``--root``.
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
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

from filelock import FileLock

from . import paths
from .errors import DownloadError, UserError
from .files import atomic_write_json, size_text

log = logging.getLogger("biasbench")

RETRIES = 4  # attempts per file
BACKOFF_S = 2.0  # wait before retry k: BACKOFF_S * 2**(k-1)
TIMEOUT_S = 60.0  # socket timeout of URL downloads
CHUNK = 1 << 20
DOWNLOADS = "downloads"  # <cache>/downloads/: the files of the cache that are not checkpoints
DOWNLOADS_LEDGER = "downloads.lock.json"


@dataclass(frozen=True)
class Remote:
    """Where a file comes from: ``kind`` "url" (``location`` is the URL), "hf" (the Hugging Face repo id,
    ``filename`` the file in it) or "gdrive" (the Google Drive file id). ``shown`` names it in messages
    and in the ledger."""

    kind: str
    location: str
    filename: str = ""
    shown: str = ""

    def __str__(self) -> str:
        if self.shown:
            return self.shown
        return {"hf": f"hf://{self.location}/{self.filename}",
                "gdrive": f"https://drive.google.com/uc?id={self.location}"}.get(self.kind, self.location)


@dataclass(frozen=True)
class Fetched:
    path: Path
    status: str  # "cached+verified", "cached (hash recorded now)", "downloaded", "local file"
    sha256: str | None = None
    recorded: bool = True  # False: fetch(record=False) left the ledger entry to ``Ledger.confirm``


def downloads_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache>/downloads/``: where the cache's downloads that are not checkpoints keep their ledger."""
    return paths.cache_dir(cache_dir) / DOWNLOADS


def downloads_ledger(cache_dir: str | os.PathLike | None = None) -> Ledger:
    return Ledger(downloads_dir(cache_dir), DOWNLOADS_LEDGER)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


# --- the ledger -------------------------------------------------------------------------------------


class Ledger:
    """``<root>/<name>``: key -> sha256, size, source, time. Written atomically under a file lock, so
    concurrent processes never lose each other's records."""

    def __init__(self, root: Path, name: str):
        self.root = root
        self.path = root / name
        self._lock = FileLock(str(self.path) + ".lock")

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"version": 1, "files": {}}
        except (OSError, json.JSONDecodeError) as e:
            raise DownloadError(f"{self.path}: unreadable download ledger ({e}); delete it to re-record the "
                                "hashes of the downloaded files on their next use") from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise DownloadError(f"{self.path}: not a download ledger (expected {{'files': {{...}}}})")
        return data

    def get(self, key: str) -> dict | None:
        return self._read()["files"].get(key)

    def entries(self) -> list[str]:
        return list(self._read()["files"])

    def _update(self, fn: Callable[[dict], None]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock:
            data = self._read()
            fn(data["files"])
            data["files"] = dict(sorted(data["files"].items()))
            atomic_write_json(self.path, data, what="download ledger ", error=DownloadError)

    def record(self, key: str, sha: str, size: int, source: str) -> None:
        entry = {"sha256": sha, "size": size, "source": source,
                 "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self._update(lambda files: files.__setitem__(key, entry))

    def confirm(self, key: str, fetched: Fetched, source: str) -> None:
        """Record ``fetched``'s hash once the caller has proved the file usable (``fetch(record=False)``)."""
        if not fetched.recorded:
            self.record(key, fetched.sha256, fetched.path.stat().st_size, source)

    def forget(self, key: str) -> None:
        self._update(lambda files: files.pop(key, None))

    def file_lock(self, key: str) -> FileLock:
        """The lock held while ``key`` is checked or downloaded (one process at a time per file)."""
        return FileLock(str(self.root / ".locks" / (quote(key, safe="") + ".lock")))


# --- fetching ---------------------------------------------------------------------------------------


def fetch(remote: Remote, final: Path, ledger: Ledger, key: str, *, who: str, hint: str, offline: bool | None = None,
          relock: str = "", sha256: str | None = None, pinned_in: str = "",
          validate: Callable[[Path], None] | None = None, progress: bool = True, record: bool = True) -> Fetched:
    """The verified file ``final`` of ``remote``, downloading it first when needed (module docstring).

    ``key`` is its entry in ``ledger``; ``who`` starts every message; ``hint`` says how to get the file
    without network here ("On a machine with network run `...`"); ``relock`` how to accept a changed
    upstream file (default: delete the entry). ``sha256`` pins the hash (``pinned_in`` says where).
    ``validate(part)`` checks a finished download before it is hashed (default: not empty, not an HTML
    page) and raises a UserError to refuse it (not retried; the part file is deleted). ``record=False``
    leaves a new hash out of the ledger (``Fetched.recorded`` is False) until the caller, having extracted and
    checked the file, calls ``ledger.confirm``: a truncated file is then never recorded as the good one.
    """
    offline = paths.offline() if offline is None else offline
    if offline and not final.exists():
        raise DownloadError(f"{who}: {final} is not in the cache and offline mode is on; it comes from {remote}. "
                            f"{hint}")
    relock = relock or f"If the change is expected, delete its entry from {ledger.path}"
    final.parent.mkdir(parents=True, exist_ok=True)
    ledger.root.mkdir(parents=True, exist_ok=True)
    with ledger.file_lock(key):
        refetch = ""
        if final.exists():
            sha = sha256_of(final)
            rec = ledger.get(key)
            expected = sha256 or (rec["sha256"] if rec else None)
            if expected is None:
                if not record:
                    return Fetched(final, "cached (hash not yet recorded)", sha, recorded=False)
                ledger.record(key, sha, final.stat().st_size, str(remote))
                log.info("%s: recorded the SHA-256 of %s (first use of a file placed there)", who, final)
                return Fetched(final, "cached (hash recorded now)", sha)
            if expected == sha:
                if rec is None and record:
                    ledger.record(key, sha, final.stat().st_size, str(remote))
                return Fetched(final, "cached+verified", sha, recorded=rec is not None or record)
            refetch = (f"{final} failed its SHA-256 check ({expected[:12]}... {_where(sha256, pinned_in, rec, ledger)}; "
                       f"found {sha[:12]}..., size {final.stat().st_size}: truncated or tampered) and was deleted")
            final.unlink()
            if offline:
                raise DownloadError(f"{who}: {refetch}; offline mode is on, so it was not fetched again. {hint}")
            log.warning("%s: %s; fetching it again", who, refetch)
        part = download(remote, final, who=who, hint=hint, progress=progress, validate=validate)
        sha = sha256_of(part)
        rec = ledger.get(key)
        expected = sha256 or (rec["sha256"] if rec else None)
        if expected is not None and expected != sha:
            part.unlink()
            raise DownloadError(f"{who}: the download of {remote} has SHA-256 {sha[:12]}..., not the {expected[:12]}... "
                                f"{_where(sha256, pinned_in, rec, ledger)}: the upstream file changed or the transfer "
                                f"was tampered with. {relock}")
        os.replace(part, final)
        if rec is None and record:
            ledger.record(key, sha, final.stat().st_size, str(remote))
        return Fetched(final, "downloaded (after a failed SHA-256 check)" if refetch else "downloaded", sha,
                       recorded=rec is not None or record)


def _where(pinned: str | None, pinned_in: str, rec: dict | None, ledger: Ledger) -> str:
    if pinned:
        return f"pinned in {pinned_in or 'the source list'}"
    return f"recorded in {ledger.path} on {rec.get('recorded', '?')}"


def download(remote: Remote, final: Path, *, who: str, hint: str, progress: bool = True,
             validate: Callable[[Path], None] | None = None) -> Path:
    """Download ``remote`` completely into ``<final>.part`` (retrying transient failures) and return that
    path; no hash check (``fetch`` does that)."""
    part = final.with_name(final.name + ".part")
    fn = {"url": _download_url, "hf": _download_hf, "gdrive": _download_gdrive}[remote.kind]
    what = f"{who}: downloading {remote}"
    for attempt in range(1, RETRIES + 1):
        try:
            fn(remote, part, progress)
            (validate or _check_payload)(part)
            return part
        except _Unreachable as e:
            raise _no_network(who, remote, final, str(e), hint) from None
        except _Permanent as e:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise DownloadError(f"{what} failed: {e}", reason=str(e)) from None
        except UserError:  # ``validate`` refused the file: retrying cannot help
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise
        except Exception as e:  # noqa: BLE001 - each downloader raises only transient errors here
            reason = _unreachable_reason(e)
            if reason:
                raise _no_network(who, remote, final, reason, hint) from None
            if attempt == RETRIES:
                cause = f"{type(e).__name__}: {e}"
                raise DownloadError(f"{what} failed after {RETRIES} attempts: {cause}", reason=cause) from None
            wait = BACKOFF_S * 2 ** (attempt - 1)
            log.warning("%s: attempt %d failed (%s: %s); retrying in %.0f s", what, attempt, type(e).__name__, e, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def content_length(url: str) -> int | None:
    """The size the server announces for ``url`` (HEAD request; None when unknown or unreachable)."""
    try:
        req = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "biasbench"})
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            length = resp.headers.get("Content-Length")
            return int(length) if length else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def check_space(folder: Path, need: int, what: str, hint: str) -> None:
    """Raise DownloadError when ``folder`` has less than ``need`` bytes free."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise DownloadError(f"{what} needs about {size_text(need)} free under {folder} (the archive and its "
                            f"extracted files); {size_text(free)} are free. {hint}")


# --- failures ---------------------------------------------------------------------------------------


class _Permanent(Exception):
    """A failure that retrying cannot fix."""


class _Unreachable(_Permanent):
    """The server's name does not resolve or it refuses the connection: no network here (docs/models.md "Downloads and cache")."""


class _Incomplete(Exception):
    """The connection ended before the announced size arrived."""


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


def _no_network(who: str, remote: Remote, final: Path, reason: str, hint: str) -> DownloadError:
    return DownloadError(f"{who}: cannot reach the server of {remote} ({reason}) to download {final}: no network "
                         f"here? {hint}, then run here with --offline", reason=reason)


def _check_payload(path: Path) -> None:
    """Reject what servers send instead of a file (an HTML quota or login page, an empty body)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        path.unlink()
        raise _Permanent("the server sent an empty file")
    if head.lstrip()[:1] == b"<":
        path.unlink()
        raise _Permanent("the server sent an HTML/XML page instead of the file (a quota, login or error page); "
                         f"download the file by hand and put it at {path.with_suffix('')}")


# --- the three kinds of transfer -------------------------------------------------------------------


def _transient_http(code: int) -> bool:
    return code in (408, 425, 429) or code >= 500


def _download_url(remote: Remote, part: Path, progress: bool) -> None:
    url = remote.location
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


def _download_hf(remote: Remote, part: Path, progress: bool) -> None:
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    repo, filename = remote.location, remote.filename
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


def _download_gdrive(remote: Remote, part: Path, progress: bool) -> None:
    import gdown

    refusal = getattr(getattr(gdown, "exceptions", None), "FileURLRetrievalError", None)
    try:
        out = gdown.download(id=remote.location, output=str(part), quiet=not progress, resume=True)
    except Exception as e:
        if refusal is not None and isinstance(e, refusal):
            raise _Permanent(f"Google Drive refused the file ({str(e).splitlines()[0]}); download it by hand from "
                             f"https://drive.google.com/uc?id={remote.location} and put it at "
                             f"{part.with_suffix('')}") from None
        raise
    if out is None or not part.is_file():
        raise _Incomplete("gdown returned without a file")

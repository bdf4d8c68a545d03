"""The results store: an append-only log of records, and the wide table derived from it.

Layout, for ``raw-data/benchmark.csv``::

    raw-data/benchmark.csv                 derived table (model x column), never the source of truth
    raw-data/benchmark.log/
        <host>-<pid>-<start>-<rand>.jsonl  one shard per writing process, one JSON record per line
        benchmark.csv.sha256               hash of the CSV this store last wrote (hand-edit check)
        benchmark.csv.lock                 serialises writers of the CSV

Writers never share a shard, so appending needs no lock (safe on network file
systems, where O_APPEND is only atomic per writer). Each record is one
``os.write`` of a whole line followed by ``fsync``; a process killed mid-write
leaves at most one torn last line in its own shard, which readers skip with a
warning. Readers take the union of all shards, ordered by record time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import secrets
import socket
import threading
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import filelock

from biasbench.errors import InputWarning, ResultsError
from biasbench.files import atomic_write, fsync_dir
from biasbench.results.record import Record, ResultKey
from biasbench.results.setup import Setup

if TYPE_CHECKING:
    import pandas

DEFAULT_CSV = "raw-data/benchmark.csv"
SHARD_SUFFIX = ".jsonl"
LOCK_TIMEOUT_S = 600
_DERIVE_ATTEMPTS = 5  # re-derive the CSV while the log keeps changing underneath, at most this often


class ResultsWarning(InputWarning):
    """A log line was skipped (torn by a killed writer, or damaged)."""


@dataclass
class _Shard:
    """What has been read so far of one shard file."""

    inode: int
    offset: int = 0  # bytes consumed: up to and including the last complete line
    lines: int = 0  # complete lines consumed
    entries: list[tuple[datetime, int, Record]] = field(default_factory=list)  # (time, line number, record)


def _close_writer(writer: dict) -> None:
    if writer.get("fd") is not None and writer.get("pid") == os.getpid():
        os.close(writer["fd"])
    writer["fd"] = None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ResultsStore:
    """Append records with provenance; read them back; derive the wide ``benchmark.csv``.

    ``log_dir`` defaults to the folder ``<csv stem>.log`` beside the CSV.
    """

    def __init__(self, csv_path: str | os.PathLike = DEFAULT_CSV, log_dir: str | os.PathLike | None = None):
        self.csv_path = Path(csv_path)
        self.log_dir = Path(log_dir) if log_dir is not None else self.csv_path.with_name(self.csv_path.stem + ".log")
        if self.log_dir.exists() and not self.log_dir.is_dir():
            raise ResultsError(f"results log {self.log_dir} is not a directory; expected a folder of "
                               f"*{SHARD_SUFFIX} shards (move that file away or pass another log_dir)")
        self._mutex = threading.RLock()  # appends and cache updates, when threads share a store
        self._writer: dict = {"fd": None, "pid": None, "path": None}
        weakref.finalize(self, _close_writer, self._writer)
        self._shards: dict[str, _Shard] = {}
        # Every record read, oldest first, as (time, shard, line, record); new lines are merged in.
        self._sorted_keys: list[tuple[datetime, str, int, Record]] = []
        self._new: list[tuple[datetime, str, int, Record]] = []
        self._stale = False  # a shard vanished or was replaced: rebuild from _shards
        # (model, benchmark, condition, fingerprint) -> its records, oldest first; None: to be rebuilt.
        self._cells: dict[tuple[str, str, str, str], list[Record]] | None = None
        self._warned: set[tuple[str, int]] = set()

    # ----------------------------------------------------------------- writing
    def append(self, records: Iterable[Record]) -> None:
        """Append records to this process's shard; returns once they are on disk (fsync)."""
        records = list(records)
        for record in records:
            if not isinstance(record, Record):
                raise ResultsError(f"can only append Record objects to {self.log_dir}; got {type(record).__name__}")
        lines = [record.to_json().encode("utf-8") for record in records]
        if not lines:
            return
        with self._mutex:
            fd = self._writer_fd()
            path = self._writer["path"]
            try:
                for line in lines:
                    if os.write(fd, line) != len(line):
                        raise OSError("short write (is the disk full?)")
                os.fsync(fd)
            except OSError as err:
                # The shard may now end in a torn line: never append to it again.
                _close_writer(self._writer)
                raise ResultsError(f"could not append results to {path}: {err}; records appended before "
                                   "are kept, fix the cause and run again to resume") from None

    def _writer_fd(self) -> int:
        """This process's shard, opened on first use (and anew after a fork or a failed write)."""
        if self._writer["fd"] is not None and self._writer["pid"] == os.getpid():
            return self._writer["fd"]
        self._make_dir(self.log_dir, "results log folder")
        host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:64] or "host"
        start = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = self.log_dir / f"{host}-{os.getpid()}-{start}-{secrets.token_hex(4)}{SHARD_SUFFIX}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as err:
            raise ResultsError(f"could not create results log shard {path}: {err.strerror}; "
                               "expected a writable folder") from None
        fsync_dir(self.log_dir)
        self._writer.update(fd=fd, pid=os.getpid(), path=path)
        return fd

    @staticmethod
    def _make_dir(path: Path, what: str) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ResultsError(f"cannot create the {what} {path}: {err.strerror or err}; "
                               "expected a folder that exists or can be created") from None
        if not path.is_dir():
            raise ResultsError(f"the {what} {path} is not a directory")

    # ----------------------------------------------------------------- reading
    def _shard_paths(self) -> list[os.DirEntry]:
        try:
            entries = list(os.scandir(self.log_dir))
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise ResultsError(f"results log {self.log_dir} is not a directory; expected a folder of "
                               f"*{SHARD_SUFFIX} shards") from None
        except OSError as err:
            raise ResultsError(f"cannot read results log {self.log_dir}: {err.strerror}") from None
        return sorted((e for e in entries if e.name.endswith(SHARD_SUFFIX) and e.is_file()), key=lambda e: e.name)

    def _warn_once(self, name: str, offset: int, message: str) -> None:
        if (name, offset) not in self._warned:
            self._warned.add((name, offset))
            warnings.warn(message, ResultsWarning, stacklevel=2)

    def _refresh(self) -> None:
        """Read what the shards gained since the last call (the log is append-only)."""
        entries = self._shard_paths()
        seen = set()
        for entry in entries:
            seen.add(entry.name)
            st = entry.stat()
            shard = self._shards.get(entry.name)
            if shard is None or shard.inode != st.st_ino or st.st_size < shard.offset:
                if shard is not None:
                    self._stale = True  # replaced by hand: forget what it said
                shard = self._shards[entry.name] = _Shard(inode=st.st_ino)
            if st.st_size > shard.offset:
                self._read_tail(Path(entry.path), shard)
        for gone in set(self._shards) - seen:
            del self._shards[gone]
            self._stale = True

    def _read_tail(self, path: Path, shard: _Shard) -> None:
        try:
            with open(path, "rb") as f:
                f.seek(shard.offset)
                data = f.read()
        except OSError as err:
            raise ResultsError(f"cannot read results log shard {path}: {err.strerror}") from None
        end = data.rfind(b"\n") + 1
        for raw in data[:end].split(b"\n")[:-1]:
            offset, shard.offset = shard.offset, shard.offset + len(raw) + 1
            shard.lines += 1
            if not raw.strip():
                continue
            try:
                record = Record.from_json(raw)
            except (ValueError, ResultsError) as err:
                self._warn_once(path.name, offset, f"skipping damaged line {shard.lines} of results log "
                                f"{path} ({str(err)[:200]}); the other records are read")
                continue
            shard.entries.append((record.timestamp(), shard.lines, record))
            self._new.append((record.timestamp(), path.name, shard.lines, record))
        if end < len(data):
            self._warn_once(path.name, shard.offset, f"ignoring the incomplete last line {shard.lines + 1} of "
                            f"results log {path} ({len(data) - end} bytes): its writer was interrupted "
                            "mid-write (or is still writing)")

    def _update(self) -> None:
        """Bring the sorted records up to date with the shards."""
        self._refresh()
        if self._stale:
            self._new = [(time, name, line, record) for name, shard in self._shards.items()
                         for time, line, record in shard.entries]
            self._sorted_keys, self._stale = [], False
        if self._new:
            self._cells = None
            self._new.sort(key=lambda k: k[:3])  # by time; ties in shard and line order
            merge = bool(self._sorted_keys) and self._new[0][:3] < self._sorted_keys[-1][:3]
            self._sorted_keys.extend(self._new)
            if merge:  # older than what was read before (another host, another clock): two sorted runs
                self._sorted_keys.sort(key=lambda k: k[:3])
            self._new = []

    def records(self) -> list[Record]:
        """Every intact record in the log, oldest first."""
        with self._mutex:
            self._update()
            return [k[3] for k in self._sorted_keys]

    def newest(self, keys: Iterable[ResultKey]) -> dict[ResultKey, Record]:
        """The newest record of each result of ``keys`` the log holds; a key it holds none of is left out.

        This is the one answer to "is it already measured?" (what a run skips, which results a summary
        or a response table is made of, which sweep jobs are done): only a record of the same model,
        benchmark, condition, dataset fingerprint and setup counts (``ResultKey``).
        """
        with self._mutex:
            self._update()
            if self._cells is None:
                self._cells = {}
                for _, _, _, record in self._sorted_keys:  # oldest first
                    cell = (record.model, record.benchmark, record.condition, record.fingerprint)
                    self._cells.setdefault(cell, []).append(record)
            out = {}
            for key in keys:
                cell = self._cells.get((key.model, key.benchmark, key.condition, key.fingerprint), ())
                record = next((r for r in reversed(cell) if key.matches(r)), None)
                if record is not None:
                    out[key] = record
            return out

    def latest_values(self, model: str, benchmark: str | None = None,
                      fingerprint: str | None = None,
                      setup: Setup | None = Setup()) -> dict[str, float]:  # noqa: B008 (frozen; None: any)
        """The newest value of every column recorded for ``model`` under ``setup`` (default: the
        reference setup; None: any setup, newest wins), optionally of one benchmark / dataset."""
        values: dict[str, float] = {}
        for record in self.records():
            if record.model == model and benchmark in (None, record.benchmark) \
                    and fingerprint in (None, record.fingerprint) \
                    and (setup is None or Setup.of_record(record).row(model) == setup.row(model)):
                values.update(record.values)
        return values

    def setups(self, model: str) -> dict[str, list[Record]]:
        """Setup label ('' for the reference setup) -> the records of ``model`` measured under it, oldest first."""
        out: dict[str, list[Record]] = {}
        for record in self.records():
            if record.model == model:
                out.setdefault(Setup.of_record(record).label(), []).append(record)
        return out

    def _wide(self) -> tuple[list[str], dict[str, dict[str, float]]]:
        """(sorted columns, row -> column -> newest value). A row is a model and a setup: the model's
        own name holds only reference-setup results, ``<model>@<label>`` those of another setup."""
        rows: dict[str, dict[str, float]] = {}
        for record in self.records():
            rows.setdefault(Setup.of_record(record).row(record.model), {}).update(record.values)
        columns = sorted({c for row in rows.values() for c in row})
        return columns, {m: rows[m] for m in sorted(rows)}

    def table(self) -> pandas.DataFrame:
        """Wide table: one row per model (sorted), column 'model' first, then the columns sorted."""
        import pandas as pd

        columns, rows = self._wide()
        frame = pd.DataFrame([[row.get(c, float("nan")) for c in columns] for row in rows.values()],
                             columns=columns, dtype=float)
        frame.insert(0, "model", list(rows))
        return frame

    # ----------------------------------------------------------------- the CSV
    def _csv_bytes(self) -> bytes:
        columns, rows = self._wide()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["model", *columns])
        for model, row in rows.items():
            writer.writerow([model, *(repr(row[c]) if c in row else "" for c in columns)])
        return out.getvalue().encode("utf-8")

    def _log_signature(self) -> tuple:
        return tuple((e.name, e.stat().st_size) for e in self._shard_paths())

    @property
    def _hash_file(self) -> Path:
        return self.log_dir / f"{self.csv_path.name}.sha256"

    def _written_hashes(self) -> set[str]:
        try:
            return set(self._hash_file.read_text().split())
        except FileNotFoundError:
            return set()
        except (OSError, UnicodeDecodeError) as err:
            raise ResultsError(f"cannot read {self._hash_file}: {err}; delete it and move {self.csv_path} "
                               "away to re-derive the table from the log") from None

    def _check_not_hand_edited(self, new: bytes) -> str | None:
        """The hash of the current CSV when it is safe to replace; ResultsError when it was edited by hand."""
        try:
            current = self.csv_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise ResultsError(f"cannot read results table {self.csv_path}: {err.strerror}") from None
        digest = _sha256(current)
        if current == new or digest in self._written_hashes():
            return digest
        how = (f"move it away (e.g. `mv {self.csv_path} {self.csv_path}.edited`) and it will be re-derived from "
               f"the log {self.log_dir} (`python -m biasbench.results rebuild --results {self.csv_path}`)")
        if not self._hash_file.exists():
            raise ResultsError(f"results table {self.csv_path} was not written by this results store "
                               f"(no {self._hash_file}); refusing to overwrite it: {how}")
        raise ResultsError(f"results table {self.csv_path} was edited by hand since biasbench last wrote it; "
                           f"refusing to overwrite the edits: {how}. Values belong in the log, not the CSV")

    def write_csv(self) -> Path:
        """Derive the CSV from the log and replace it atomically; returns its path.

        Writers are serialised by a lock in the log folder; a CSV edited by hand is never overwritten.
        """
        if self.csv_path.is_dir():
            raise ResultsError(f"results table {self.csv_path} is a directory; expected a CSV file path")
        self._make_dir(self.csv_path.parent, "results folder")
        self._make_dir(self.log_dir, "results log folder")
        lock = filelock.FileLock(self.log_dir / f"{self.csv_path.name}.lock", timeout=LOCK_TIMEOUT_S)
        try:
            with lock:
                for _ in range(_DERIVE_ATTEMPTS):
                    before = self._log_signature()
                    data = self._csv_bytes()
                    current = self._check_not_hand_edited(data)
                    digest = _sha256(data)
                    # Either file is accepted while the CSV is being replaced, so a crash in between
                    # is never mistaken for a hand edit.
                    atomic_write(self._hash_file, "\n".join(filter(None, {current, digest})).encode() + b"\n",
                                 error=ResultsError)
                    atomic_write(self.csv_path, data, error=ResultsError)
                    atomic_write(self._hash_file, digest.encode() + b"\n", error=ResultsError)
                    if self._log_signature() == before:
                        break  # nothing was appended while deriving
        except filelock.Timeout:
            raise ResultsError(f"could not lock {lock.lock_file} within {LOCK_TIMEOUT_S} s: another process "
                               f"keeps writing {self.csv_path}; run `python -m biasbench.results rebuild` "
                               "later") from None
        return self.csv_path

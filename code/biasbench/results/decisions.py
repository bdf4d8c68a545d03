"""Per-image decisions stored beside the results log: one small ``.npz`` per record.

Every (model, benchmark, condition) record of a pass gets a file
``<log>/decisions/<key>.npz`` holding, for each image that was read,

    index  int32  the image's position in its ImageList
    pred   int16  its top-1 class (ImageNet-1k index; for model-vs-human the 16-class
                  decision, an index into metrics.sixteen_class.CATEGORIES; for attacks the
                  top-1 class of the adversarial image)
    label  int16  its label in the same space

so any accuracy is ``100 * (pred == label).sum() / n`` (for an attack, ``pred != label``
is "broken": the complement of robust accuracy), ReaL can be re-scored from the clean
decisions, and models compared image by image (docs/results.md "Per-image decisions").

Crash safety, as for the log: the file is written to a temporary name, fsynced and
renamed into place *before* the log line that names it is appended, so a log line
never points to a missing or partial file. The line records the file's name and its
SHA-256, checked on reading. A crash between the two leaves an orphan file that no line
names; readers ignore it (``orphans()`` lists them).
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biasbench.errors import ResultsError
from biasbench.files import atomic_write
from biasbench.results.record import Record
from biasbench.results.setup import Setup

FOLDER = "decisions"
KEY = "decisions"  # the key of Record.extra naming the file: {"file": ..., "sha256": ..., "space": ...}


@dataclass(frozen=True)
class Decisions:
    """The per-image decisions of one record (arrays in image order)."""

    record: Record
    index: np.ndarray
    pred: np.ndarray
    label: np.ndarray
    space: str  # "imagenet-1k" or "16-class"

    @property
    def correct(self) -> np.ndarray:
        return self.pred == self.label

    def accuracy(self) -> float:
        """Top-1 accuracy in percent, computed as the accumulators compute it."""
        n = len(self.pred)
        return 100.0 * int(self.correct.sum()) / n if n else float("nan")


def write(log_dir: str | os.PathLike, record: Record, index, pred, label, space: str) -> Record:
    """Write the decisions of ``record`` durably and return the record naming them in its extra."""
    index = np.asarray(index, dtype=np.int64)
    pred, label = np.asarray(pred), np.asarray(label)
    order = np.argsort(index, kind="stable")
    buf = io.BytesIO()
    np.savez_compressed(buf, index=index[order].astype(np.int32), pred=pred[order].astype(np.int16),
                        label=label[order].astype(np.int16))
    data = buf.getvalue()
    folder = Path(log_dir) / FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ResultsError(f"cannot create the decisions folder {folder}: {err.strerror or err}") from None
    name = f"{secrets.token_hex(12)}.npz"
    atomic_write(folder / name, data, what="per-image decisions ", error=ResultsError)
    record.extra[KEY] = {"file": f"{FOLDER}/{name}", "sha256": hashlib.sha256(data).hexdigest(), "space": space}
    return record


def read(log_dir: str | os.PathLike, record: Record) -> Decisions:
    """The decisions a record names; ResultsError when it names none or the file is missing or changed."""
    ref = record.extra.get(KEY)
    where = f"record of {record.model!r} on {record.benchmark} / {record.condition}"
    if not isinstance(ref, dict) or "file" not in ref:
        raise ResultsError(f"{where} has no per-image decisions (written by an older biasbench?); "
                           "run it again with --overwrite to record them")
    path = Path(log_dir) / ref["file"]
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ResultsError(f"{where}: cannot read its per-image decisions {path}: {err.strerror or err}") from None
    if hashlib.sha256(data).hexdigest() != ref.get("sha256"):
        raise ResultsError(f"{where}: {path} was changed after it was written (SHA-256 mismatch); "
                           "expected the file the run wrote")
    with np.load(io.BytesIO(data)) as z:
        return Decisions(record, z["index"].astype(np.int64), z["pred"].astype(np.int64),
                         z["label"].astype(np.int64), ref.get("space", "imagenet-1k"))


def latest(store, setup: Setup | None = None, unreadable: list[tuple[tuple, str]] | None = None
           ) -> dict[tuple[str, str, str, str], Decisions]:
    """{(model, benchmark, condition, fingerprint): decisions} of the newest record of each cell
    measured under ``setup`` (default: the reference setup, docs/results.md) that has per-image
    decisions; results of other setups never stand in for it. A missing or changed decisions file
    raises ResultsError, or, when ``unreadable`` is a list, is left out and (its key, the message) appended there."""
    label = (setup or Setup()).label()
    newest: dict[tuple[str, str, str, str], Record] = {}
    for r in store.records():  # oldest first: the newest wins
        if isinstance(r.extra.get(KEY), dict) and Setup.of_record(r).label() == label:
            newest[(r.model, r.benchmark, r.condition, r.fingerprint)] = r
    out = {}
    for k, r in newest.items():
        try:
            out[k] = read(store.log_dir, r)
        except ResultsError as err:
            if unreadable is None:
                raise
            unreadable.append((k, str(err)))
    return out


def orphans(store) -> list[Path]:
    """Decision files no log line names (left by a crash between the file and its line)."""
    named = {r.extra[KEY]["file"] for r in store.records() if isinstance(r.extra.get(KEY), dict)}
    folder = Path(store.log_dir) / FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if f"{FOLDER}/{p.name}" not in named)

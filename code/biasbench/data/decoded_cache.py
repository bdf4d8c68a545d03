"""The decoded-image cache: a dataset decoded once into a uint8 N x 3 x 224 x 224 file.

JPEG decoding and resizing dominate on a GPU node. Every benchmark on ImageNet
val (clean, ReaL, spectral, critical band, PGD), every model and every later run
reads the same decoded pixels from one memory-mapped file, keyed by the
dataset's fingerprint (which covers the file list, sizes, labels and the
preprocessing). The pixels are exactly those of the PIL pipeline: the cache
stores the uint8 output of ``decode``.

The cache fills itself during the first pass (write-through): decoded batches
are written into the file, flushed, then marked done in a one-byte-per-image
map. A pass that is interrupted leaves a valid partial cache; the next pass
reads what is done and decodes only the rest.
"""

from __future__ import annotations

import logging
import mmap
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..files import atomic_write_json, size_text
from .imagelist import ImageList

log = logging.getLogger("biasbench")

IMAGE_BYTES = 3 * 224 * 224


class DecodedCache:
    def __init__(self, images: ImageList, root: str | os.PathLike, fingerprint: str | None = None):
        """``fingerprint``: ``images.fingerprint()`` when the caller has it already (it stats every file)."""
        self.images = images
        self.n = len(images)
        self.dir = Path(root) / f"{images.name}-{fingerprint or images.fingerprint()}"
        self.pixels_path = self.dir / "pixels.u8"
        self.done_path = self.dir / "done.u8"
        self._pixels = None
        self._done = None

    @property
    def nbytes(self) -> int:
        return self.n * IMAGE_BYTES

    def open(self) -> "DecodedCache":
        """Create (after checking the disk has room) or reopen the cache files."""
        if self._pixels is not None:
            return self
        if not self.pixels_path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self.dir).free
            if free < self.nbytes + self.n:
                raise DatasetError(
                    f"the decoded-image cache for {self.images.name} needs {size_text(self.nbytes + self.n)} in "
                    f"{self.dir}, but only {size_text(free)} are free: free some space, point --decoded_cache at another "
                    "folder, or pass --decoded_cache off to decode on every pass"
                )
            atomic_write_json(self.dir / "meta.json", {
                "name": self.images.name, "root": str(self.images.root), "n": self.n,
                "preprocess": self.images.preprocess, "shape": [self.n, 3, 224, 224]}, error=DatasetError)
        # Several processes may open a new cache at once (sweep jobs): each file appears once, at full
        # size, so no process ever truncates pixels another one has already marked done.
        _create_once(self.pixels_path, self.nbytes)
        _create_once(self.done_path, self.n)
        for path, size in ((self.pixels_path, self.nbytes), (self.done_path, self.n)):
            if path.stat().st_size != size:
                raise DatasetError(
                    f"decoded-image cache file {path} is {path.stat().st_size} bytes, expected {size}: it is damaged; "
                    f"delete {self.dir} (it is rebuilt on the next run) or pass --decoded_cache off")
        self._pixels = np.memmap(self.pixels_path, dtype=np.uint8, mode="r+", shape=(self.n, 3, 224, 224))
        self._done = np.memmap(self.done_path, dtype=np.uint8, mode="r+", shape=(self.n,))
        return self

    def is_complete(self) -> bool:
        """Whether every image is decoded, without creating anything."""
        try:
            if self.done_path.stat().st_size != self.n or self.pixels_path.stat().st_size != self.nbytes:
                return False
        except OSError:
            return False
        return bool(np.fromfile(self.done_path, dtype=np.uint8).all())

    def complete(self) -> bool:
        return self.open()._done.all()

    def missing(self) -> np.ndarray:
        """Indices of images not decoded yet."""
        return np.flatnonzero(self.open()._done == 0)

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.open()._pixels[start:stop]

    def read_indices(self, indices: np.ndarray) -> np.ndarray:
        return self.open()._pixels[indices]

    def write(self, indices: np.ndarray, pixels: np.ndarray, valid: np.ndarray) -> None:
        """Store decoded images, then mark them done (unreadable ones stay missing)."""
        self.open()
        indices = np.asarray(indices)
        self._pixels[indices] = pixels
        if len(indices):  # pixels reach the file before they are marked done
            _flush_rows(self._pixels, int(indices.min()), int(indices.max()) + 1)
        self._done[indices[np.asarray(valid, dtype=bool)]] = 1
        self._done.flush()


def _flush_rows(array: np.memmap, lo: int, hi: int) -> None:
    """Write rows ``lo:hi`` of a memory-mapped array to its file. ``np.memmap.flush`` syncs the
    whole mapping (7.5 GB for ImageNet val) on every batch; this syncs only the pages of the rows."""
    raw = getattr(array, "_mmap", None)  # numpy's mmap object of the file (offset 0 here)
    if raw is None:
        array.flush()
        return
    row = array.strides[0]
    start = lo * row // mmap.ALLOCATIONGRANULARITY * mmap.ALLOCATIONGRANULARITY
    raw.flush(start, hi * row - start)


def _create_once(path: Path, size: int) -> None:
    """Create ``path`` as ``size`` zero bytes unless it exists; atomic (a full-size file or none)."""
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created it first: theirs is kept
    except FileExistsError:
        pass
    except OSError:  # no hard links on this file system: rename, unless another process got there first
        if not path.exists():
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

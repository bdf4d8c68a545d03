"""Batches of decoded images: uint8 N x 3 x 224 x 224 with labels and indices.

Decoding runs in DataLoader workers. A file that cannot be read is reported
back as a flag rather than an exception inside a worker, so the main process can
stop with one clear message naming it, or (``skip_unreadable``) leave it out.
With a decoded-image cache, complete caches are read in slices without any
decoding, and incomplete ones are filled as the pass goes (write-through).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import DatasetError
from .decode import decode
from .decoded_cache import DecodedCache
from .imagelist import ImageList
from .model_input import image_size


@dataclass
class Batch:
    images: torch.Tensor  # uint8 B x 3 x 224 x 224
    labels: torch.Tensor  # int64 B
    indices: torch.Tensor  # int64 B, positions in the ImageList
    valid: torch.Tensor  # bool B, False for unreadable files (only with skip_unreadable)


class _Decoded(Dataset):
    """Decodes image i, or reads it from the cache when it is already there."""

    def __init__(self, images: ImageList, cache: DecodedCache | None):
        self.images = images
        self.cache_dir = cache.dir if cache is not None else None
        self._cache = None  # opened lazily in each worker process (memmaps do not pickle as files)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        if self.cache_dir is not None:
            if self._cache is None:
                self._cache = DecodedCache(self.images, self.cache_dir.parent).open()
            if self._cache._done[i]:
                return torch.from_numpy(np.array(self._cache._pixels[i])), int(self.images.labels[i]), i, "", True
        try:
            x, err = decode(self.images.path(i), self.images.preprocess), ""
        except DatasetError as e:
            x, err = torch.zeros(3, *image_size(self.images.preprocess), dtype=torch.uint8), str(e)
        return x, int(self.images.labels[i]), i, err, False


def _collate(items):
    xs, ys, idx, errs, cached = zip(*items)
    return torch.stack(xs), torch.tensor(ys), torch.tensor(idx), list(errs), torch.tensor(cached)


class UnreadableCounter:
    """Files left out with ``--skip_unreadable``, to report at the end of a run."""

    def __init__(self):
        self.files: list[str] = []


def batches(images: ImageList, batch_size: int, num_workers: int, *, skip_unreadable: bool = False,
            unreadable: UnreadableCounter | None = None, pin_memory: bool = False,
            cache: DecodedCache | None = None) -> Iterator[Batch]:
    """Every image of ``images`` once, in order, decoded with the dataset's preprocessing."""
    if cache is not None and cache.complete():
        yield from _cached_batches(images, batch_size, cache, pin_memory)
        return
    loader = DataLoader(
        _Decoded(images, cache), batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=_collate, pin_memory=pin_memory, persistent_workers=False,
    )
    for x, y, idx, errs, cached in loader:
        bad = [e for e in errs if e]
        if bad and not skip_unreadable:
            raise DatasetError(f"{bad[0]} (pass --skip_unreadable to leave unreadable files out and count them)")
        if bad and unreadable is not None:
            unreadable.files += bad
        valid = torch.tensor([not e for e in errs])
        if cache is not None and not cached.all():
            new = ~cached
            cache.write(idx[new].numpy(), x[new].numpy(), valid[new].numpy())
        yield Batch(x, y, idx, valid)


def _cached_batches(images: ImageList, batch_size: int, cache: DecodedCache, pin_memory: bool = False,
                    prefetch: int = 2) -> Iterator[Batch]:
    """Batches of a complete cache. The slices are read (and pinned, for a GPU) by a helper thread
    ``prefetch`` batches ahead, so the copy to the device can be non-blocking and reading overlaps compute."""
    labels = torch.as_tensor(images.labels)
    spans = [(start, min(start + batch_size, len(images))) for start in range(0, len(images), batch_size)]

    def read(span: tuple[int, int]) -> torch.Tensor:
        x = torch.from_numpy(np.array(cache.read(*span)))
        return x.pin_memory() if pin_memory else x

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="biasbench-cache-read") as pool:
        ahead = [pool.submit(read, span) for span in spans[:prefetch]]
        try:
            for k, (start, stop) in enumerate(spans):
                x = ahead.pop(0).result()
                if k + prefetch < len(spans):
                    ahead.append(pool.submit(read, spans[k + prefetch]))
                yield Batch(x, labels[start:stop], torch.arange(start, stop), torch.ones(stop - start, dtype=torch.bool))
        finally:
            for f in ahead:  # the consumer stopped early (an error, a kill): read nothing more
                f.cancel()

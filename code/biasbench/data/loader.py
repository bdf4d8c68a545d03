"""Batches of decoded images: uint8 N x 3 x 224 x 224 with labels and indices.

Decoding runs in DataLoader workers. A file that cannot be read is reported
back as a flag rather than an exception inside a worker, so the main process can
stop with one clear message naming it, or (``skip_unreadable``) leave it out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import DatasetError
from .imagelist import ImageList, decode


@dataclass
class Batch:
    images: torch.Tensor  # uint8 B x 3 x 224 x 224
    labels: torch.Tensor  # int64 B
    indices: torch.Tensor  # int64 B, positions in the ImageList
    valid: torch.Tensor  # bool B, False for unreadable files (only with skip_unreadable)


class _Decoded(Dataset):
    def __init__(self, images: ImageList):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        try:
            x, err = decode(self.images.path(i), self.images.preprocess), ""
        except DatasetError as e:
            x, err = torch.zeros(3, 224, 224, dtype=torch.uint8), str(e)
        return x, int(self.images.labels[i]), i, err


def _collate(items):
    xs, ys, idx, errs = zip(*items)
    return torch.stack(xs), torch.tensor(ys), torch.tensor(idx), list(errs)


class UnreadableCounter:
    """Files left out with ``--skip_unreadable``, to report at the end of a run."""

    def __init__(self):
        self.files: list[str] = []


def batches(images: ImageList, batch_size: int, num_workers: int, *, skip_unreadable: bool = False,
            unreadable: UnreadableCounter | None = None, pin_memory: bool = False) -> Iterator[Batch]:
    """Every image of ``images`` once, in order, decoded with the dataset's preprocessing."""
    loader = DataLoader(
        _Decoded(images), batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=_collate, pin_memory=pin_memory, persistent_workers=False,
    )
    for x, y, idx, errs in loader:
        bad = [e for e in errs if e]
        if bad and not skip_unreadable:
            raise DatasetError(f"{bad[0]} (pass --skip_unreadable to leave unreadable files out and count them)")
        if bad and unreadable is not None:
            unreadable.files += bad
        valid = torch.tensor([not e for e in errs])
        yield Batch(x, y, idx, valid)

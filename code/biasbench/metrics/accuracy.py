"""Accuracy accumulators: fed logits batch by batch, they return percentages.

Each accumulator has ``update(logits, labels, indices, valid)`` and ``result()``;
the runner creates one per (model, condition). ``indices`` are the images'
positions in their ImageList, ``valid`` is False for images that could not be
read (``--skip_unreadable``), which are left out of every count.
``per_image()`` returns the top-1 class of every counted image (kept on the device
during the pass, moved to the host once), which the runner stores beside the log.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class _PerImage:
    """(image index, top-1 class, label) of every counted image, batches kept on their device."""

    def __init__(self):
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def add(self, indices: torch.Tensor, pred: torch.Tensor, labels: torch.Tensor,
            valid: torch.Tensor | None = None) -> None:
        # No boolean indexing here: it would wait for the device on every batch; arrays() masks once.
        if valid is None:
            valid = torch.ones(len(indices), dtype=torch.bool)
        self.parts.append((indices, pred, labels, valid))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.parts:
            return tuple(np.zeros(0, dtype=np.int64) for _ in range(3))
        index, pred, labels = (torch.cat([p[k].reshape(-1).long().cpu() for p in self.parts]) for k in range(3))
        keep = torch.cat([p[3].reshape(-1).bool().cpu() for p in self.parts])
        return index[keep].numpy(), pred[keep].numpy(), labels[keep].numpy()


class TopK:
    """Top-1 and top-5 accuracy in percent, optionally over a subset of the 1000 classes
    (ImageNet-A and -R: the logits are restricted to the dataset's own 200 classes
    before the argmax, labels stay ImageNet-1k indices)."""

    def __init__(self, classes: Sequence[int] | None = None):
        self.classes = None if classes is None else torch.as_tensor(list(classes), dtype=torch.long)
        # Counts stay on the logits' device (no host-device sync per batch); result() reads them once.
        self.correct1 = 0
        self.correct5 = 0
        self.n = 0
        self.decided = _PerImage()

    def update(self, logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor,
               valid: torch.Tensor) -> None:
        if self.classes is not None:
            if self.classes.device != logits.device:
                self.classes = self.classes.to(logits.device)
            cls = self.classes
            top = cls[logits[:, cls].topk(min(5, len(cls)), dim=1).indices]
        else:
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        valid = valid.to(logits.device, non_blocking=True)
        hit = (top == labels[:, None]) & valid[:, None]  # unreadable images count nowhere
        self.correct1 = self.correct1 + hit[:, 0].sum()
        self.correct5 = self.correct5 + hit.any(dim=1).sum()
        self.n = self.n + valid.sum()
        self.decided.add(indices, top[:, 0], labels, valid)

    def result(self) -> dict[str, float]:
        n, correct1, correct5 = (int(v) for v in (self.n, self.correct1, self.correct5))
        if n == 0:
            return {"top1": float("nan"), "top5": float("nan"), "n": 0}
        return {"top1": 100.0 * correct1 / n, "top5": 100.0 * correct5 / n, "n": n}

    def per_image(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """(index, top-1 class, label, "imagenet-1k") of every counted image."""
        return (*self.decided.arrays(), "imagenet-1k")


class ReaL:
    """ReaL accuracy: a top-1 prediction is correct if it is in the image's ReaL label list;
    images with an empty list are left out (46,837 of 50,000 count)."""

    def __init__(self, targets: list[list[int]]):
        self.targets = targets
        self.decided = _PerImage()

    def update(self, logits, labels, indices, valid) -> None:
        # Predictions stay on the device until result(): one host-device sync per pass, not per batch.
        self.decided.add(indices, logits.argmax(dim=1), labels, valid)

    def result(self) -> dict[str, float]:
        index, pred, _ = self.decided.arrays()
        correct, n = _real_counts(index, pred, self.targets)
        return {"top1": 100.0 * correct / n if n else float("nan"), "n": n}

    def per_image(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """(index, top-1 class, ImageNet label, "imagenet-1k") of every read image, also those without
        ReaL labels: re-score with ``real_accuracy``."""
        return (*self.decided.arrays(), "imagenet-1k")


def _real_counts(index: np.ndarray, pred: np.ndarray, targets: list[list[int]]) -> tuple[int, int]:
    """(correct, counted) top-1 decisions ``pred`` of images ``index``; images without ReaL labels count nowhere."""
    correct = n = 0
    for p, i in zip(pred.tolist(), index.tolist()):
        if targets[i]:
            correct += p in targets[i]
            n += 1
    return correct, n


def real_accuracy(index: np.ndarray, pred: np.ndarray, targets: list[list[int]]) -> float:
    """ReaL accuracy in percent of top-1 decisions ``pred`` of images ``index`` (as ``ReaL`` counts)."""
    correct, n = _real_counts(index, pred, targets)
    return 100.0 * correct / n if n else float("nan")

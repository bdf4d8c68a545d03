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

    def add(self, indices: torch.Tensor, pred: torch.Tensor, labels: torch.Tensor) -> None:
        self.parts.append((indices, pred, labels))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.parts:
            return tuple(np.zeros(0, dtype=np.int64) for _ in range(3))
        return tuple(torch.cat([p[k].reshape(-1).long() for p in self.parts]).cpu().numpy() for k in range(3))


class TopK:
    """Top-1 and top-5 accuracy in percent, optionally over a subset of the 1000 classes
    (ImageNet-A and -R: the logits are restricted to the dataset's own 200 classes
    before the argmax, labels stay ImageNet-1k indices)."""

    def __init__(self, classes: Sequence[int] | None = None):
        self.classes = None if classes is None else torch.as_tensor(list(classes), dtype=torch.long)
        self.correct1 = 0
        self.correct5 = 0
        self.n = 0
        self.decided = _PerImage()

    def update(self, logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor,
               valid: torch.Tensor) -> None:
        logits, labels = logits[valid], labels[valid]
        if self.classes is not None:
            cls = self.classes.to(logits.device)
            logits = logits[:, cls]
            top = cls[logits.topk(min(5, logits.shape[1]), dim=1).indices]
        else:
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hit = top == labels[:, None]
        self.decided.add(indices.to(valid.device)[valid], top[:, 0], labels)
        self.correct1 += int(hit[:, 0].sum())
        self.correct5 += int(hit.any(dim=1).sum())
        self.n += int(labels.numel())

    def result(self) -> dict[str, float]:
        if self.n == 0:
            return {"top1": float("nan"), "top5": float("nan"), "n": 0}
        return {"top1": 100.0 * self.correct1 / self.n, "top5": 100.0 * self.correct5 / self.n, "n": self.n}

    def per_image(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """(index, top-1 class, label, "imagenet-1k") of every counted image."""
        return (*self.decided.arrays(), "imagenet-1k")


class ReaL:
    """ReaL accuracy: a top-1 prediction is correct if it is in the image's ReaL label list;
    images with an empty list are left out (46,837 of 50,000 count)."""

    def __init__(self, targets: list[list[int]]):
        self.targets = targets
        self.correct = 0
        self.n = 0
        self.decided = _PerImage()

    def update(self, logits, labels, indices, valid) -> None:
        top1 = logits.argmax(dim=1)
        self.decided.add(indices.to(valid.device)[valid], top1[valid], labels[valid])
        pred = top1.tolist()
        for p, i, ok in zip(pred, indices.tolist(), valid.tolist()):
            real = self.targets[i]
            if ok and real:
                self.correct += p in real
                self.n += 1

    def result(self) -> dict[str, float]:
        return {"top1": 100.0 * self.correct / self.n if self.n else float("nan"), "n": self.n}

    def per_image(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """(index, top-1 class, ImageNet label, "imagenet-1k") of every read image, also those without
        ReaL labels: re-score with ``real_accuracy``."""
        return (*self.decided.arrays(), "imagenet-1k")


def real_accuracy(index: np.ndarray, pred: np.ndarray, targets: list[list[int]]) -> float:
    """ReaL accuracy in percent of top-1 decisions ``pred`` of images ``index`` (as ``ReaL`` counts)."""
    correct = n = 0
    for p, i in zip(pred.tolist(), index.tolist()):
        if targets[i]:
            correct += p in targets[i]
            n += 1
    return 100.0 * correct / n if n else float("nan")

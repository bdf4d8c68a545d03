"""Accuracy accumulators: fed logits batch by batch, they return percentages.

Each accumulator has ``update(logits, labels, indices, valid)`` and ``result()``;
the runner creates one per (model, condition). ``indices`` are the images'
positions in their ImageList, ``valid`` is False for images that could not be
read (``--skip_unreadable``), which are left out of every count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class TopK:
    """Top-1 and top-5 accuracy in percent, optionally over a subset of the 1000 classes
    (ImageNet-A and -R: the logits are restricted to the dataset's own 200 classes
    before the argmax, labels stay ImageNet-1k indices)."""

    def __init__(self, classes: Sequence[int] | None = None):
        self.classes = None if classes is None else torch.as_tensor(list(classes), dtype=torch.long)
        self.correct1 = 0
        self.correct5 = 0
        self.n = 0

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
        self.correct1 += int(hit[:, 0].sum())
        self.correct5 += int(hit.any(dim=1).sum())
        self.n += int(labels.numel())

    def result(self) -> dict[str, float]:
        if self.n == 0:
            return {"top1": float("nan"), "top5": float("nan"), "n": 0}
        return {"top1": 100.0 * self.correct1 / self.n, "top5": 100.0 * self.correct5 / self.n, "n": self.n}


class ReaL:
    """ReaL accuracy: a top-1 prediction is correct if it is in the image's ReaL label list;
    images with an empty list are left out (46,837 of 50,000 count)."""

    def __init__(self, targets: list[list[int]]):
        self.targets = targets
        self.correct = 0
        self.n = 0

    def update(self, logits, labels, indices, valid) -> None:
        pred = logits.argmax(dim=1).tolist()
        for p, i, ok in zip(pred, indices.tolist(), valid.tolist()):
            real = self.targets[i]
            if ok and real:
                self.correct += p in real
                self.n += 1

    def result(self) -> dict[str, float]:
        return {"top1": 100.0 * self.correct / self.n if self.n else float("nan"), "n": self.n}

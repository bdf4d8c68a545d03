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
        # Counts stay on the logits' device (no host-device sync per batch); result() reads them once.
        self.correct1 = 0
        self.correct5 = 0
        self.n = 0

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

    def result(self) -> dict[str, float]:
        n, correct1, correct5 = (int(v) for v in (self.n, self.correct1, self.correct5))
        if n == 0:
            return {"top1": float("nan"), "top5": float("nan"), "n": 0}
        return {"top1": 100.0 * correct1 / n, "top5": 100.0 * correct5 / n, "n": n}


class ReaL:
    """ReaL accuracy: a top-1 prediction is correct if it is in the image's ReaL label list;
    images with an empty list are left out (46,837 of 50,000 count)."""

    def __init__(self, targets: list[list[int]]):
        self.targets = targets
        self._batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (pred, indices, valid)

    def update(self, logits, labels, indices, valid) -> None:
        # Predictions stay on the device until result(): one host-device sync per pass, not per batch.
        self._batches.append((logits.argmax(dim=1), indices, valid))

    def result(self) -> dict[str, float]:
        correct = n = 0
        if self._batches:
            pred, indices, valid = (torch.cat([b[k].cpu() for b in self._batches]).tolist() for k in range(3))
            for p, i, ok in zip(pred, indices, valid):
                real = self.targets[i]
                if ok and real:
                    correct += p in real
                    n += 1
        return {"top1": 100.0 * correct / n if n else float("nan"), "n": n}

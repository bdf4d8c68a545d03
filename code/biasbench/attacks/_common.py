"""What every attack needs: argument checks, eval mode for the attack's duration, gradients
that work under a caller's ``no_grad``/``inference_mode``, and the input gradient itself."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from ..errors import ConfigError


def check_eps(eps: float, what: str = "eps") -> float:
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} {eps!r} is not a number (expected a value in [0, 1] such as 0.5/255)") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{what} {eps!r} is out of range (expected a value in [0, 1] on the [0, 1] image "
                          "scale, e.g. 0.5/255 = 0.00196)")
    return value


def check_batch(images: torch.Tensor, labels: torch.Tensor) -> None:
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"images must be a float tensor B x C x H x W, got {tuple(images.shape)} {images.dtype}")
    if labels.shape != images.shape[:1] or labels.dtype != torch.long:
        raise ValueError(f"labels must be a LongTensor of shape ({images.shape[0]},), got "
                         f"{tuple(labels.shape)} {labels.dtype}")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must lie in [0, 1] (normalisation belongs in the model wrapper), got values in "
                         f"[{float(images.min()):.4g}, {float(images.max()):.4g}]")


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode while attacking (batch-norm statistics frozen, dropout off), then every
    submodule's own training flag back, so a partly frozen model comes back as it was."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


@contextmanager
def gradients_enabled() -> Iterator[None]:
    """Autograd on, even when the caller runs under ``torch.no_grad()`` or ``inference_mode``."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def as_plain(t: torch.Tensor) -> torch.Tensor:
    """A detached copy usable by autograd (inference tensors cannot be)."""
    return t.detach().clone()


def input_grad(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient of the cross-entropy w.r.t. the input only (no parameter ``.grad`` is touched).

    The loss is summed over the batch, not averaged, so that image i's gradient does not
    depend on how many images share its batch (torchattacks averages; the two differ by the
    factor 1/B, which never changes a sign and is exact when B is a power of two)."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad

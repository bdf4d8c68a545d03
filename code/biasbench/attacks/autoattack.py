"""AutoAttack (Croce & Hein 2020) under L-inf, through torchattacks.

torchattacks' ``AutoAttack`` composes the right attacks but not with the original
settings: its APGD/APGD-T/FAB run 10 iterations instead of 100, and its targeted attacks
try every other class (999 on ImageNet) instead of the 9 most likely ones. This wrapper
restores the original ``standard`` settings (100 iterations, 9 target classes, Square with
5000 queries) unless told otherwise, keeps the model's parameters free of gradients (FAB
calls ``backward()``), and leaves the caller's global RNG as it was (torchattacks reseeds it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..errors import ConfigError
from ._common import as_plain, check_batch, check_eps, eval_mode, gradients_enabled

VERSIONS = ("standard", "plus", "rand")


@contextmanager
def _frozen_parameters(model: torch.nn.Module) -> Iterator[None]:
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def autoattack(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, *,
               version: str = "standard", seed: int = 0, n_classes: int | None = None, steps: int = 100,
               n_target_classes: int = 9, n_queries: int = 5000) -> torch.Tensor:
    """L-inf AutoAttack on ``images`` in [0, 1]; returns adversarial images (an image no
    sub-attack fools comes back unchanged). ``n_classes`` defaults to the model's output width.
    ``steps`` (APGD, APGD-T, FAB iterations), ``n_target_classes`` and ``n_queries`` (Square)
    default to the original AutoAttack; lower them only for quick checks. Deterministic for a
    given ``seed`` and batch, but, unlike :func:`pgd_linf`, not independent of batching."""
    try:
        import torchattacks
    except ImportError:
        raise ConfigError("AutoAttack needs torchattacks, which is not installed: "
                          "pip install 'torchattacks>=3.5.1,<4'") from None
    eps = check_eps(eps)
    if version not in VERSIONS:
        raise ConfigError(f"AutoAttack version {version!r} is unknown (expected one of {', '.join(VERSIONS)})")
    for name, value in (("steps", steps), ("n_target_classes", n_target_classes), ("n_queries", n_queries)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"AutoAttack {name} {value!r} must be a positive integer")
    check_batch(images, labels)
    devices = [images.device] if images.device.type == "cuda" else []
    with eval_mode(model), _frozen_parameters(model), gradients_enabled(), torch.random.fork_rng(devices=devices):
        x, y = as_plain(images), as_plain(labels)
        if n_classes is None:
            with torch.no_grad():
                n_classes = int(model(x[:1]).shape[1])
        atk = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version=version, n_classes=n_classes, seed=seed)
        for sub in atk._autoattack.attacks:  # the MultiAttack's members: APGD, APGDT, FAB, Square
            if hasattr(sub, "steps"):
                sub.steps = steps
            if hasattr(sub, "n_target_classes"):
                sub.n_target_classes = min(n_target_classes, n_classes - 1)
            if hasattr(sub, "n_queries"):
                sub.n_queries = n_queries
        adv = atk(x, y)
    return adv.detach()

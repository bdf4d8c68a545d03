"""L-inf PGD (Madry et al.) and FGSM on [0,1] images, as the paper's adversarial benchmark uses them.

PGD-40: 40 steps of absolute size 2/255 (kept even when larger than eps), uniform random
start in the eps-ball, cross-entropy, bounds [0, 1]. The update order matches torchattacks'
``PGD`` (step, project onto the ball, clip to [0, 1]), so the two agree bit for bit without a
random start. The random start of image i is a pure function of ``seeds[i]`` (the
counter-based generator of ``biasbench.rng``), so adversarial images do not depend on batch
size, batch order, the global RNG or the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import rng
from ..errors import ConfigError
from ._common import as_plain, check_batch, check_eps, eval_mode, gradients_enabled, input_grad

_MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def image_seeds(seed: int, indices: torch.Tensor) -> torch.Tensor:
    """One generator seed per image from the run's ``seed`` and each image's global index in
    its dataset (splitmix64 of both), as a CPU LongTensor of non-negative values."""
    base = _splitmix64(int(seed) & _MASK64)
    return torch.tensor([_splitmix64(base ^ (int(i) & _MASK64)) >> 1 for i in indices.tolist()], dtype=torch.long)


_START_KEY = rng.stream_key("pgd|random start")


def _uniform_start(x: torch.Tensor, eps: float, seeds: torch.Tensor | None) -> torch.Tensor:
    if seeds is None:  # the global RNG, drawn exactly as torchattacks draws it
        return torch.empty_like(x).uniform_(-eps, eps)
    # U(-eps, eps) as -eps + 2 eps u, u on a 24-bit grid: each op is correctly rounded, so every
    # device gives the same bits. Drawn in (C, H, W) order whatever x's memory format.
    u = rng.uniform(_START_KEY, seeds, x[0].numel(), device=x.device)
    return (u * (2.0 * eps) - eps).to(x.dtype).view(x.shape)


def pgd_linf(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, *,
             steps: int = 40, step_size: float = 2 / 255, random_start: bool = True,
             seeds: torch.Tensor | None = None) -> torch.Tensor:
    """Untargeted L-inf PGD on ``images`` (float B x C x H x W in [0, 1]) with true ``labels``.

    ``seeds`` (LongTensor [B], e.g. ``image_seeds(seed, indices)``) seeds image i's random
    start; ``None`` draws it from the global RNG like torchattacks. The model runs in eval mode
    (each submodule's mode is restored afterwards) and its parameters get no gradients.
    Returns detached adversarial images with ``|adv - images| <= eps`` and values in [0, 1].
    """
    eps = check_eps(eps)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"PGD steps {steps!r} must be a non-negative integer (the paper uses 40)")
    if not step_size > 0:
        raise ConfigError(f"PGD step size {step_size!r} must be positive (the paper uses 2/255)")
    check_batch(images, labels)
    if seeds is not None and (seeds.shape != images.shape[:1] or seeds.dtype != torch.long):
        raise ValueError(f"seeds must be a LongTensor of shape ({images.shape[0]},), got "
                         f"{tuple(seeds.shape)} {seeds.dtype}")
    with eval_mode(model), gradients_enabled():
        x, y = as_plain(images), as_plain(labels)
        adv = x.clone()
        if random_start:
            adv = torch.clamp(adv + _uniform_start(x, eps, seeds), 0, 1)
        for _ in range(steps):
            adv = adv + step_size * input_grad(model, adv, y).sign()
            delta = torch.clamp(adv - x, -eps, eps)
            adv = torch.clamp(x + delta, 0, 1)
    return adv.detach()


def fgsm(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM: one signed-gradient step of size ``eps`` from the clean image, clipped to [0, 1]
    (no random start). Same model handling as :func:`pgd_linf`."""
    eps = check_eps(eps)
    check_batch(images, labels)
    with eval_mode(model), gradients_enabled():
        x, y = as_plain(images), as_plain(labels)
        adv = torch.clamp(x + eps * input_grad(model, x, y).sign(), 0, 1)
    return adv.detach()


@dataclass(frozen=True)
class PGDAttack:
    """PGD as a runner attack ``(model, images, labels, indices) -> adversarial images``:
    the random start of each image is seeded from ``seed`` and the image's dataset index."""

    eps: float
    steps: int = 40
    step_size: float = 2 / 255
    random_start: bool = True
    seed: int = 0

    def __call__(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                 indices: torch.Tensor) -> torch.Tensor:
        return pgd_linf(model, images, labels, self.eps, steps=self.steps, step_size=self.step_size,
                        random_start=self.random_start, seeds=image_seeds(self.seed, indices))

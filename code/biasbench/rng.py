"""Counter-based random numbers from integer tensor ops: the same draws on every device.

A draw is a pure function of (key, counter), computed with Philox4x32-10 (Salmon et al.,
"Parallel random numbers: as easy as 1, 2, 3", SC 2011; the generator behind cuRAND and
JAX) in int64 tensor arithmetic that is exact on every device: no generator object, no
state, no dependence on batch size, batch order, worker count or the device's own RNG.

The 128-bit counter of element ``j`` of image ``i`` in draw round ``r`` is
``(j, r, i mod 2**32, i div 2**32)``; the 64-bit key names the stream (e.g. one
critical-band condition). The 32-bit words are bit-identical on CPU and CUDA. Uniforms are
exact functions of those words; normals (Box-Muller) go through log, sqrt, cos and sin,
whose CPU and CUDA implementations may differ by an ulp or two (about 1e-16 relative in
float64), see docs/devices.md.
"""

from __future__ import annotations

import hashlib
import math

import torch
from torch import Tensor

_M32 = 0xFFFFFFFF
_PHILOX_M = (0xD2511F53, 0xCD9E8D57)
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)
ROUNDS = 10


def stream_key(name: str) -> int:
    """A 64-bit key for a named stream (blake2b of the name), e.g. ``"criticalband|seed=0|band=3|sd=0.08"``."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _mulhilo(a: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """High and low 32-bit words of ``a * m`` for 32-bit ``a`` (int64 tensor) and constant ``m``.

    ``m`` is split into 16-bit halves so no intermediate exceeds 2**49: int64 never overflows."""
    m_hi, m_lo = m >> 16, m & 0xFFFF
    p_hi, p_lo = a * m_hi, a * m_lo
    hi = (p_hi + (p_lo >> 16)) >> 16
    lo = (((p_hi & 0xFFFF) << 16) + p_lo) & _M32
    return hi, lo


def philox4x32(counter: Tensor, key: tuple[int, int], rounds: int = ROUNDS) -> Tensor:
    """Philox4x32 of ``counter`` (int64 ``[..., 4]``, words in [0, 2**32)) under ``key`` (two 32-bit
    words); returns int64 ``[..., 4]`` of 32-bit words. Matches the Random123 known-answer vectors."""
    c0, c1, c2, c3 = counter.unbind(-1)
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + _PHILOX_W[0]) & _M32, (k1 + _PHILOX_W[1]) & _M32
        hi0, lo0 = _mulhilo(c0, _PHILOX_M[0])
        hi1, lo1 = _mulhilo(c2, _PHILOX_M[1])
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return torch.stack([c0, c1, c2, c3], dim=-1)


def _counters(images: Tensor, n: int, draw: int, device) -> Tensor:
    """Counters ``[B, n, 4]`` of elements 0..n-1 of each image in ``images`` (int64 ``[B]``)."""
    images = torch.as_tensor(images, dtype=torch.long).reshape(-1).to(device, non_blocking=True)
    j = torch.arange(n, dtype=torch.long, device=device).expand(images.numel(), n)
    i = images[:, None].expand_as(j)
    return torch.stack([j, torch.full_like(j, draw & _M32), i & _M32, (i >> 32) & _M32], dim=-1)


def _key(key: int) -> tuple[int, int]:
    return key & _M32, (key >> 32) & _M32


def uniform(key: int, images: Tensor, n: int, *, draw: int = 0, device="cpu") -> Tensor:
    """``n`` float64 uniforms in [0, 1) per image, on 24-bit grids (exact in float32): ``[B, n]``.

    Element ``4q + w`` is word ``w`` of counter ``q``, shifted to its top 24 bits, times 2**-24."""
    words = philox4x32(_counters(images, -(-n // 4), draw, device), _key(key))
    return ((words >> 8).to(torch.float64) * 2.0 ** -24).flatten(1)[:, :n]


def normal(key: int, images: Tensor, n: int, *, draw: int = 0, device="cpu") -> Tensor:
    """``n`` float64 standard normals per image: ``[B, n]``, by Box-Muller.

    Counter ``q`` gives two 53-bit uniforms u1 = (w0 >> 5, w1 >> 6) and u2 = (w2 >> 5, w3 >> 6),
    each offset by half a grid step so u1 > 0; elements 2q and 2q + 1 are
    sqrt(-2 ln u1) cos(2 pi u2) and sqrt(-2 ln u1) sin(2 pi u2)."""
    z0, z1 = _box_muller(philox4x32(_counters(images, -(-n // 2), draw, device), _key(key)))
    return torch.stack([z0, z1], dim=-1).flatten(1)[:, :n]


def _box_muller(words: Tensor) -> tuple[Tensor, Tensor]:
    w0, w1, w2, w3 = words.unbind(-1)
    u1 = (((w0 >> 5) << 26) + (w1 >> 6)).to(torch.float64).add_(0.5).mul_(2.0 ** -53)
    u2 = (((w2 >> 5) << 26) + (w3 >> 6)).to(torch.float64).add_(0.5).mul_(2.0 ** -53)
    radius = u1.log_().mul_(-2.0).sqrt_()
    angle = u2.mul_(2.0 * math.pi)
    return radius * angle.cos(), radius * angle.sin()


def normal_at(key: int, images: Tensor, elements: Tensor, *, draw: int = 0) -> Tensor:
    """Element ``elements[k]`` of image ``images[k]`` of :func:`normal`'s stream (1-D int64
    tensors on one device): the same value ``normal`` gives there, for a few scattered elements."""
    i, e = images.to(torch.long), elements.to(torch.long)
    counter = torch.stack([e >> 1, torch.full_like(e, draw & _M32), i & _M32, (i >> 32) & _M32], dim=-1)
    z0, z1 = _box_muller(philox4x32(counter, _key(key)))
    return torch.where(e % 2 == 0, z0, z1)

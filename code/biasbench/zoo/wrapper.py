"""The [0,1]-input wrapper: every model of the suite takes RGB in [0,1] and normalises itself."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class NormalizedModel(nn.Module):
    """``model((x - mean) / std)`` for NCHW RGB input ``x`` in [0,1]; mean/std are per-channel buffers,
    so they follow ``.to(device)`` and appear in ``state_dict()`` as ``mean``/``std``."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float], name: str = ""):
        super().__init__()
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise ValueError(f"mean and std need 3 channel values (std > 0), got mean={mean}, std={std}")
        self.model = model
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, 3, 1, 1))
        self.name = name
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)

    def head(self, name: str):
        """The wrapped model's extra output ``name`` (e.g. a zero-shot model's ``sixteen``: the 16 categories' own
        head) as a function of [0,1] input, or None when it has none."""
        fn = getattr(self.model, name, None)
        if not callable(fn):
            return None
        return lambda x: fn((x - self.mean) / self.std)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"

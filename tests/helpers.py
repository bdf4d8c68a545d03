"""Small models and image folders shared by tests."""

import numpy as np
import torch
from PIL import Image
from torch import nn

from biasbench.data.synsets import imagenet_wnids


class TinyNet(nn.Module):
    """A deterministic 1000-way classifier that is fast on CPU and reacts to colour and layout."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(48, 1000)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(1000, 48, generator=g))
            self.fc.bias.copy_(torch.randn(1000, generator=g) * 0.1)

    def forward(self, x):
        return self.fc(self.pool(x).flatten(1))


def write_val_tree(root, classes, per_class=2, size=(72, 60)):
    """ROOT/val/<wnid>/ILSVRC2012_val_<n>.JPEG with random content; returns root."""
    wnids = imagenet_wnids()
    n = 0
    for c in classes:
        for k in range(per_class):
            n += 1
            rng = np.random.default_rng(1000 * c + k)
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            path = root / "val" / wnids[c] / f"ILSVRC2012_val_{c * 50 + k + 1:08d}.JPEG"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(path, "JPEG")
    return root

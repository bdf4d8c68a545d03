"""The demo model and the demo run (``make demo``): no download, real code paths.

The demo model is a torchvision ResNet-50 with random, frozen convolutions (seeded),
batch-norm statistics calibrated on synthetic training images, and a linear head
fitted (ridge regression) on those images' features, so its accuracies are clearly
above chance on the synthetic classes and respond to the benchmarks' corruptions.
The head is fitted on each training image and on its noise-free critical-band stimulus
(grey, contrast 0.2: README "Bias measurements"), so the critical-band fit has a
clean accuracy above chance to start from rather than a flat curve.
It is saved as an ordinary state dict and evaluated through ``file://`` like a
user's own checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision

from .data.decode import decode
from .data.imagelist import RESIZE_CROP, list_images
from .data.synsets import label_of
from .transforms.criticalband import low_contrast_grey

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _train_images(train_root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Every training image, then its critical-band stimulus (3 grey channels), normalised; their labels."""
    xs, ys = [], []
    for d in sorted(p for p in train_root.iterdir() if p.is_dir()):
        for f in list_images(d):
            xs.append(decode(f, RESIZE_CROP))
            ys.append(label_of(d.name, str(train_root)))
    images = torch.stack(xs)
    grey = low_contrast_grey(images, torch.float32).unsqueeze(1).expand(-1, 3, -1, -1)
    x = torch.cat([images.float() / 255, grey])
    return (x - MEAN) / STD, torch.tensor(ys).repeat(2)


def build_demo_model(train_root: str | Path, out: str | Path, *, seed: int = 0, ridge: float = 1e-2,
                     arch: str = "resnet50") -> Path:
    """Write the demo model's state dict (torchvision ``arch``, a ResNet) to ``out`` (fitted on ``train_root/<wnid>/*``)."""
    torch.manual_seed(seed)
    net = getattr(torchvision.models, arch)(weights=None)
    x, y = _train_images(Path(train_root))
    # Calibrate batch-norm statistics on the training images (cumulative average), so the
    # random features are well scaled; nothing else is trained.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    net.train()
    with torch.no_grad():
        for i in range(0, len(x), 32):
            net(x[i:i + 32])
    net.eval()
    feats = []
    body = torch.nn.Sequential(*list(net.children())[:-1])
    with torch.no_grad():
        for i in range(0, len(x), 32):
            feats.append(body(x[i:i + 32]).flatten(1))
    f = torch.cat(feats).double()
    mu, sd = f.mean(0), f.std(0) + 1e-6
    z = (f - mu) / sd
    onehot = torch.nn.functional.one_hot(y, 1000).double()
    target = onehot - onehot.mean(0)
    w = torch.linalg.solve(z.T @ z + ridge * len(z) * torch.eye(z.shape[1], dtype=z.dtype), z.T @ target)
    # logits = ((f - mu) / sd) @ w + bias, folded into the fc layer; absent classes get a low bias.
    weight = (w / sd[:, None]).T
    bias = onehot.mean(0) - (mu / sd) @ w
    bias[onehot.sum(0) == 0] = -10.0
    with torch.no_grad():
        net.fc.weight.copy_(weight.float())
        net.fc.bias.copy_(bias.float())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": net.state_dict(), "note": "biasbench demo model"}, out)
    return out


def train_accuracy(path: str | Path, train_root: str | Path, arch: str = "resnet50") -> float:
    """Top-1 accuracy (%) of a saved demo model on its own training images (a sanity figure)."""
    net = getattr(torchvision.models, arch)(weights=None)
    net.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    x, y = _train_images(Path(train_root))
    with torch.no_grad():
        pred = torch.cat([net.eval()(x[i:i + 32]).argmax(1) for i in range(0, len(x), 32)])
    return float(100.0 * np.mean((pred == y).numpy()))

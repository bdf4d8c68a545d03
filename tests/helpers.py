"""Small models, image folders, the paper's preprocessing written independently, and the pixel keys
of the oracle models: what several test files share."""

import hashlib

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T

from biasbench.benchmarks.base import Benchmark
from biasbench.data.synsets import imagenet_wnids

# The paper's preprocessing by PIL + torchvision directly: the independent source the suite's own
# decoding (biasbench.data.decode.decode) is checked against.
PAPER_RESIZE_CROP = T.Compose([T.Resize(256), T.CenterCrop(224)])
PAPER_PREPROCESS = T.Compose([PAPER_RESIZE_CROP, T.ToTensor()])


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


def paper_batch(images) -> torch.Tensor:
    """Every image of ``images`` (an ImageList) through PAPER_PREPROCESS, stacked; raises whatever PIL
    raises for a file it cannot read."""
    return torch.stack([PAPER_PREPROCESS(Image.open(images.path(i)).convert("RGB")) for i in range(len(images))])


def reference_top1(net, images) -> float:
    """Top-1 of ``net`` on ``images`` by PIL + torchvision directly (paper_batch); raises whatever PIL
    raises for a file it cannot read."""
    x = paper_batch(images)
    with torch.no_grad():
        pred = net(x).argmax(1)
    return 100.0 * (pred == torch.as_tensor(images.labels)).float().mean().item()


def nudged_tinynet(images, seed: int = 0) -> TinyNet:
    """A TinyNet(seed) nudged towards the class of every other image of ``images`` (from the
    ``seed % 2``-th on), so its accuracy is neither 0 nor 100."""
    net = TinyNet(seed)
    with torch.no_grad():
        for i in range(seed % 2, len(images), 2):
            feat = net.pool(PAPER_PREPROCESS(Image.open(images.path(i)).convert("RGB"))[None]).flatten(1)[0]
            net.fc.weight[images.labels[i]] += 5 * feat / feat.norm()
    return net


def interpolating_tinynet(x: torch.Tensor, labels: torch.Tensor, seed: int, scale: float = 1.0) -> TinyNet:
    """A TinyNet(seed) whose head interpolates the images ``x`` (least squares, times ``scale``), so it
    is right on all of them and transforms of them cost accuracy."""
    net = TinyNet(seed)
    with torch.no_grad():
        feats = net.pool(x).flatten(1)
        onehot = torch.nn.functional.one_hot(labels, 1000).float()
        net.fc.weight.copy_((torch.linalg.pinv(feats) @ onehot).T * scale)
        net.fc.bias.zero_()
    return net


class ImagesBenchmark(Benchmark):
    """A test benchmark over one ImageList, ``self.images``: a subclass gives its ``name`` and
    ``conditions()``; columns ``top1_acc/<condition>`` unless it says otherwise."""

    def __init__(self, images):
        self.images = images

    def columns(self, condition, result):
        return {f"top1_acc/{condition.name}": result["top1"]}


class Loader:
    """Model loader that counts loads, standing in for the zoo."""

    def __init__(self, **models):
        self.models, self.calls = models, []

    def __call__(self, name, device):
        self.calls.append(name)
        return self.models[name]


# ----------------------------------------------------------------------------- oracle models' keys

def pixel_key(chw: np.ndarray) -> str:
    """The key an oracle model recognises an image by: SHA-1 of its 3 x H x W uint8 pixels."""
    return hashlib.sha1(np.ascontiguousarray(chw, dtype=np.uint8).tobytes()).hexdigest()


def pixel_keys(x: torch.Tensor) -> list[str]:
    """pixel_key of every image of a batch as the runner feeds a model (float, [0, 1])."""
    return [pixel_key(img) for img in (x * 255).round().to(torch.uint8).cpu().numpy()]


def file_key(path, resize_crop: bool = False) -> str:
    """pixel_key of an image file as PIL reads it (independent of the suite's decoder), after the
    paper's Resize(256)/CenterCrop(224) with ``resize_crop``."""
    with Image.open(path) as im:
        img = im.convert("RGB")
    if resize_crop:
        img = PAPER_RESIZE_CROP(img)
    return pixel_key(np.asarray(img).transpose(2, 0, 1))

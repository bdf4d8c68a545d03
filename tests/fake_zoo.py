"""A stand-in for the model zoo in tests that run the command line, also in subprocesses.

Models are named ``tinynet://PATH[?sleep=S&oom_above=B&nan_batch=K&trace=FILE]``: a ``helpers.TinyNet``
state dict the test saved at PATH, optionally slowed down (S seconds per forward), raising CUDA
out-of-memory for batches larger than B, giving NaN logits from its K-th forward call on, or
appending one line to FILE per forward call (so a test can kill the process at a chosen point).
``install()`` replaces ``biasbench.zoo.resolve_models`` and ``load_model``, the two names the
command line calls; ``tests/fake_site/sitecustomize.py`` calls it in every Python subprocess
started with ``subprocess_env()``, so ``python code/eval_imagenet.py`` and sweep jobs load these
models without a network or a real checkpoint.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from urllib.parse import parse_qsl

PREFIX = "tinynet://"
TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def resolve_models(text: str, local=None, **_cache) -> list[str]:
    from biasbench.errors import ModelError

    names = [t.strip() for t in str(text).split(",") if t.strip()]
    for name in names:
        if not name.startswith(PREFIX):
            raise ModelError(f"unknown model {name!r} (the test zoo only has {PREFIX}PATH models)")
    if not names:
        raise ModelError("no model named")
    return names


def load_model(name: str, device="cpu", **_):
    import torch

    from helpers import TinyNet

    body = name[len(PREFIX):]
    path, _, query = body.partition("?")
    opts = dict(parse_qsl(query))
    net = TinyNet()
    net.load_state_dict(torch.load(path, weights_only=True))
    return behaving_class()(net, float(opts.get("sleep", 0)), int(opts.get("oom_above", 0)),
                            int(opts.get("nan_batch", -1)), opts.get("trace"))


@functools.lru_cache(maxsize=None)
def behaving_class():
    import torch

    class Behaving(torch.nn.Module):
        """TinyNet with test behaviours: slow, out of memory above a batch size, NaN from a call on."""

        def __init__(self, net, sleep=0.0, oom_above=0, nan_batch=-1, trace=None):
            super().__init__()
            self.net, self.sleep, self.oom_above, self.nan_batch = net, sleep, oom_above, nan_batch
            self.trace, self.calls = trace, 0

        def forward(self, x):
            if self.oom_above and len(x) > self.oom_above:
                raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (test: batch {len(x)} > {self.oom_above})")
            if self.sleep:
                time.sleep(self.sleep)
            out = self.net(x)
            self.calls += 1
            if 0 <= self.nan_batch < self.calls:
                out = out * float("nan")
            if self.trace:
                with open(self.trace, "a") as f:
                    f.write(f"{len(x)}\n")
            return out

    return Behaving


def install() -> None:
    from biasbench import zoo

    zoo.resolve_models = resolve_models
    zoo.load_model = load_model


def fitted_tinynet(images, seed: int = 0, every: int = 2):
    """A TinyNet made right on every ``every``-th image of ``images`` (an ImageList): the row of
    that image's class gets its centred features, so accuracy is neither 0 nor 100."""
    import torch

    from biasbench.data.decode import decode

    from helpers import TinyNet

    net = TinyNet(seed)
    with torch.no_grad():
        feats = torch.cat([net.pool(decode(images.path(i), images.preprocess).float().div(255)[None]).flatten(1)
                           for i in range(len(images))])
        centred = feats - feats.mean(0)
        for i in range(0, len(images), every):
            net.fc.weight[int(images.labels[i])] += 40 * centred[i] / centred[i].norm()
            net.fc.bias[int(images.labels[i])] -= 40 * (centred[i] @ feats.mean(0)) / centred[i].norm()
    return net


def save_model(net, path: Path, **behaviour) -> str:
    """Save ``net``'s state dict at ``path``; returns its model name (behaviours as query options)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    query = "&".join(f"{k}={v}" for k, v in behaviour.items())
    return f"{PREFIX}{path}" + (f"?{query}" if query else "")


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a Python subprocess that should see the test zoo and this checkout."""
    env = dict(os.environ)
    parts = [str(TESTS / "fake_site"), str(TESTS), str(REPO / "code")]
    env["PYTHONPATH"] = os.pathsep.join(parts + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["BIASBENCH_FAKE_ZOO"] = "1"
    env.update(extra)
    return env


def write_blocky_val(root: Path, classes, per_class: int = 2, size=(64, 48), seed: int = 0) -> Path:
    """ROOT/val/<wnid>/ILSVRC2012_val_<n>.JPEG: 4 x 4 blocks of random colour per image, so a TinyNet
    (which pools to 4 x 4) tells the images apart and a fitted one is right on some, wrong on others."""
    import numpy as np
    from PIL import Image

    from biasbench.data.synsets import imagenet_wnids

    wnids = imagenet_wnids()
    rng = np.random.default_rng(seed)
    for c in classes:
        for k in range(per_class):
            blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
            img = Image.fromarray(blocks).resize(size, Image.NEAREST)
            path = Path(root) / "val" / wnids[c] / f"ILSVRC2012_val_{c * 50 + k + 1:08d}.JPEG"
            path.parent.mkdir(parents=True, exist_ok=True)
            img.save(path, "JPEG", quality=95)
    return Path(root)


def fitted_timm_checkpoint(images, path: Path, arch: str = "test_resnet", seed: int = 0, every: int = 2) -> str:
    """A small timm ``arch`` whose classifier is made right on every ``every``-th image of ``images``
    (as ``fitted_tinynet``), saved as a state dict at ``path``: a real checkpoint for the model zoo's
    ``file://`` loading. Returns its ``file://PATH?arch=ARCH`` spec (results are recorded under the stem)."""
    import timm
    import torch
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    from biasbench.data.decode import decode

    torch.manual_seed(seed)
    net = timm.create_model(arch, pretrained=False, num_classes=1000).eval()
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        x = torch.stack([decode(images.path(i), images.preprocess) for i in range(len(images))]).float() / 255
        feats = net.forward_head(net.forward_features((x - mean) / std), pre_logits=True)
        centred = feats - feats.mean(0)
        fc = net.get_classifier()
        for i in range(0, len(images), every):
            y, unit = int(images.labels[i]), centred[i] / centred[i].norm()
            fc.weight[y] += 40 * unit
            fc.bias[y] -= 40 * (unit @ feats.mean(0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return f"file://{path}?arch={arch}"

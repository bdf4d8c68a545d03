"""Checkpoints in the releases' real key layouts and containers, built from random weights."""

from __future__ import annotations

from functools import lru_cache

import timm
import torch
from torch import nn


def compact_random(shapes: dict[str, tuple[int, ...]], seed: int, ints: set[str] = frozenset()) -> dict:
    """Random tensors of the given shapes, each a view at its own offset into one shared random buffer:
    every tensor differs from every other, yet torch.save writes a single small storage (fast tests).
    Keys in ``ints`` become distinct int64 scalars (num_batches_tracked)."""
    g = torch.Generator().manual_seed(seed)
    biggest = max(int(torch.Size(s).numel()) for s in shapes.values())
    base = torch.randn(biggest + 4 * len(shapes), generator=g)
    out = {}
    for i, (k, shape) in enumerate(shapes.items()):
        if k in ints:
            out[k] = torch.tensor(10_000 * seed + 1000 + i)
        else:
            n = int(torch.Size(shape).numel())
            out[k] = base[4 * i: 4 * i + n].view(shape)
    return out


@lru_cache(maxsize=None)
def _r50_state(seed: int) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        net = timm.create_model("resnet50", pretrained=False)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    return compact_random(shapes, seed, {k for k in shapes if k.endswith("num_batches_tracked")})


def r50_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A ResNet-50 state dict (torchvision/timm key layout) with random values; callers get copies of the dict."""
    return dict(_r50_state(seed))


@lru_cache(maxsize=None)
def _r50_trained_like(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = timm.create_model("resnet50", pretrained=False)
    with torch.no_grad():  # non-trivial batch-norm statistics, so eval-mode BN is not the identity
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    return net.state_dict()


def r50_forward_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A ResNet-50 state dict with timm's initialisation (finite, well-scaled outputs) for forward checks."""
    return dict(_r50_trained_like(seed))


def optimizer_state(n_params: int = 3) -> dict:
    """What torch.optim.SGD.state_dict() looks like in a training checkpoint."""
    return {"state": {i: {"momentum_buffer": torch.randn(4)} for i in range(n_params)},
            "param_groups": [{"lr": 0.1, "momentum": 0.9, "dampening": 0, "weight_decay": 1e-4,
                              "nesterov": False, "params": list(range(n_params))}]}


def madrylab_checkpoint(sd: dict[str, torch.Tensor]) -> dict:
    """madrylab `robustness` format: the classifier and the attacker's copy under `module.`, plus the
    input normaliser's buffers, beside optimizer/schedule/epoch."""
    model = {f"module.model.{k}": v for k, v in sd.items()}
    # the attacker holds its own copy; make it differ so picking it would be caught
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    model.update({f"module.attacker.model.{k}": v for k, v in compact_random(shapes, seed=99).items()})
    model["module.normalizer.new_mean"] = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    model["module.normalizer.new_std"] = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    model["module.attacker.normalize.new_mean"] = model["module.normalizer.new_mean"].clone()
    model["module.attacker.normalize.new_std"] = model["module.normalizer.new_std"].clone()
    return {"model": model, "optimizer": optimizer_state(), "schedule": {"step_size": 30, "gamma": 0.1,
            "base_lrs": [0.1], "last_epoch": 90}, "epoch": 90}


def module_prefixed(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"module.{k}": v for k, v in sd.items()}


# --- SimCLRv2: the module structure of the PyTorch port of the TF release ----------------------------
# (Stem = conv + (bn, relu) + pool; stages of bottleneck blocks whose `net` Sequential holds
# conv, (bn, relu), conv, (bn, relu), conv, (bn,); projection = shortcut conv + (bn,)).


class _BNReLU(nn.Sequential):
    def __init__(self, c: int, relu: bool = True):
        super().__init__(nn.BatchNorm2d(c), *([nn.ReLU()] if relu else []))


class _Projection(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.bn = _BNReLU(cout, relu=False)


class _Bottleneck(nn.Module):
    def __init__(self, cin: int, c: int, stride: int, project: bool):
        super().__init__()
        if project:
            self.projection = _Projection(cin, 4 * c, stride)
        self.net = nn.Sequential(nn.Conv2d(cin, c, 1, bias=False), _BNReLU(c),
                                 nn.Conv2d(c, c, 3, stride, 1, bias=False), _BNReLU(c),
                                 nn.Conv2d(c, 4 * c, 1, bias=False), _BNReLU(4 * c, relu=False))


class _Blocks(nn.Module):
    def __init__(self, n: int, cin: int, c: int, stride: int):
        super().__init__()
        self.blocks = nn.ModuleList([_Bottleneck(cin if i == 0 else 4 * c, c, stride if i == 0 else 1, i == 0)
                                     for i in range(n)])


class SimCLRv2PortResNet50(nn.Module):
    def __init__(self):
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), _BNReLU(64), nn.MaxPool2d(3, 2, 1))
        self.net = nn.Sequential(stem, _Blocks(3, 64, 64, 1), _Blocks(4, 256, 128, 2), _Blocks(6, 512, 256, 2),
                                 _Blocks(3, 1024, 512, 2))
        self.fc = nn.Linear(2048, 1000)


# --- ViT layouts, written out from the releases' module structure --------------------------------------


def vit_layout(depth: int, dim: int, *, patch: int = 16, img: int = 224, final: str = "norm",
               head: int | None = None) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a ViT as saved by DINO (final='norm', no head) or fine-tuned MAE (final='fc_norm',
    head=1000): class token, position embedding, patch projection, blocks, final norm."""
    n_tok = (img // patch) ** 2 + 1
    shapes: dict[str, tuple[int, ...]] = {"cls_token": (1, 1, dim), "pos_embed": (1, n_tok, dim),
                                          "patch_embed.proj.weight": (dim, 3, patch, patch),
                                          "patch_embed.proj.bias": (dim,)}
    for i in range(depth):
        b = f"blocks.{i}."
        shapes.update({b + "norm1.weight": (dim,), b + "norm1.bias": (dim,),
                       b + "attn.qkv.weight": (3 * dim, dim), b + "attn.qkv.bias": (3 * dim,),
                       b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
                       b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
                       b + "mlp.fc1.weight": (4 * dim, dim), b + "mlp.fc1.bias": (4 * dim,),
                       b + "mlp.fc2.weight": (dim, 4 * dim), b + "mlp.fc2.bias": (dim,)})
    shapes.update({f"{final}.weight": (dim,), f"{final}.bias": (dim,)})
    if head:
        shapes.update({"head.weight": (head, dim), "head.bias": (head,)})
    return shapes


def random_state(shapes: dict[str, tuple[int, ...]], device: str = "cpu") -> dict[str, torch.Tensor]:
    if device == "meta":
        return {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    return {k: torch.randn(s) for k, s in shapes.items()}

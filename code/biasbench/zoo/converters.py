"""Key conversions from each release's checkpoint format to the timm/torchvision layout.

One small named function per source format (each entry's source is in checkpoints.md).
A converter takes the loaded checkpoint object(s) of an entry, one positional
argument per source, and returns a flat state dict that must load with
``strict=True`` into the entry's architecture. Anything unexpected raises
``ModelError`` saying what was found and what was expected; nothing is dropped
silently except keys a release is known to carry beside the network (listed in
each docstring).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ModelError

StateDict = dict[str, torch.Tensor]

# Wrapper keys of the generic unwrap, tried in this order (the authors' loader
# checks state_dict, model_state_dict, online_backbone; `model` is the timm /
# MAE / torch-recipes convention).
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "online_backbone")


def _keys_preview(obj: Mapping, n: int = 8) -> str:
    keys = list(obj.keys())
    more = f", ... ({len(keys)} keys)" if len(keys) > n else ""
    return ", ".join(repr(k) for k in keys[:n]) + more


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def as_state_dict(obj: Any, what: str) -> StateDict:
    """``obj`` as a flat ``{str: Tensor}`` dict, or a ModelError describing what it is."""
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        found = f"a dict with keys {_keys_preview(obj)}" if obj else "an empty dict"
        raise ModelError(f"{what}: expected a state dict (names -> tensors), found {found}")
    raise ModelError(f"{what}: expected a state dict (names -> tensors), found {type(obj).__name__}")


def take(obj: Any, key: str, what: str) -> StateDict:
    """The state dict stored under ``obj[key]``."""
    if not isinstance(obj, Mapping) or key not in obj:
        found = f"keys {_keys_preview(obj)}" if isinstance(obj, Mapping) else type(obj).__name__
        raise ModelError(f"{what}: expected a dict with key {key!r}, found {found}")
    return as_state_dict(obj[key], f"{what}[{key!r}]")


def strip_prefix(sd: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    """Remove ``prefix`` from the start of every key that has it (repeatedly, for nested wrappers)."""
    out = {}
    for k, v in sd.items():
        while k.startswith(prefix):
            k = k[len(prefix):]
        out[k] = v
    return out


def _linear_head(head: Any, target: str, what: str) -> StateDict:
    """A linear-evaluation head saved as ``{'state_dict': {'module.linear.weight', 'module.linear.bias'}}``."""
    sd = take(head, "state_dict", what)
    expected = {"module.linear.weight", "module.linear.bias"}
    if set(sd) != expected:
        raise ModelError(f"{what}: expected exactly the keys {sorted(expected)}, found {_keys_preview(sd)}")
    return {f"{target}.weight": sd["module.linear.weight"], f"{target}.bias": sd["module.linear.bias"]}


def _merge(backbone: StateDict, head: StateDict, what: str) -> StateDict:
    clash = sorted(set(backbone) & set(head))
    if clash:
        raise ModelError(f"{what}: the backbone already holds the head's keys {clash}")
    return {**backbone, **head}


# --- converters (referenced by name from the registry) ------------------------------------------


def identity(ckpt: Any) -> StateDict:
    """Already in the architecture's layout (timm Hugging Face weights, torchvision weights)."""
    return as_state_dict(ckpt, "checkpoint")


def generic_unwrap(ckpt: Any) -> StateDict:
    """Unwrap ``state_dict`` / ``model_state_dict`` / ``model`` / ``online_backbone`` (repeatedly, in that
    order) until a flat state dict remains, then strip ``module.`` (DataParallel) prefixes."""
    obj, path = ckpt, "checkpoint"
    while not _is_state_dict(obj):
        if not isinstance(obj, Mapping):
            raise ModelError(f"{path}: expected a state dict or a dict wrapping one, found {type(obj).__name__}")
        key = next((k for k in WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if key is None:
            raise ModelError(f"{path}: expected a state dict or a dict with one of the keys "
                             f"{list(WRAPPER_KEYS)}, found keys {_keys_preview(obj)}")
        obj, path = obj[key], f"{path}[{key!r}]"
    return strip_prefix(obj, "module.")


def madrylab_robustness(ckpt: Any) -> StateDict:
    """madrylab ``robustness`` checkpoints: key ``model``; the classifier lives under ``module.model.``.
    The attacker's copy (``module.attacker.model.*``) and the normaliser buffers (``module.normalizer.*``,
    ImageNet mean/std, applied by our wrapper instead) are dropped."""
    sd = take(ckpt, "model", "madrylab checkpoint")
    prefix = "module.model."
    out = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    if not out:
        raise ModelError(f"madrylab checkpoint['model']: no key starts with {prefix!r}; found {_keys_preview(sd)}")
    return out


def state_dict_strip_module(ckpt: Any) -> StateDict:
    """PyTorch ImageNet-example checkpoints (Geirhos SIN models, MoCo v3 linear): key ``state_dict``,
    keys prefixed ``module.`` by DataParallel."""
    return strip_prefix(take(ckpt, "state_dict", "checkpoint"), "module.")


def tsbias_drop_aux_bn(ckpt: Any) -> StateDict:
    """Shape-texture debiased models: key ``state_dict``, strip ``module.``, drop the auxiliary batch-norm
    layers (every key containing ``aux_bn``) used only for the debiasing augmentation during training."""
    sd = take(ckpt, "state_dict", "tsbias checkpoint")
    return strip_prefix({k: v for k, v in sd.items() if "aux_bn" not in k}, "module.")


def diffusionnoise_wrapper(ckpt: Any) -> StateDict:
    """Diffusion-noise training wrapper: key ``model``; the network is the wrapper's ``module`` (its noise
    layer has no weights), so every key starts ``module.``."""
    sd = take(ckpt, "model", "diffusion-noise checkpoint")
    stray = [k for k in sd if not k.startswith("module.")]
    if stray:
        raise ModelError(f"diffusion-noise checkpoint['model']: expected every key under 'module.', "
                         f"found {stray[:5]}")
    return {k[len("module."):]: v for k, v in sd.items()}


def dino_resnet50(backbone: Any, head: Any) -> StateDict:
    """DINO ResNet-50: a backbone state dict without ``fc`` plus the linear-evaluation head
    (``module.linear.*`` -> ``fc.*``)."""
    bb = strip_prefix(as_state_dict(backbone, "DINO backbone"), "module.")
    return _merge(bb, _linear_head(head, "fc", "DINO linear head"), "DINO")


SWAV_TRAINING_HEADS = ("projection_head.", "prototypes.")


def swav_resnet50(backbone: Any, head: Any) -> StateDict:
    """SwAV ResNet-50: backbone keys under ``module.`` plus the training-only projection head and
    prototypes (dropped), and the linear-evaluation head (``module.linear.*`` -> ``fc.*``)."""
    bb = strip_prefix(as_state_dict(backbone, "SwAV backbone"), "module.")
    bb = {k: v for k, v in bb.items() if not k.startswith(SWAV_TRAINING_HEADS)}
    return _merge(bb, _linear_head(head, "fc", "SwAV linear head"), "SwAV")


def dino_vit(backbone: Any, head: Any) -> StateDict:
    """DINO ViT-B/16: timm-layout backbone without a head plus a linear head on the class token
    (``module.linear.*`` -> ``head.*``)."""
    bb = as_state_dict(backbone, "DINO ViT backbone")
    return _merge(bb, _linear_head(head, "head", "DINO ViT linear head"), "DINO ViT")


# SimCLRv2 PyTorch port of the TensorFlow release (key `resnet`): stem `net.0`, stages `net.1`..`net.4`
# of bottleneck blocks `net.<L>.blocks.<B>` whose `net` Sequential holds conv, (bn, relu), conv, ...
_SIMCLR_BLOCK_PARTS = {"net.0": "conv1", "net.1.0": "bn1", "net.2": "conv2", "net.3.0": "bn2",
                       "net.4": "conv3", "net.5.0": "bn3",
                       "projection.shortcut": "downsample.0", "projection.bn.0": "downsample.1"}
_SIMCLR_STEM = {"net.0.0": "conv1", "net.0.1.0": "bn1", "fc": "fc"}
_SIMCLR_BLOCK = re.compile(r"net\.([1-4])\.blocks\.(\d+)\.(" +
                           "|".join(re.escape(p) for p in _SIMCLR_BLOCK_PARTS) + r")\.([a-z_]+)")
_SIMCLR_TOP = re.compile(r"(" + "|".join(re.escape(p) for p in _SIMCLR_STEM) + r")\.([a-z_]+)")


def simclrv2_tf_port(ckpt: Any) -> StateDict:
    """SimCLRv2 ResNet-50 (1x, SK0) converted from TensorFlow: key ``resnet``, names remapped to the
    torchvision ResNet layout (stem, four stages, projection shortcut -> downsample, ``fc`` kept)."""
    sd = take(ckpt, "resnet", "SimCLRv2 checkpoint")
    out = {}
    for k, v in sd.items():
        m = _SIMCLR_BLOCK.fullmatch(k)
        if m:
            stage, block, part, leaf = m.groups()
            out[f"layer{stage}.{block}.{_SIMCLR_BLOCK_PARTS[part]}.{leaf}"] = v
            continue
        m = _SIMCLR_TOP.fullmatch(k)
        if not m:
            raise ModelError(f"SimCLRv2 checkpoint['resnet']: unrecognised key {k!r} (expected the TF-port "
                             "layout net.0.*, net.<1-4>.blocks.<b>.*, fc.*; selective-kernel or wider "
                             "variants are not supported)")
        out[f"{_SIMCLR_STEM[m.group(1)]}.{m.group(2)}"] = v
    return out


def no_weights() -> StateDict:
    """Random initialisation: nothing to load."""
    return {}

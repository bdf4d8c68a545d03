"""Models named by their library: ``timm:<name>[.<tag>]``, ``hf-hub:<org>/<repo>`` (timm's naming for any
Hugging Face repo timm can build) and ``torchvision:<builder>.<WEIGHTS>``.

Each becomes an ordinary ``ModelEntry``: the weights come through the suite's cache, SHA-256 ledger and
offline mode (``download``), the normalisation from timm's ``pretrained_cfg`` or the torchvision weights'
own transforms. Inputs stay the paper's 224x224 after Resize(256)/CenterCrop(224) (docs/models.md "Any timm or torchvision model");
``input_config`` reads the model's own input preprocessing, which ``--preprocess model`` feeds instead
(``data/model_input.py``), and which a paper-protocol run names when it differs.
"""

from __future__ import annotations

import json
from functools import lru_cache

from ..data.model_input import ModelInput
from ..errors import ModelError, did_you_mean
from . import converters as cv
from .registry import EXTRA, IMAGENET_MEAN, IMAGENET_STD, ModelEntry, Source, registry

TIMM_PREFIX = "timm:"
TORCHVISION_PREFIX = "torchvision:"
HF_HUB_PREFIX = "hf-hub:"
PREFIXES = (TIMM_PREFIX, TORCHVISION_PREFIX, HF_HUB_PREFIX)


def is_external(name: str) -> bool:
    return name.startswith(PREFIXES)


@lru_cache(maxsize=None)
def external_entry(spec: str, cache_dir=None, offline: bool | None = None) -> ModelEntry:
    """The entry of ``timm:...`` or ``torchvision:...`` (unknown names raise ModelError with close matches).
    A timm tag that the registry already holds resolves to that registry entry, so results are shared.
    An ``hf-hub:`` repo's config is read through the checkpoint cache under ``cache_dir``."""
    if spec.startswith(TIMM_PREFIX):
        return _timm_entry(spec[len(TIMM_PREFIX):])
    if spec.startswith(HF_HUB_PREFIX):
        return _hf_hub_entry(spec[len(HF_HUB_PREFIX):], cache_dir, offline)
    return _torchvision_entry(spec[len(TORCHVISION_PREFIX):])


def _timm_entry(name: str) -> ModelEntry:
    import timm
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(name) if timm.is_model(name.split(".")[0]) else None
    except RuntimeError:  # a known architecture with an unknown tag
        cfg = None
    if cfg is None:
        raise ModelError(f"timm:{name}: not a pretrained timm model"
                         f"{did_you_mean(name, timm.list_models(pretrained=True))}")
    tag = f"{cfg.architecture}.{cfg.tag}" if cfg.tag else cfg.architecture
    if not cfg.hf_hub_id:
        raise ModelError(f"timm:{tag}: its weights are not on the Hugging Face Hub in this timm version "
                         "(expected a tag with an hf_hub_id)")
    if cfg.num_classes != 1000:
        raise ModelError(f"timm:{tag}: has {cfg.num_classes} classes; the benchmarks expect ImageNet-1k's 1000")
    for entry in registry().values():
        if entry.sources == (Source("timm", tag),):
            return entry
    name = f"{TIMM_PREFIX}{tag}"
    return ModelEntry(name, EXTRA, f"timm:{tag}", (Source("timm", tag),), cv.identity, tuple(cfg.mean),
                      tuple(cfg.std), "timm pretrained_cfg", f"given as --model {name}")


def _torchvision_entry(spec: str) -> ModelEntry:
    from torchvision import models

    builder, _, weights = spec.rpartition(".")
    if not builder:
        raise ModelError(f"torchvision:{spec}: expected torchvision:<builder>.<WEIGHTS>, e.g. "
                         "torchvision:resnet50.IMAGENET1K_V2")
    if builder not in models.list_models():
        raise ModelError(f"torchvision:{spec}: {builder!r} is not a torchvision.models builder"
                         f"{did_you_mean(builder, models.list_models())}")
    enum = models.get_model_weights(builder)
    if weights not in enum.__members__:
        raise ModelError(f"torchvision:{spec}: {builder} has no weights {weights!r}; it has "
                         f"{', '.join(enum.__members__)}{did_you_mean(weights, list(enum.__members__))}")
    w = enum[weights]
    n = len(w.meta.get("categories") or [])
    if n != 1000:
        raise ModelError(f"torchvision:{spec}: weights with {n} classes; the benchmarks expect ImageNet-1k's 1000")
    t = w.transforms()
    name = f"{TORCHVISION_PREFIX}{builder}.{w.name}"  # DEFAULT resolves to the weights it stands for
    return ModelEntry(name, EXTRA, f"torchvision:{builder}", (Source("torchvision", f"{enum.__name__}.{w.name}"),),
                      cv.identity, tuple(t.mean), tuple(t.std), "torchvision weights transforms",
                      f"given as --model {name}")


def _hf_hub_entry(repo: str, cache_dir=None, offline: bool | None = None) -> ModelEntry:
    """A timm model repo on the Hub: its ``config.json`` (architecture, model_args, pretrained_cfg) is read
    through the suite's cache now, before any data, and its ``model.safetensors`` when the model loads."""
    import timm

    name = f"{HF_HUB_PREFIX}{repo}"
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise ModelError(f"{name}: expected hf-hub:<org>/<repo>, e.g. hf-hub:timm/resnet50.a1_in1k")
    cfg = _hf_hub_config(repo, cache_dir, offline)
    arch = cfg.get("architecture") if isinstance(cfg, dict) else None
    if not isinstance(arch, str) or not timm.is_model(arch):
        raise ModelError(f"{name}: timm cannot build this repo: its config.json names architecture {arch!r}, "
                         "not a timm model (expected a timm model repo, e.g. hf-hub:timm/resnet50.a1_in1k)")
    pcfg = cfg.get("pretrained_cfg") or {}
    classes = cfg.get("num_classes", pcfg.get("num_classes", 1000))
    if classes != 1000:
        raise ModelError(f"{name}: has {classes} classes; the benchmarks expect ImageNet-1k's 1000")
    kwargs = dict(cfg.get("model_args") or {}, num_classes=1000)
    return ModelEntry(name, EXTRA, f"timm:{arch}", (Source("hf", repo, "model.safetensors"),), cv.identity,
                      tuple(pcfg.get("mean", IMAGENET_MEAN)), tuple(pcfg.get("std", IMAGENET_STD)),
                      "timm pretrained_cfg (the repo's config.json)", f"given as --model {name}", arch_kwargs=kwargs)


def _hf_hub_config(repo: str, cache_dir=None, offline: bool | None = None):
    """The parsed ``config.json`` of a Hugging Face repo, through the suite's cache (under ``cache_dir``)."""
    from .download import fetch

    name = f"{HF_HUB_PREFIX}{repo}"
    path = fetch(Source("hf", repo, "config.json", role="config"), cache_dir=cache_dir, offline=offline, model=name,
                 progress=False).path
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{name}: its config.json ({path}) is not JSON ({e}); expected a timm model repo") from None


def input_config(entry: ModelEntry, cache_dir=None, offline: bool | None = None) -> ModelInput | None:
    """The input preprocessing ``entry``'s own library defines for it: timm's pretrained_cfg of a timm tag or an
    hf-hub repo, the weights' transforms of torchvision weights; None for checkpoints that carry none (the
    paper's ResNet-50 releases, file:// checkpoints), which every protocol feeds the paper's input."""
    from . import open_clip_models

    if open_clip_models.is_open_clip(entry.name):
        return open_clip_models.input_config(entry)
    if entry.name.startswith(HF_HUB_PREFIX):
        config = _hf_hub_config(entry.name[len(HF_HUB_PREFIX):], cache_dir, offline)
        return ModelInput.of_timm(config.get("pretrained_cfg") or {})
    if len(entry.sources) != 1:
        return None
    source = entry.sources[0]
    if source.kind == "timm":
        from timm.models import get_pretrained_cfg

        return ModelInput.of_timm(get_pretrained_cfg(source.location).to_dict())
    if source.kind == "torchvision":
        from torchvision.models import get_weight

        return ModelInput.of_torchvision(get_weight(source.location))
    return None

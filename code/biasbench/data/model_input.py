"""Each model's own input preprocessing, for ``--preprocess model`` (docs/models.md "Any timm or torchvision model", "Input size and
preprocessing").

The paper feeds every model 224x224 after Resize(256)/CenterCrop(224), bilinear (``imagelist.RESIZE_CROP``):
the default, ``--preprocess paper``. With ``--preprocess model`` a model whose library defines an eval
transform is fed that instead: timm's own (``resolve_data_config`` + ``create_transform``) for timm and
hf-hub models, the weights' ``transforms()`` for torchvision weights. By kind of image list:

- Resize/CenterCrop lists (ImageNet val, and with it ReaL, spectral, critical band and PGD; v2, A, R, Sketch):
  the model's own resize, crop and interpolation, at its input size.
- Lists stored as 224x224 crops (ImageNet-C, C-bar, model-vs-human): never cropped again (their content is
  already the paper's crop); resized whole to the model's input size with its interpolation where that is not
  224x224, else fed as stored.

A model's list is the paper's list itself wherever the two pipelines are the same, so such models share the
paper's passes and decoded cache.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import torch
from PIL import Image

from .imagelist import AS_IS, MODEL_SEP, RESIZE_CROP, ImageList

PAPER, MODEL = "paper", "model"
CHOICES = (PAPER, MODEL)
PAPER_INPUT = "224x224 after Resize(256)/CenterCrop(224), bilinear"


@dataclass(frozen=True)
class ModelInput:
    """A model's eval preprocessing as its library defines it: timm's data config (``crop_pct``,
    ``crop_mode``) or torchvision weights' ``resize_size``. ``size``: the (H, W) the model is fed."""

    library: str  # "timm" or "torchvision"
    size: tuple[int, int]
    interpolation: str  # torchvision's InterpolationMode value: "bilinear", "bicubic", ...
    crop_pct: float | None = None
    crop_mode: str | None = None
    mean: tuple[float, ...] | None = None  # timm: the fill of crop_mode "border"'s padding
    resize: int | None = None

    @classmethod
    def of_timm(cls, pretrained_cfg: dict) -> ModelInput:
        """From a timm ``pretrained_cfg`` (a ``PretrainedCfg.to_dict()`` or a hub config.json's), resolved by
        timm's ``resolve_data_config`` as timm's own evaluation does."""
        from timm.data import resolve_data_config

        # resolve_data_config refuses an empty cfg; a key it ignores gets timm's defaults for every field
        cfg = resolve_data_config(pretrained_cfg=dict(pretrained_cfg) or {"num_classes": 1000})
        _, h, w = cfg["input_size"]
        return cls("timm", (int(h), int(w)), str(cfg["interpolation"]), float(cfg["crop_pct"]),
                   str(cfg.get("crop_mode") or "center"), tuple(float(v) for v in cfg["mean"]))

    @classmethod
    def of_torchvision(cls, weights) -> ModelInput:
        """From torchvision weights (``weights.transforms()``: ``resize_size``, ``crop_size``, ``interpolation``).
        Its ``antialias`` is left out: images are resized as PIL images, which always antialias."""
        t = weights.transforms()
        crop = t.crop_size[0]
        resize = t.resize_size[0] if t.resize_size else None
        return cls("torchvision", (int(crop), int(crop)), str(getattr(t.interpolation, "value", t.interpolation)),
                   resize=None if resize is None else int(resize))

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def of_key(cls, key: str) -> ModelInput:
        d = json.loads(key)
        return cls(**{**d, "size": tuple(d["size"]), "mean": d["mean"] and tuple(d["mean"])})

    def describe(self) -> str:
        h, w = self.size
        how = (f"crop_pct {self.crop_pct}" + (f", crop_mode {self.crop_mode}" if self.crop_mode != "center" else "")
               if self.library == "timm" else f"Resize({self.resize})/CenterCrop({h})")
        return f"{h}x{w}, {how}, {self.interpolation}"

    def is_papers(self) -> bool:
        """Whether this pipeline makes the paper's pixels: its library's own PIL steps are Resize(256) and
        CenterCrop(224), bilinear."""
        return [repr(t) for t in _steps(RESIZE_CROP, self)] == [repr(t) for t in _paper_steps()]


def _paper_steps() -> list:
    from torchvision import transforms as T

    return [T.Resize(256, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(224)]


def _steps(base: str, mi: ModelInput) -> list:
    """The PIL steps (before ToTensor) of ``mi`` for an image list preprocessed as ``base``."""
    from torchvision import transforms as T

    mode = T.InterpolationMode(mi.interpolation)
    if base == AS_IS:  # already the paper's crop: resized whole, never cropped again
        return [] if mi.size == (224, 224) else [T.Resize(mi.size, interpolation=mode)]
    if base != RESIZE_CROP:
        raise ValueError(f"unknown preprocessing {base!r}")
    if mi.library == "timm":
        from timm.data import create_transform

        tf = create_transform(input_size=(3, *mi.size), interpolation=mi.interpolation, crop_pct=mi.crop_pct,
                              crop_mode=mi.crop_mode, mean=mi.mean, is_training=False, use_prefetcher=True)
        return [t for t in tf.transforms if type(t).__name__ != "MaybePILToTensor"]
    resize = [T.Resize(mi.resize, interpolation=mode)] if mi.resize is not None else []
    return resize + [T.CenterCrop(mi.size[0])]


def images_for(images: ImageList, mi: ModelInput | None) -> ImageList:
    """``images`` as the model with preprocessing ``mi`` is fed them (None: no preprocessing of its own, the
    paper's). The same list where the pipelines agree, else a list whose preprocessing (and so fingerprint)
    names both."""
    if mi is None or images.preprocess not in (RESIZE_CROP, AS_IS) or not _steps_differ(images.preprocess, mi):
        return images
    return replace(images, preprocess=f"{images.preprocess}{MODEL_SEP}{mi.key()}")


@lru_cache(maxsize=64)  # asked for every condition's list; building timm's transform each time is wasted
def _steps_differ(base: str, mi: ModelInput) -> bool:
    return bool(_steps(AS_IS, mi)) if base == AS_IS else not mi.is_papers()


def split(preprocess: str) -> tuple[str, ModelInput | None]:
    """(the list's own preprocessing, the model's or None) of an ``ImageList.preprocess``."""
    base, _, key = preprocess.partition(MODEL_SEP)
    return base, (ModelInput.of_key(key) if key else None)


def image_size(preprocess: str) -> tuple[int, int]:
    """The (H, W) that images decoded with ``preprocess`` have."""
    mi = split(preprocess)[1]
    return (224, 224) if mi is None else mi.size


@lru_cache(maxsize=64)
def _compose(preprocess: str):
    from torchvision import transforms as T

    base, mi = split(preprocess)
    return T.Compose(_steps(base, mi))


def apply(preprocess: str, img: Image.Image) -> torch.Tensor:
    """``img`` (RGB; for an AS_IS list already checked to be 224x224) through the model's steps, as uint8 3xHxW."""
    import numpy as np

    out = _compose(preprocess)(img)
    return torch.from_numpy(np.asarray(out, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def note(model: str, mi: ModelInput | None, mode: str) -> str | None:
    """The line a run prints about ``model``'s input: under the paper's protocol only when its config asks
    for something else; under ``--preprocess model`` always."""
    if mode == PAPER:
        if mi is None or mi.is_papers():
            return None
        return (f"{model}: its config asks for {mi.describe()}; evaluated at the paper's {PAPER_INPUT} "
                "(--preprocess model feeds it its own)")
    if mi is None:
        return (f"{model}: no preprocessing config of its own (a registry checkpoint without a timm or torchvision "
                f"config, a file:// checkpoint or a model in memory): --preprocess model feeds it the paper's "
                f"{PAPER_INPUT}")
    same = " (the same as the paper's)" if mi.is_papers() else ""
    return f"{model}: --preprocess model feeds it its own {mi.describe()}{same}"

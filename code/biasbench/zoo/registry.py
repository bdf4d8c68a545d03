"""The model registry: one ``ModelEntry`` per checkpoint, as data.

Like timm's ``PretrainedCfg``, an entry says where the weights live
(``Source``), which architecture receives them, which small named function
converts the release's keys (``converters``), and how inputs are normalised.
Facts come from each release's own page and the authors' loader (checkpoints.md lists them); the
normalisation of timm tags is read from timm's own ``pretrained_cfg``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import ModelError
from . import converters as cv
from .paper_models import PAPER_CATEGORIES

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NO_MEAN = (0.0, 0.0, 0.0)
NO_STD = (1.0, 1.0, 1.0)

SOURCE_KINDS = ("timm", "torchvision", "url", "hf", "gdrive", "random-init", "file")
EXTRA = "extra"
LOCAL = "local"  # category of file:// models


@dataclass(frozen=True)
class Source:
    """Where one checkpoint file comes from.

    kind: timm (``location`` = timm tag; weights are ``model.safetensors`` of the tag's Hugging Face repo),
    torchvision (``location`` = weights enum, e.g. ``ResNet50_Weights.IMAGENET1K_V2``), url, hf
    (``location`` = repo id, ``filename`` = file in it), gdrive (``location`` = file id), random-init
    (``location`` = the seed), file (``location`` = local path).
    """

    kind: str
    location: str
    filename: str | None = None
    role: str = "weights"

    def __post_init__(self):
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind {self.kind!r}")
        if self.kind == "hf" and not self.filename:
            raise ValueError("an hf source needs a filename")

    @property
    def has_file(self) -> bool:
        return self.kind != "random-init"

    def describe(self) -> str:
        """One line for messages and checkpoints.md."""
        if self.kind == "timm":
            return f"timm `{self.location}` (Hugging Face `{timm_hub_id(self.location)}/model.safetensors`)"
        if self.kind == "torchvision":
            return f"torchvision `{self.location}` ({torchvision_url(self.location)})"
        if self.kind == "hf":
            return f"Hugging Face `{self.location}`, file `{self.filename}`"
        if self.kind == "gdrive":
            return f"Google Drive id `{self.location}`"
        if self.kind == "random-init":
            return f"random initialisation (torch seed {self.location})"
        return self.location  # url, file


def timm_hub_id(tag: str) -> str:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(tag)
    if cfg is None or not cfg.hf_hub_id:
        raise ModelError(f"timm tag {tag!r} has no Hugging Face weights in this timm version")
    return cfg.hf_hub_id


def torchvision_url(weights: str) -> str:
    from torchvision.models import get_weight

    return get_weight(weights).url


@dataclass(frozen=True)
class ModelEntry:
    """One checkpoint of the zoo.

    architecture: ``timm:<model or tag>`` or ``torchvision:<model>``, built with ``arch_kwargs`` and no
    pretrained weights. converter: called with the loaded object of each source, in order; returns a
    state dict that loads strictly into the architecture. mean/std: the wrapper's normalisation,
    ``norm_source`` says where it comes from. source_env: environment variable that, when set,
    replaces the (single) source (``hf://REPO/FILE``, an http(s) URL, ``gdrive://ID`` or a local path).
    spec: the ``file://`` spec a local checkpoint was given as, which names it on another process's
    command line (a sweep job's); None for every other entry.
    """

    name: str
    category: str
    architecture: str
    sources: tuple[Source, ...]
    converter: Callable[..., cv.StateDict]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    norm_source: str
    notes: str = ""
    verified: bool = True
    arch_kwargs: dict = field(default_factory=dict, hash=False)
    source_env: str | None = None
    spec: str | None = None

    def effective_sources(self) -> tuple[Source, ...]:
        """``sources``, or the override named by ``source_env`` when that variable is set."""
        if self.source_env and os.environ.get(self.source_env):
            return (parse_source(os.environ[self.source_env], role=self.sources[0].role),)
        return self.sources

    @property
    def seed(self) -> int | None:
        rnd = [s for s in self.sources if s.kind == "random-init"]
        return int(rnd[0].location) if rnd else None


def parse_source(text: str, role: str = "weights") -> Source:
    """``hf://owner/repo/path/file``, ``http(s)://...``, ``gdrive://ID`` or a local path (``file://`` optional)."""
    text = text.strip()
    if text.startswith("hf://"):
        parts = text[len("hf://"):].split("/")
        if len(parts) < 3 or not all(parts):
            raise ModelError(f"source {text!r}: expected hf://OWNER/REPO/FILE")
        return Source("hf", "/".join(parts[:2]), "/".join(parts[2:]), role)
    if text.startswith(("http://", "https://")):
        return Source("url", text, role=role)
    if text.startswith("gdrive://"):
        return Source("gdrive", text[len("gdrive://"):], role=role)
    path = text[len("file://"):] if text.startswith("file://") else text
    if not os.path.isfile(os.path.expanduser(path)):
        raise ModelError(f"source {text!r}: not hf://..., http(s)://..., gdrive://... or an existing file")
    return Source("file", os.path.expanduser(path), role=role)


# --- entry builders: one per kind of release ------------------------------------------------------


def _timm_norm(tag: str) -> tuple[tuple, tuple]:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(tag)
    return tuple(cfg.mean), tuple(cfg.std)


def timm_entry(name: str, *, tag: str, category: str, notes: str = "") -> ModelEntry:
    """A timm pretrained tag: architecture and normalisation from timm's pretrained_cfg."""
    mean, std = _timm_norm(tag)
    return ModelEntry(name=name, category=category, architecture=f"timm:{tag}", sources=(Source("timm", tag),),
                      converter=cv.identity, mean=mean, std=std, norm_source="timm pretrained_cfg", notes=notes)


def torchvision_entry(name: str, *, arch: str, weights: str, category: str, notes: str = "") -> ModelEntry:
    """torchvision weights: normalisation from the weights' own inference transforms."""
    from torchvision.models import get_weight

    t = get_weight(weights).transforms()
    return ModelEntry(name=name, category=category, architecture=f"torchvision:{arch}",
                      sources=(Source("torchvision", weights),), converter=cv.identity, mean=tuple(t.mean),
                      std=tuple(t.std), norm_source="torchvision weights transforms", notes=notes)


def r50_entry(name: str, *, category: str, sources: Iterable[Source], converter, unnormalised: bool = False,
              **kw) -> ModelEntry:
    """A ResNet-50 release loaded into timm's ``resnet50`` (torchvision key layout), as the authors did;
    ``kw``: the other fields of ``ModelEntry`` (notes, verified, source_env, ...)."""
    mean, std, norm = ((NO_MEAN, NO_STD, "none: trained on unnormalised [0,1] inputs") if unnormalised else
                       (IMAGENET_MEAN, IMAGENET_STD, "ImageNet mean/std (the training recipe's)"))
    return ModelEntry(name=name, category=category, architecture="timm:resnet50", sources=tuple(sources),
                      converter=converter, mean=mean, std=std, norm_source=norm, **kw)


def _url(u: str, role: str = "weights") -> Source:
    return Source("url", u, role=role)


def _gdrive(i: str) -> Source:
    return Source("gdrive", i)


# --- the entries ---------------------------------------------------------------------------------

_MADRY_REPO = "madrylab/robust-imagenet-models"
_GEIRHOS = "https://bitbucket.org/robert_geirhos/texture-vs-shape-pretrained-models/raw/"
_FB = "https://dl.fbaipublicfiles.com/"
_DIFFUSION_ENV = "BIASBENCH_DIFFUSIONNOISE_FIXED_SOURCE"

_GDRIVE_GENERIC = {
    "resnet50_pixmix_90ep": "1_i45yvC88hos50QjkoD97OgbDGreKdp9",
    "resnet50_pixmix_180ep": "1cgKYXDym3wgquf-4hwr_Ra3qje6GNHPH",
    "resnet50_augmix_180ep": "1z-1V3rdFiwqSECz7Wkmn4VJVefJGJGiF",
    "resnet50_deepaugment": "1DPRElQnBG66nd7GUphVm1t-5NroL7t7k",
    "resnet50_deepaugment_augmix": "1QKmc_p6-qDkh51WvsaS9HKFv8bX5jLnP",
    "resnet50_noisymix": "1Na79fzPZ0Azg01h6kGn1Xu5NoWOElSuG",
    "resnet50_opticsaugment": "1y0MSlVfzZBKZQEiZF2FCOmsk-91miIHR",
    "resnet50_frozen_random": "1IT65JJauql-Jdw-0AjAhEGGApGMVx-VE",
}
_GDRIVE_TSBIAS = {
    "resnet50_tsbias_tbias": "1tFy2Q28rAqqreaS-27jifpyPzlohKDPH",
    "resnet50_tsbias_sbias": "1p0fZ9rU-J1v943tA7PlNMLuDXk_1Iy3K",
    "resnet50_tsbias_debiased": "1r-OSfTtrlFhB9GPiQXUE1h6cqosaBePw",
}
_GEIRHOS_FILES = {
    "resnet50_trained_on_SIN": "6f41d2e86fc60566f78de64ecff35cc61eb6436f/resnet50_train_60_epochs-c8e5653e.pth.tar",
    "resnet50_trained_on_SIN_and_IN": "60b770e128fffcbd8562a3ab3546c1a735432d03/"
                                      "resnet50_train_45_epochs_combined_IN_SF-2a0d100e.pth.tar",
    "resnet50_trained_on_SIN_and_IN_then_finetuned_on_IN": "60b770e128fffcbd8562a3ab3546c1a735432d03/"
        "resnet50_finetune_60_epochs_lr_decay_after_30_start_resnet50_train_45_epochs_combined_IN_SF-ca06340c.pth.tar",
}
# Names of the paper's table -> the timm tag that `timm.create_model(name, pretrained=True)` resolves to
# (the authors' default branch); the paper's clean accuracies match these tags.
_TIMM_EXTRAS = {
    "resnet18": "resnet18.a1_in1k",
    "resnet34": "resnet34.a1_in1k",
    "resnet101": "resnet101.a1h_in1k",
    "resnet152": "resnet152.a1h_in1k",
    "resnet50_gn": "resnet50_gn.a1h_in1k",
    "nf_resnet50": "nf_resnet50.ra2_in1k",
    "lambda_resnet50ts": "lambda_resnet50ts.a1h_in1k",
    "resnetv2_50x1_bit_distilled": "resnetv2_50x1_bit.goog_distilled_in1k",
    "ssl_resnet50": "resnet50.fb_ssl_yfcc100m_ft_in1k",
    "swsl_resnet50": "resnet50.fb_swsl_ig1b_ft_in1k",
    "vit_base_patch16_224.augreg_in1k": "vit_base_patch16_224.augreg_in1k",
    "vit_base_patch16_224.sam_in1k": "vit_base_patch16_224.sam_in1k",
    "vit_base_patch32_224.augreg_in1k": "vit_base_patch32_224.augreg_in1k",
}


def _paper_entries() -> list[ModelEntry]:
    cat = {n: c for c, names in PAPER_CATEGORIES.items() for n in names}
    out = [
        timm_entry("tv_resnet50", tag="resnet50.tv_in1k", category=cat["tv_resnet50"],
                   notes="torchvision IMAGENET1K_V1 weights as published by timm"),
        torchvision_entry("tv2_resnet50", arch="resnet50", weights="ResNet50_Weights.IMAGENET1K_V2",
                          category=cat["tv2_resnet50"]),
    ]
    out += [timm_entry(n, tag=n, category=cat[n]) for n in PAPER_CATEGORIES["training_recipes"]
            if n.startswith("resnet50.")]
    for name in PAPER_CATEGORIES["adversarial_training"]:
        out.append(r50_entry(name, category=cat[name],
                             sources=[Source("hf", _MADRY_REPO, name.replace("robust_", "") + ".ckpt")],
                             converter=cv.madrylab_robustness,
                             notes="the file's own normaliser (ImageNet mean/std) is replaced by the wrapper's"))
    out += [r50_entry(n, category=cat[n], sources=[_url(_GEIRHOS + f)], converter=cv.state_dict_strip_module)
            for n, f in _GEIRHOS_FILES.items()]
    out.append(r50_entry(
        "resnet50_prime", category=cat["resnet50_prime"],
        sources=[_url("https://zenodo.org/record/5801872/files/ResNet50_ImageNet_PRIME_noJSD.ckpt?download=1")],
        converter=cv.generic_unwrap))
    out += [r50_entry(n, category=cat[n], sources=[_gdrive(i)], converter=cv.generic_unwrap)
            for n, i in _GDRIVE_GENERIC.items()]
    out += [r50_entry(n, category=cat[n], sources=[_gdrive(i)], converter=cv.tsbias_drop_aux_bn)
            for n, i in _GDRIVE_TSBIAS.items()]
    out.append(r50_entry(
        "resnet50_diffusionnoise_fixed_nonoise", category=cat["resnet50_diffusionnoise_fixed_nonoise"],
        sources=[Source("hf", "paulgavrikov/resnet50.in1k_diffusionnoise_90ep",
                        "resnet50_diffusionnoise_nonorm_last.pth")],
        converter=cv.diffusionnoise_wrapper, unnormalised=True, verified=False, source_env=_DIFFUSION_ENV,
        notes=("unverified source: the file of the 'fixed' variant is not documented; this is the file the "
               f"authors' loader uses for the no-noise variant. Override with ${_DIFFUSION_ENV}="
               "hf://REPO/FILE | https://URL | gdrive://ID | PATH")))
    for ep in (100, 300, 1000):
        name = f"resnet50_moco_v3_{ep}ep"
        out.append(r50_entry(name, category=cat[name],
                             sources=[_url(f"{_FB}moco-v3/r-50-{ep}ep/linear-{ep}ep.pth.tar")],
                             converter=cv.state_dict_strip_module, notes="linear-evaluation checkpoint"))
    out.append(r50_entry("resnet50_dino", category=cat["resnet50_dino"], sources=[
        _url(f"{_FB}dino/dino_resnet50_pretrain/dino_resnet50_pretrain.pth", "backbone"),
        _url(f"{_FB}dino/dino_resnet50_pretrain/dino_resnet50_linearweights.pth", "linear head")],
        converter=cv.dino_resnet50))
    out.append(r50_entry("resnet50_swav", category=cat["resnet50_swav"], sources=[
        _url(f"{_FB}deepcluster/swav_800ep_pretrain.pth.tar", "backbone"),
        _url(f"{_FB}deepcluster/swav_800ep_eval_linear.pth.tar", "linear head")],
        converter=cv.swav_resnet50, notes="800-epoch model; projection head and prototypes are dropped"))
    out.append(r50_entry("resnet50_simclrv2", category=cat["resnet50_simclrv2"],
                         sources=[_gdrive("1fDaMhujPnxo4SYOe4asPqCKQ3XB_sZvj")],
                         converter=cv.simclrv2_tf_port, unnormalised=True,
                         notes="PyTorch port of the TensorFlow release (ResNet-50 1x, SK0), supervised head"))
    return out


def _extra_entries() -> list[ModelEntry]:
    out = [timm_entry(n, tag=tag, category=EXTRA, notes="" if n == tag else f"timm default tag of `{n.split('.')[0]}`")
           for n, tag in _TIMM_EXTRAS.items()]
    out.append(ModelEntry(
        name="resnet50_untrained", category=EXTRA, architecture="timm:resnet50",
        sources=(Source("random-init", "0"),), converter=cv.no_weights, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        norm_source="timm resnet50 default cfg", notes="timm's default initialisation under torch.manual_seed(0)"))
    out.append(torchvision_entry("vit_base_patch16_224.torchvision_deit", arch="vit_b_16",
                                 weights="ViT_B_16_Weights.IMAGENET1K_V1", category=EXTRA,
                                 notes="torchvision ViT-B/16 (DeiT-like recipe, ImageNet-1k only)"))
    out.append(ModelEntry(
        name="vit_base_patch16_224.dino_in1k", category=EXTRA, architecture="timm:vit_base_patch16_224",
        sources=(_url(f"{_FB}dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth", "backbone"),
                 Source("hf", "paulgavrikov/in1k_head_for_vit_base_patch16_224.dino", "checkpoint.pth.tar",
                        "linear head")),
        converter=cv.dino_vit, mean=IMAGENET_MEAN, std=IMAGENET_STD, norm_source="ImageNet mean/std (DINO's)",
        notes="linear head on the class token trained by the paper's authors"))
    out.append(ModelEntry(
        name="vit_base_patch16_224.mae_in1k", category=EXTRA, architecture="timm:vit_base_patch16_224",
        sources=(_url(f"{_FB}mae/finetune/mae_finetuned_vit_base.pth"),), converter=cv.generic_unwrap,
        mean=IMAGENET_MEAN, std=IMAGENET_STD, norm_source="ImageNet mean/std (MAE's)",
        notes="fine-tuned MAE, global average pooling; the authors' loader normalised with timm's "
              "vit_base_patch16_224 default (mean=std=0.5) instead of MAE's ImageNet mean/std",
        arch_kwargs={"global_pool": "avg"}))
    return out


# Known names of the paper's table this registry cannot load, with the reason.
NOT_AVAILABLE = {
    "vonenet_resnet50": "needs the vonenet package (not a dependency of this suite)",
    "resnet50_diffusionnoise": "its noise front end is random at inference; no documented source",
    "resnet50_diffusionnoise_fixed": "no documented source",
    "resnet50_lpmix": "no documented source",
    "resnet50_freqmix": "no documented source",
    "resnet50_supcon": "the authors' loader has a branch but no download id",
}


@lru_cache(maxsize=1)
def registry() -> dict[str, ModelEntry]:
    """Every entry by name (built once; timm/torchvision are imported for their configs)."""
    entries = _paper_entries() + _extra_entries()
    reg = {e.name: e for e in entries}
    assert len(reg) == len(entries), "duplicate registry names"
    return reg

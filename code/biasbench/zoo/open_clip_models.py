"""Image-text models named ``open_clip:<ARCH>/<PRETRAINED>`` or ``open_clip:hf-hub:<org>/<repo>``, as zero-shot
classifiers (docs/models.md, "Zero-shot vision-language models").

Each becomes an ordinary ``ModelEntry`` (category ``zero_shot_vlm``): its weights come through the suite's cache,
SHA-256 ledger and offline mode (``download``); open_clip builds the architecture and loads them
(``open_clip.load_checkpoint``, ``weights_only``). The loaded model is wrapped like every zoo model: RGB in
[0,1], normalised with the model's own mean/std, 1000 logits out from the zero-shot head (``zero_shot``), so
every benchmark runs on it unchanged. The tokenizer is checked when the name is resolved, before any data is read.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import torch

from ..data.model_input import ModelInput
from ..errors import ModelError, did_you_mean
from . import converters as cv
from .families import ZERO_SHOT as CATEGORY
from .families import ZERO_SHOT_PREFIX as PREFIX
from .registry import ModelEntry, Source

HUB = "hf-hub:"
CONFIG_FILE = "open_clip_config.json"
HUB_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def is_open_clip(name: str) -> bool:
    return name.startswith(PREFIX)


def known_tags() -> list[str]:
    """Every ``open_clip:ARCH/TAG`` this open_clip version knows."""
    import open_clip

    return [f"{PREFIX}{arch}/{tag}" for arch, tag in open_clip.list_pretrained()]


@lru_cache(maxsize=None)
def open_clip_entry(spec: str) -> ModelEntry:
    """The entry of ``open_clip:ARCH/TAG`` or ``open_clip:hf-hub:ORG/REPO``; unknown names raise ModelError
    with close matches from open_clip's list. A hub repo's ``open_clip_config.json`` is read now, through the
    suite's cache; the tokenizer is built now (a Hugging Face tokenizer missing offline stops here)."""
    body = spec[len(PREFIX):]
    entry = _hub_entry(spec, body[len(HUB):]) if body.startswith(HUB) else _tag_entry(spec, body)
    tokenizer_for(entry)
    return entry


def _tag_entry(spec: str, body: str) -> ModelEntry:
    import open_clip

    arch, sep, tag = body.partition("/")
    if not sep or not arch or not tag:
        raise ModelError(f"{spec}: expected open_clip:<ARCH>/<PRETRAINED>, e.g. open_clip:ViT-B-32/laion2b_s34b_b79k, "
                         "or open_clip:hf-hub:<org>/<repo>")
    if arch not in open_clip.list_models():
        raise ModelError(f"{spec}: {arch!r} is not an open_clip architecture"
                         f"{did_you_mean(body, [t[len(PREFIX):] for t in known_tags()]) or did_you_mean(arch, open_clip.list_models())}")
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ModelError(f"{spec}: {arch} has no pretrained tag {tag!r}"
                         f"{did_you_mean(tag, tags) or '; it has ' + (', '.join(tags) or 'none')}")
    source = _tag_source(cfg)
    if source is None:
        raise ModelError(f"{spec}: open_clip names no download for this tag")
    mean, std = tuple(cfg.get("mean") or OPENAI_MEAN), tuple(cfg.get("std") or OPENAI_STD)
    kwargs = {"quick_gelu": bool(cfg.get("quick_gelu", False)),
              "preprocess": {k: cfg[k] for k in ("interpolation", "resize_mode") if k in cfg}}
    return ModelEntry(f"{PREFIX}{arch}/{tag}", CATEGORY, f"open_clip:{arch}", (source,), cv.identity, mean, std,
                      "open_clip pretrained cfg", f"given as --model {spec}", arch_kwargs=kwargs)


def _tag_source(cfg: dict) -> Source | None:
    """Where a tag's weights live: ``hf_hub`` 'org/repo/' (open_clip's default file) or 'org/repo/file', as
    open_clip's ``download_pretrained`` reads it (preferred), else its URL."""
    hub = cfg.get("hf_hub") or ""
    if hub:
        repo, filename = os.path.split(hub)
        return Source("hf", repo, filename or HUB_WEIGHTS[1])
    return Source("url", cfg["url"]) if cfg.get("url") else None


def listing() -> list[tuple[str, tuple[Source, ...]]]:
    """(``open_clip:ARCH/TAG``, its weight files: the safetensors open_clip prefers, then the named file) of every
    tag this open_clip version knows (``biasbench models``)."""
    import open_clip

    rows = []
    for arch, tag in open_clip.list_pretrained():
        source = _tag_source(open_clip.get_pretrained_cfg(arch, tag))
        if source is not None:
            alt = _safe_alternative(source)
            rows.append((f"{PREFIX}{arch}/{tag}", (source,) if alt is None else (alt, source)))
    return rows


def _hub_entry(spec: str, repo: str) -> ModelEntry:
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise ModelError(f"{spec}: expected open_clip:hf-hub:<org>/<repo>, e.g. "
                         "open_clip:hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K")
    cfg = hub_config(spec)
    pre = cfg.get("preprocess_cfg") or {}
    return ModelEntry(spec, CATEGORY, f"open_clip:{HUB}{repo}", (Source("hf", repo, HUB_WEIGHTS[1]),), cv.identity,
                      tuple(pre.get("mean") or OPENAI_MEAN), tuple(pre.get("std") or OPENAI_STD),
                      f"open_clip preprocess_cfg (the repo's {CONFIG_FILE})", f"given as --model {spec}",
                      arch_kwargs={"preprocess": pre})


@lru_cache(maxsize=None)
def hub_config(spec: str) -> dict:
    """The parsed ``open_clip_config.json`` of an ``open_clip:hf-hub:`` repo, through the suite's cache."""
    from .download import fetch

    repo = spec[len(PREFIX) + len(HUB):]
    path = fetch(Source("hf", repo, CONFIG_FILE, role="config"), model=spec, progress=False).path
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{spec}: its {CONFIG_FILE} ({path}) is not JSON ({e})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model_cfg"), dict):
        raise ModelError(f"{spec}: its {CONFIG_FILE} ({path}) has no model_cfg; expected an open_clip model repo")
    return cfg


def _model_cfg(entry: ModelEntry) -> dict:
    import open_clip

    lib_arch = entry.architecture[len("open_clip:"):]
    if lib_arch.startswith(HUB):
        return hub_config(entry.name)["model_cfg"]
    return open_clip.get_model_config(lib_arch)


@lru_cache(maxsize=None)
def tokenizer_for(entry: ModelEntry):
    """The model's tokenizer: open_clip's own BPE tokenizer (ships with the package), or a Hugging Face tokenizer
    (SigLIP and others), which needs ``transformers`` and, offline, the files in the Hugging Face cache."""
    import open_clip

    text_cfg = dict(_model_cfg(entry).get("text_cfg") or {})
    context = text_cfg.get("context_length", 77)
    kwargs = dict(text_cfg.get("tokenizer_kwargs") or {})
    hf_name = text_cfg.get("hf_tokenizer_name") or ""
    arch = entry.architecture[len("open_clip:"):]
    if not hf_name:  # SigLIP's configs name theirs (e.g. timm/ViT-B-16-SigLIP)
        return open_clip.SimpleTokenizer(context_length=context, **kwargs)
    if importlib.util.find_spec("transformers") is None:
        raise ModelError(f"{entry.name}: its tokenizer {hf_name} is a Hugging Face tokenizer: pip install "
                         "transformers")
    try:
        if arch.startswith(HUB):
            return open_clip.HFTokenizer(hf_name, context_length=context, tokenizer_mode=text_cfg.get("tokenizer_mode"),
                                         **kwargs)
        return open_clip.get_tokenizer(arch)
    except Exception as e:  # noqa: BLE001 - any failure of the hub client is reported in one line
        raise ModelError(f"{entry.name}: its tokenizer {hf_name} could not be loaded ({type(e).__name__}: "
                         f"{(str(e).splitlines() or [''])[0]}); offline, it must be in the Hugging Face cache "
                         "(run once with network)") from None


def build(entry: ModelEntry) -> torch.nn.Module:
    """The open_clip model of ``entry`` with fresh weights (no download): a built-in architecture by name, a hub
    repo's ``model_cfg`` through open_clip's own ``local-dir:`` reading (a folder holding only the config)."""
    import open_clip

    arch = entry.architecture[len("open_clip:"):]
    common = dict(load_weights=False, pretrained_image=False, pretrained_text=False, device="cpu")
    if arch.startswith(HUB):
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, CONFIG_FILE).write_text(json.dumps(hub_config(entry.name)))
            return open_clip.create_model(f"local-dir:{folder}", **common)
    return open_clip.create_model(arch, force_quick_gelu=entry.arch_kwargs.get("quick_gelu", False), **common)


def _safe_alternative(source: Source) -> Source | None:
    """The safetensors file open_clip prefers to a ``.bin``/``.pth`` of the same hub repo (its
    ``download_pretrained_from_hf``)."""
    if source.kind != "hf" or not source.filename.endswith((".bin", ".pth")):
        return None
    name = HUB_WEIGHTS[0] if source.filename == HUB_WEIGHTS[1] else source.filename[:-4] + ".safetensors"
    return Source("hf", source.location, name)


def load(entry: ModelEntry, device: str | torch.device = "cpu", *, prompts=None, cache_dir=None,
         offline: bool | None = None) -> torch.nn.Module:
    """``entry``'s model as a zero-shot classifier over the 1000 ImageNet classes with ``prompts`` (default:
    OpenAI's 80 templates), wrapped to take RGB in [0,1]."""
    import open_clip

    from .download import fetch

    source = entry.effective_sources()[0]
    first = _safe_alternative(source)  # tried first, as open_clip does; the named file otherwise
    try:
        if first is None:
            raise ModelError("")
        files = [fetch(first, cache_dir=cache_dir, offline=offline, model=entry.name).path]
    except ModelError as e:
        try:
            files = [fetch(source, cache_dir=cache_dir, offline=offline, model=entry.name).path]
        except ModelError as e2:
            raise ModelError(f"{e}; and {e2}" if str(e) else str(e2)) from None
    model = build(entry)
    try:
        open_clip.load_checkpoint(model, str(files[0]), strict=True, weights_only=True)
    except Exception as e:  # noqa: BLE001 - a checkpoint that does not fit, reported in one line
        raise ModelError(f"{entry.name} ({files[0]}): does not load into {entry.architecture} "
                         f"({type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]})") from None
    return zero_shot_model(model, tokenizer_for(entry), entry.mean, entry.std, name=entry.name, prompts=prompts,
                           cache_dir=cache_dir, device=device)


def zero_shot_model(model: torch.nn.Module, tokenizer, mean, std, *, name: str, prompts=None, cache_dir=None,
                    device: str | torch.device = "cpu") -> torch.nn.Module:
    """An image-text ``model`` (open_clip's interface: ``encode_image``, ``encode_text``, ``logit_scale``) as a
    1000-class classifier taking RGB in [0,1]: ``NormalizedModel(ZeroShotClassifier(...))``, with the 16-category
    head of the 16-class sets alongside. Heads come from the on-disk cache when computed before."""
    from ..metrics.sixteen_class import CATEGORIES
    from .wrapper import NormalizedModel
    from .zero_shot import ZeroShotClassifier, cached_class_embeddings, prompt_set, text_fingerprint

    prompts = prompts or prompt_set()
    model = model.to(device).eval()
    fp = text_fingerprint(model)
    head = cached_class_embeddings(model, tokenizer, prompts, cache_dir=cache_dir, device=device, model_fp=fp)
    head16 = cached_class_embeddings(model, tokenizer, prompts.with_classnames(CATEGORIES), cache_dir=cache_dir,
                                     device=device, model_fp=fp)
    return NormalizedModel(ZeroShotClassifier(model, head, head16), mean, std, name=name).to(device).eval()


def check_input_size(models, preprocess: str) -> None:
    """Under the paper's protocol (224x224 inputs), stop before any data is read for an ``open_clip:`` model whose
    image tower takes only another size (its position embeddings are fixed), naming ``--preprocess model``."""
    from ..data.model_input import PAPER

    if preprocess != PAPER:
        return
    for name in models:
        if is_open_clip(name):
            size = input_config(open_clip_entry(name)).size
            if size != (224, 224):
                raise ModelError(f"{name}: its image tower takes {size[0]}x{size[1]} inputs only, not the paper "
                                 "protocol's 224x224; run it with --preprocess model (open_clip's own transform)")


def input_config(entry: ModelEntry) -> ModelInput:
    """open_clip's own eval transform as a ``ModelInput``: resize the shortest side to the model's size with its
    interpolation and center-crop it (``resize_mode`` shortest), or resize to the size without crop (squash).
    These are timm's steps with crop_pct 1.0 (center or squash), which make the same pixels."""
    cfg = _model_cfg(entry)
    size = (cfg.get("vision_cfg") or {}).get("image_size", 224)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    pre = dict(entry.arch_kwargs.get("preprocess") or {})
    mode = pre.get("resize_mode", "shortest")
    if mode not in ("shortest", "squash"):
        raise ModelError(f"{entry.name}: open_clip resize_mode {mode!r} is not supported by --preprocess model "
                         "(shortest or squash)")
    return ModelInput("timm", (int(h), int(w)), str(pre.get("interpolation", "bicubic")), 1.0,
                      "center" if mode == "shortest" else "squash", tuple(entry.mean))

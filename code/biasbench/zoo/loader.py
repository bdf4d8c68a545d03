"""From a registry name (or ``file://`` spec) to a ready model: fetch, load safely, convert, build, wrap."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl

import torch
from torch import nn

from ..errors import ModelError, did_you_mean
from ..flags import comma_list
from . import converters as cv
from . import robustbench
from .download import fetch
from .external import external_entry, is_external
from .open_clip_models import is_open_clip, open_clip_entry
from .paper_models import PAPER_CATEGORIES, PAPER_MODELS
from .registry import EXTRA, IMAGENET_MEAN, IMAGENET_STD, LOCAL, ModelEntry, Source, registry
from .safe_load import load_checkpoint
from .wrapper import NormalizedModel

FILE_PREFIX = "file://"
GROUPS = ("paper48", "all", *PAPER_CATEGORIES, EXTRA)


def build_architecture(entry: ModelEntry) -> nn.Module:
    """The entry's network with fresh (untrained) weights."""
    lib, _, arch = entry.architecture.partition(":")
    if lib == "timm":
        import timm

        return timm.create_model(arch, pretrained=False, **entry.arch_kwargs)
    if lib == "torchvision":
        import torchvision

        return torchvision.models.get_model(arch, weights=None, **entry.arch_kwargs)
    raise ModelError(f"{entry.name}: unknown architecture library in {entry.architecture!r}")


def _parse_floats(text: str, what: str) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in comma_list(text, keep_empty=True))
    except ValueError:
        vals = ()
    if len(vals) != 3:
        raise ModelError(f"{what}={text!r}: expected three comma-separated numbers, e.g. 0.485,0.456,0.406")
    return vals  # type: ignore[return-value]


def file_entry(spec: str) -> ModelEntry:
    """``file://PATH[?arch=NAME&mean=R,G,B&std=R,G,B]``: a local state dict (generic unwrap rules) loaded into
    a timm architecture (default ``resnet50``) with ImageNet mean/std unless given."""
    body = spec[len(FILE_PREFIX):]
    path, query = body, ""
    if "?" in body:
        head, tail = body.rsplit("?", 1)
        if "=" in tail:
            path, query = head, tail
    opts = dict(parse_qsl(query, keep_blank_values=True, separator="&"))
    unknown = set(opts) - {"arch", "mean", "std", "name"}
    if unknown:
        raise ModelError(f"{spec}: unknown option(s) {sorted(unknown)}; file:// takes arch, mean, std and name")
    path = os.path.expanduser(path)
    if not Path(path).is_file():
        raise ModelError(f"{spec}: no such file {path!r} (expected file://PATH.pth, a local state dict)")
    arch = opts.get("arch", "resnet50")
    import timm

    if not timm.is_model(arch):
        raise ModelError(f"{spec}: arch={arch!r} is not a timm model name{did_you_mean(arch, timm.list_models())}")
    mean = _parse_floats(opts["mean"], "mean") if "mean" in opts else IMAGENET_MEAN
    std = _parse_floats(opts["std"], "std") if "std" in opts else IMAGENET_STD
    if any(s <= 0 for s in std):
        raise ModelError(f"{spec}: std must be positive, got {std}")
    norm = "given in the file:// spec" if "mean" in opts or "std" in opts else "ImageNet mean/std (default)"
    name = opts.get("name") or Path(path).stem
    if not name or "," in name or name.startswith(FILE_PREFIX):
        raise ModelError(f"{spec}: name={name!r} must be non-empty and contain no comma")
    return ModelEntry(name=name, category=LOCAL, architecture=f"timm:{arch}", sources=(Source("file", path),),
                      converter=cv.generic_unwrap, mean=mean, std=std, norm_source=norm, spec=spec)


class LocalModels:
    """The ``file://`` checkpoints one command named, by the name their results are recorded under (the
    file's stem, or ``?name=``). The command line makes one and passes it to ``resolve_models``, which
    adds each spec, and to ``load_model``/``get_entry``, which find those names in it; a sweep names
    each such model on its jobs' command lines by its spec (``spec_of``), which the job resolves afresh."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}

    def add(self, spec: str) -> str:
        """Check the ``file://`` spec now (not after a long data pass) and name it; returns the name."""
        entry = file_entry(spec)
        if entry.name in registry():
            raise ModelError(f"{spec}: its name {entry.name!r} is a registry model; add ?name=OTHER to tell them "
                             "apart")
        known = self._entries.get(entry.name)
        if known is not None and known.sources != entry.sources:
            raise ModelError(f"{spec}: the name {entry.name!r} is already used by {known.spec}; add ?name=OTHER")
        self._entries[entry.name] = entry
        return entry.name

    def get(self, name: str) -> ModelEntry | None:
        return self._entries.get(name)

    def spec_of(self, name: str) -> str:
        """What names model ``name`` on another process's command line: a local checkpoint's file:// spec,
        else the name itself."""
        entry = self._entries.get(name)
        return entry.spec if entry is not None else name


def get_entry(name: str, local: LocalModels | None = None, *, cache_dir=None,
              offline: bool | None = None) -> ModelEntry:
    """The registry entry of ``name``, an ad-hoc entry for a ``file://`` spec or a library name
    (``timm:...``; what it reads comes through the cache under ``cache_dir``), or the entry of a local
    checkpoint named in ``local``."""
    if name.startswith(FILE_PREFIX):
        return file_entry(name)
    if is_external(name):
        return external_entry(name, cache_dir, offline)
    if robustbench.is_robustbench(name):
        return robustbench.robustbench_entry(name, cache_dir)
    if is_open_clip(name):
        return open_clip_entry(name)
    named = local.get(name) if local is not None else None
    if named is not None:
        return named
    reg = registry()
    if name not in reg:
        raise ModelError(f"unknown model {name!r}{_suggest(name)}")
    return reg[name]


def _suggest(name: str) -> str:
    from .registry import NOT_AVAILABLE

    if name in NOT_AVAILABLE:
        return f": in the paper's table but not loadable here ({NOT_AVAILABLE[name]})"
    return did_you_mean(name, [*registry(), *GROUPS]) or "; see checkpoints.md or list_models() for the names"


def list_models(category: str | None = None) -> list[str]:
    """Registry names, in registry order; only those of ``category`` when given."""
    if category is not None and category not in (*PAPER_CATEGORIES, EXTRA):
        raise ModelError(f"unknown category {category!r}; expected one of {', '.join((*PAPER_CATEGORIES, EXTRA))}")
    return [n for n, e in registry().items() if category is None or e.category == category]


_NUMERIC_CONTINUATION = re.compile(r"[-+0-9.eE]+(&.*)?")


def _split_spec(spec: str) -> list[str]:
    """Split on commas, except those inside a file:// spec's number lists (``mean=0,0,0``)."""
    items: list[str] = []
    for tok in comma_list(spec, keep_empty=True):
        if items and items[-1].startswith(FILE_PREFIX) and "?" in items[-1] and _NUMERIC_CONTINUATION.fullmatch(tok):
            items[-1] += "," + tok
        elif tok:
            items.append(tok)
    return items


def resolve_models(spec: str, local: LocalModels | None = None, *, cache_dir=None,
                   offline: bool | None = None) -> list[str]:
    """Comma-separated names, categories, ``paper48``, ``all`` and ``file://`` specs -> model names
    (duplicates removed, order kept). Unknown names raise ModelError with close matches. A ``file://``
    spec is checked and named by its file's stem (or ``?name=``), and added to ``local`` so that later
    loads by that name find it (without ``local`` it is checked and forgotten)."""
    local = LocalModels() if local is None else local
    out: list[str] = []
    for item in _split_spec(spec):
        if item.startswith(FILE_PREFIX):
            names = [local.add(item)]
        elif item == "paper48":
            names = list(PAPER_MODELS)
        elif item == "all":
            names = list_models()
        elif item in PAPER_CATEGORIES or item == EXTRA:
            names = list_models(item)
        else:
            names = [get_entry(item, cache_dir=cache_dir, offline=offline).name]
        out += [n for n in names if n not in out]
    if not out:
        raise ModelError(f"--model {spec!r}: no model named (expected comma-separated names, categories, file://, "
                         "timm: or torchvision:)")
    return out


def state_dict_for(entry: ModelEntry, *, cache_dir=None, offline: bool | None = None,
                   trust_checkpoint: bool = False, progress: bool = True) -> cv.StateDict:
    """Fetch and safely load every source of ``entry`` and convert them to the architecture's layout."""
    sources = [s for s in entry.effective_sources() if s.has_file]
    got = [fetch(s, cache_dir=cache_dir, offline=offline, model=entry.name, progress=progress) for s in sources]
    files = [g.path for g in got]
    objs = [load_checkpoint(g.path, trust=trust_checkpoint, local=s.kind == "file") for g, s in zip(got, sources)]
    try:
        return entry.converter(*objs)
    except ModelError as e:
        raise ModelError(f"{entry.name} ({', '.join(map(str, files))}): {e}") from None


def load_model(name: str, device: str | torch.device = "cpu", *, local: LocalModels | None = None, cache_dir=None,
               offline: bool | None = None, trust_checkpoint: bool = False, prompts=None) -> nn.Module:
    """The model ``name`` (a local checkpoint: named in ``local``) wrapped to take RGB in [0,1] (NCHW), in
    eval mode, on ``device``; ``.name`` is set. ``prompts``: the ``zero_shot.PromptSet`` of an ``open_clip:``
    model's zero-shot head (default: OpenAI's 80 templates); other models ignore it."""
    entry = get_entry(name, local, cache_dir=cache_dir, offline=offline)
    if robustbench.is_robustbench(entry.name):  # built and loaded by robustbench; takes [0,1] itself
        net = robustbench.load(entry.name, cache_dir, offline)
        model = NormalizedModel(net, entry.mean, entry.std, name=entry.name).to(device).eval()
        check_classifier(model, entry.name, device)
        return model
    if is_open_clip(entry.name):
        from . import open_clip_models

        model = open_clip_models.load(entry, device, prompts=prompts, cache_dir=cache_dir, offline=offline)
        check_classifier(model, entry.name, device, size=open_clip_models.input_config(entry).size)
        return model
    sd = state_dict_for(entry, cache_dir=cache_dir, offline=offline, trust_checkpoint=trust_checkpoint)
    if entry.seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(entry.seed)
            net = build_architecture(entry)
    else:
        net = build_architecture(entry)
    if entry.seed is None:
        _load_strict(net, sd, entry)
    model = NormalizedModel(net, entry.mean, entry.std, name=entry.name).to(device).eval()
    check_classifier(model, entry.name, device)
    return model


def check_classifier(model: nn.Module, name: str, device: str | torch.device = "cpu",
                     size: tuple[int, int] = (224, 224)) -> None:
    """Stop before any data is read unless ``model`` maps a 2 x 3 x 224 x 224 batch (``size``) to 2 x 1000 logits."""
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0)).to(device)
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:  # noqa: BLE001 - any failure of a foreign module is reported the same way
        raise ModelError(f"model {name}: fails on a 2x3x224x224 batch of RGB in [0,1] ({type(e).__name__}: "
                         f"{(str(e).splitlines() or [''])[0]}); expected an ImageNet classifier taking 224x224") from None
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (2, 1000):
        raise ModelError(f"model {name}: gives {shape} for a batch of 2 images; expected logits of shape "
                         "N x 1000 (the ImageNet-1k classes)")


def _load_strict(net: nn.Module, sd: cv.StateDict, entry: ModelEntry) -> None:
    missing, unexpected = _key_diff(net, sd)
    if missing or unexpected:
        raise ModelError(f"{entry.name}: the converted checkpoint ({entry.converter.__name__}) does not fit "
                         f"{entry.architecture}: missing {_few(missing)}, unexpected {_few(unexpected)}")
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as e:  # shape mismatches
        lines = [ln.strip() for ln in str(e).splitlines() if "size mismatch" in ln]
        raise ModelError(f"{entry.name}: the checkpoint does not fit {entry.architecture}: "
                         f"{'; '.join(lines[:3]) or str(e).splitlines()[0]}") from None


def _key_diff(net: nn.Module, sd: cv.StateDict) -> tuple[list[str], list[str]]:
    want = set(net.state_dict())
    return sorted(want - set(sd)), sorted(set(sd) - want)


def _few(keys: list[str], n: int = 4) -> str:
    if not keys:
        return "none"
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")

"""The zero-shot head of an image-text model (docs/models.md, "Zero-shot vision-language models").

As the field builds it (Radford et al., 2021; open_clip's ``build_zero_shot_classifier``): one text embedding
per class = the mean of the L2-normalised embeddings of its prompts (every template filled with the class
name), normalised again; logits = logit_scale.exp() x normalised image features @ class embeddings, plus the
logit bias where the model has one (SigLIP). The prompt set (templates and class names) is part of a result's
setup (``PromptSet.label``, docs/results.md). A head is computed once per (text weights, prompt set) and kept
on disk under ``<cache>/zero_shot_heads/``, so a rerun or a second benchmark does not re-encode 80,000 prompts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..files import atomic_write

DEFAULT_PROMPTS = "openai"
PROMPT_CHOICES = ("openai", "simple")
SIMPLE_TEMPLATE = "a photo of a {}."
N_CLASSES = 1000


def _openai_templates() -> tuple[str, ...]:
    """OpenAI's 80 ImageNet templates as open_clip ships them (callables), as format strings."""
    from open_clip import OPENAI_IMAGENET_TEMPLATES

    return tuple(t("{}") for t in OPENAI_IMAGENET_TEMPLATES)


def imagenet_classnames() -> tuple[str, ...]:
    """open_clip's 1000 ImageNet class names (OpenAI's cleaned-up list)."""
    from open_clip import IMAGENET_CLASSNAMES

    return tuple(IMAGENET_CLASSNAMES)


@dataclass(frozen=True)
class PromptSet:
    """Templates (each with one ``{}``) and class names. ``label`` names it in a result's setup: None for the
    default (OpenAI's 80 templates, open_clip's class names), else ``simple`` or ``<file stem>-<hash>``, with
    ``.names-<hash>`` appended for a ``--classnames`` file."""

    templates: tuple[str, ...]
    classnames: tuple[str, ...]
    label: str | None = None

    def prompts(self, classname: str) -> list[str]:
        return [t.format(classname) for t in self.templates]

    def digest(self) -> str:
        """SHA-256 of the templates and class names (what a cached head is keyed by)."""
        return hashlib.sha256(json.dumps([self.templates, self.classnames]).encode()).hexdigest()

    def with_classnames(self, classnames: Sequence[str]) -> PromptSet:
        """The same templates over other classes (the 16 categories of the 16-class sets), same label."""
        return PromptSet(self.templates, tuple(classnames), self.label)


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _lines(path: Path, flag: str) -> list[str]:
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{flag} {path}: cannot read it ({type(e).__name__}: {e})") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def _templates_file(path: Path) -> tuple[str, ...]:
    lines = _lines(path, "--prompts")
    if not lines:
        raise ConfigError(f"--prompts {path}: no templates in it (expected one template per line, e.g. "
                          f"'{SIMPLE_TEMPLATE}')")
    for i, line in enumerate(lines, 1):
        try:
            ok = line.count("{}") == 1 and line.format("x") == line.replace("{}", "x")
        except (IndexError, KeyError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"--prompts {path}: template {i} {line!r} needs exactly one '{{}}' where the class "
                              "name goes (and no other braces)")
    return tuple(lines)


def prompt_set(prompts: str | os.PathLike | None = DEFAULT_PROMPTS,
               classnames: str | os.PathLike | None = None) -> PromptSet:
    """``--prompts openai|simple|FILE`` and ``--classnames FILE`` (1000 lines, in ImageNet class order)."""
    prompts = DEFAULT_PROMPTS if prompts in (None, "") else prompts
    if prompts == "openai":
        templates, label = _openai_templates(), None
    elif prompts == "simple":
        templates, label = (SIMPLE_TEMPLATE,), "simple"
    else:
        path = Path(prompts)
        if not path.expanduser().is_file():
            raise ConfigError(f"--prompts {prompts}: expected openai, simple or a file of templates (one per line "
                              "with '{}'); no such file")
        templates = _templates_file(path)
        label = f"{_safe_stem(path)}-{_short(json.dumps(templates))}"
    names = imagenet_classnames()
    if classnames not in (None, ""):
        path = Path(classnames)
        names = tuple(_lines(path, "--classnames"))
        if len(names) != N_CLASSES:
            raise ConfigError(f"--classnames {path}: {len(names)} non-empty lines; expected {N_CLASSES}, one class "
                              "name per ImageNet class in class-index order")
        label = f"{label or DEFAULT_PROMPTS}.names-{_short(json.dumps(names))}"
    return PromptSet(templates, names, label)


def _safe_stem(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", path.stem).strip("_") or "prompts"


# --- the head -----------------------------------------------------------------------------------------------

Tokenizer = Callable[[Sequence[str]], torch.Tensor]


def class_embeddings(model: nn.Module, tokenizer: Tokenizer, prompts: PromptSet, *,
                     device: str | torch.device = "cpu", prompts_per_batch: int = 1024) -> torch.Tensor:
    """[n_classes, dim]: per class, the mean of its normalised prompt embeddings, normalised (fp32)."""
    n_templates = len(prompts.templates)
    classes_per_batch = max(1, prompts_per_batch // n_templates)
    out = []
    with torch.no_grad():
        for start in range(0, len(prompts.classnames), classes_per_batch):
            names = prompts.classnames[start:start + classes_per_batch]
            tokens = tokenizer([p for c in names for p in prompts.prompts(c)]).to(device)
            emb = F.normalize(model.encode_text(tokens).float(), dim=-1)
            out.append(F.normalize(emb.reshape(len(names), n_templates, -1).mean(dim=1), dim=-1))
    return torch.cat(out).cpu()


def text_fingerprint(model: nn.Module) -> str:
    """SHA-256 over every weight outside the image tower (``visual.*``): the text tower and logit scale/bias,
    what a head depends on besides the prompts."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith("visual."):
            continue
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def head_path(cache_dir: str | os.PathLike | None, model_fp: str, prompts: PromptSet) -> Path:
    from ..paths import cache_dir as root

    key = hashlib.sha256(f"{model_fp}:{prompts.digest()}".encode()).hexdigest()[:32]
    return root(cache_dir) / "zero_shot_heads" / f"{key}.pt"


def cached_class_embeddings(model: nn.Module, tokenizer: Tokenizer, prompts: PromptSet, *,
                            cache_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                            model_fp: str | None = None) -> torch.Tensor:
    """``class_embeddings``, read from ``<cache>/zero_shot_heads/`` when computed before for the same text weights
    and prompt set, else computed and written there."""
    path = head_path(cache_dir, model_fp or text_fingerprint(model), prompts)
    if path.is_file():
        try:
            emb = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(emb, torch.Tensor) and emb.shape[0] == len(prompts.classnames):
                return emb
        except Exception:  # noqa: BLE001 - a damaged cache file is recomputed, never used
            pass
    emb = class_embeddings(model, tokenizer, prompts, device=device)
    import io

    buf = io.BytesIO()
    torch.save(emb, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue(), what="zero-shot head cache")
    return emb


class ZeroShotClassifier(nn.Module):
    """An image-text model as a classifier over ``class_emb``'s classes: normalised image features @ class
    embeddings x logit_scale.exp() (+ logit_bias). Takes the image tower's normalised input (wrap it in
    ``NormalizedModel``); gradients (PGD) go through the image tower only."""

    def __init__(self, model: nn.Module, class_emb: torch.Tensor, sixteen_emb: torch.Tensor | None = None):
        super().__init__()
        self.model = model
        self.register_buffer("class_emb", class_emb.float().clone())
        if sixteen_emb is not None:
            self.register_buffer("sixteen_emb", sixteen_emb.float().clone())
        else:
            self.sixteen_emb = None

    def _scale_bias(self) -> tuple[torch.Tensor, torch.Tensor | float]:
        scale = self.model.logit_scale.exp()
        bias = getattr(self.model, "logit_bias", None)
        return scale, (0.0 if bias is None else bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(x), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, bias = self._scale_bias()
        f = self.features(x)
        return scale * f @ self.class_emb.to(f.dtype).T + bias

    def sixteen(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 16] logits of the 16 categories' own head (``metrics.sixteen_class.CATEGORIES`` order)."""
        if self.sixteen_emb is None:
            raise ValueError("this zero-shot classifier was built without the 16-category head")
        scale, bias = self._scale_bias()
        f = self.features(x)
        return scale * f @ self.sixteen_emb.to(f.dtype).T + bias

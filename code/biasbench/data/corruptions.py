"""ImageNet-C and ImageNet-C-bar: corruption names, severity folders, readers and layout checks.

Layouts (files are 224x224 crops, fed as they are: ``ToTensor`` only):
- ImageNet-C      ``ROOT/<corruption>/<1..5>/<wnid>/*.JPEG``; ``ROOT/<group>/<corruption>/...``
  (noise/, blur/, weather/, digital/, extra/ as in the download archives) is found too.
- ImageNet-C-bar  ``ROOT/<corruption>/<severity>/<wnid>/*.JPEG`` where the severity folder is
  ``1``..``5`` (the released download) or the corruption's parameter value written by
  ``make_imagenet_c_bar.py`` (``"{:.2f}"``: ``2.35``, ``10.00`` ...). A name without a dot is a
  severity index; a name with a dot is a parameter value.
Every cell holds ImageNet val's 1000 classes x 50 images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DatasetError
from ..flags import comma_list
from . import cbar_manifest
from .folders import class_folders, existing_dir
from .imagelist import AS_IS, ImageList
from .imagenet import N_CLASSES, PER_CLASS, check_layout

SEVERITIES = (1, 2, 3, 4, 5)

# Hendrycks & Dietterich's 15 corruptions (their order), then the 4 extra ones of the download.
IMAGENET_C_STANDARD = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
IMAGENET_C_EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
IMAGENET_C = IMAGENET_C_STANDARD + IMAGENET_C_EXTRA

# ImageNet-C-bar parameter value of severities 1..5 per corruption. Source:
# facebookresearch/augmentation-corruption, imagenet_c_bar/imagenet_c_bar.csv.
IMAGENET_CBAR_PARAMS: dict[str, tuple[float, ...]] = {
    "blue_noise_sample": (0.8, 1.6, 2.4, 4.0, 5.6),
    "brownish_noise": (1.0, 2.0, 3.0, 4.0, 5.0),
    "caustic_refraction": (2.35, 3.2, 4.9, 6.6, 9.15),
    "checkerboard_cutout": (2.0, 3.0, 4.0, 5.0, 6.0),
    "cocentric_sine_waves": (3.0, 5.0, 8.0, 9.0, 10.0),
    "inverse_sparkles": (1.0, 2.0, 4.0, 9.0, 10.0),
    "perlin_noise": (4.6, 5.2, 5.8, 7.6, 8.8),
    "plasma_noise": (4.75, 7.0, 8.5, 9.25, 10.0),
    "single_frequency_greyscale": (1.0, 1.5, 2.0, 4.5, 5.0),
    "sparkles": (1.0, 2.0, 3.0, 5.0, 6.0),
}
IMAGENET_CBAR = tuple(IMAGENET_CBAR_PARAMS)


def severity_folder(severity: int) -> str:
    """The folder name of severity 1..5 in ImageNet-C and in the released ImageNet-C-bar download."""
    return str(severity)


def cbar_severity_folder(corruption: str, severity: int) -> str:
    """The folder name ``make_imagenet_c_bar.py`` gives severity 1..5 of ``corruption``: its parameter
    value, ``"{:.2f}"`` (``2.35``, ``10.00``)."""
    return f"{IMAGENET_CBAR_PARAMS[corruption][severity - 1]:.2f}"

_GROUPS = ("noise", "blur", "weather", "digital", "extra")
RELAX = "--check_dataset false"

Cells = dict[tuple[str, int], ImageList]


def select(text: str | Sequence[str] | None, valid: Sequence[str], flag: str) -> list[str]:
    """Corruption names from ``a,b`` (None: all), in the canonical order; unknown names are a ConfigError."""
    if text is None:
        return list(valid)
    items = comma_list(text)
    for t in items:
        if t not in valid:
            raise ConfigError(f"{flag}: unknown corruption {t!r}; valid: {', '.join(valid)}")
    if not items:
        raise ConfigError(f"{flag} is empty; valid: {', '.join(valid)}")
    return [v for v in valid if v in items]


def select_severities(text: str | Sequence[int] | None, flag: str) -> list[int]:
    """Severities from ``1,3`` (None: 1..5); anything but integers 1..5 is a ConfigError."""
    if text is None:
        return list(SEVERITIES)
    items = comma_list(text, keep_empty=True) if isinstance(text, str) else list(text)
    out = set()
    for t in items:
        try:
            s = int(t)
        except (TypeError, ValueError):
            s = None
        if s not in SEVERITIES or str(t).strip() != str(s):
            raise ConfigError(f"{flag}: unknown severity {t!r}; valid: {', '.join(map(str, SEVERITIES))}")
        out.add(s)
    if not out:
        raise ConfigError(f"{flag} is empty; valid: {', '.join(map(str, SEVERITIES))}")
    return sorted(out)


@dataclass(frozen=True)
class _Kind:
    name: str
    title: str
    flag: str  # the dataset flag
    corruptions_flag: str
    severities_flag: str
    cbar: bool


C = _Kind("imagenet-c", "ImageNet-C", "--imagenet-c", "--corruptions", "--severities", False)
CBAR = _Kind("imagenet-cbar", "ImageNet-C-bar", "--imagenet-cbar", "--cbar-corruptions", "--cbar-severities", True)


def _corruption_dir(root: Path, corruption: str, kind: _Kind) -> Path:
    direct = root / corruption
    if direct.is_dir():
        return direct
    for group in _GROUPS:
        if (root / group / corruption).is_dir():
            return root / group / corruption
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    raise DatasetError(
        f"{kind.title} at {root}: no folder for corruption {corruption} (expected {direct}/<severity>/<wnid>/; "
        f"found {', '.join(found[:8]) or 'no folders'}{' ...' if len(found) > 8 else ''}). "
        f"Pass {kind.corruptions_flag} to evaluate only the corruptions you have")


def cbar_severity_dirs(folder: Path, corruption: str) -> dict[int, Path]:
    """Severity -> folder for one C-bar corruption, from index names (``3``) or parameter names (``4.90``)."""
    params = IMAGENET_CBAR_PARAMS[corruption]
    out: dict[int, Path] = {}
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        sev = None
        if "." not in d.name and d.name.isdigit() and int(d.name) in SEVERITIES:
            sev = int(d.name)
        elif "." in d.name:
            try:
                value = float(d.name)
            except ValueError:
                value = None
            hits = [i + 1 for i, p in enumerate(params) if value is not None and abs(value - p) < 1e-6]
            sev = hits[0] if hits else None
        if sev is None:
            raise DatasetError(
                f"{d}: '{d.name}' is not a severity folder of {corruption}; expected 1..5 or its parameter "
                f"values {', '.join(f'{p:.2f}' for p in params)}")
        if sev in out:
            raise DatasetError(f"{folder}: folders '{out[sev].name}' and '{d.name}' are both severity {sev}")
        out[sev] = d
    return out


def _read_cells(kind: _Kind, root: str | Path, corruptions: Sequence[str], severities: Sequence[int],
                check: bool, n_samples: int | None) -> Cells:
    root = existing_dir(root, kind.flag, "a folder of <corruption>/<severity>/<wnid>/ images")
    note = cbar_manifest.fingerprint_note(root) if kind.cbar else ""  # the generator's recipe, if it wrote one
    cells: Cells = {}
    for c in corruptions:
        folder = _corruption_dir(root, c, kind)
        sev_dirs = cbar_severity_dirs(folder, c) if kind.cbar else {s: folder / severity_folder(s) for s in SEVERITIES}
        for s in severities:
            d = sev_dirs.get(s)
            if d is None or not d.is_dir():
                names = f"{s} or {cbar_severity_folder(c, s)}" if kind.cbar else severity_folder(s)
                raise DatasetError(
                    f"{kind.title} at {root}: no severity {s} folder for {c} (expected {folder}/{names}/<wnid>/); "
                    f"pass {kind.severities_flag} to evaluate only the severities you have")
            images = class_folders(d, f"{kind.name}-{c}-{s}", AS_IS, note=note)
            if check:
                check_layout(images, N_CLASSES, PER_CLASS, f"{kind.title} cell {c}/{s}", RELAX)
            cells[(c, s)] = images.subset(n_samples) if n_samples else images
    return cells


def imagenet_c(root: str | Path, *, corruptions: Sequence[str] = IMAGENET_C, severities: Sequence[int] = SEVERITIES,
               check: bool = True, n_samples: int | None = None) -> Cells:
    """ImageNet-C cells {(corruption, severity): images}, each checked to be 1000 classes x 50."""
    return _read_cells(C, root, corruptions, severities, check, n_samples)


def imagenet_cbar(root: str | Path, *, corruptions: Sequence[str] = IMAGENET_CBAR,
                  severities: Sequence[int] = SEVERITIES, check: bool = True,
                  n_samples: int | None = None) -> Cells:
    """ImageNet-C-bar cells {(corruption, severity): images}, each checked to be 1000 classes x 50."""
    return _read_cells(CBAR, root, corruptions, severities, check, n_samples)

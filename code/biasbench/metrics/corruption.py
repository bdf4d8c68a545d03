"""Aggregates over corruption benchmarks: plain means of cell accuracies, and
ImageNet-C's AlexNet-normalised mean corruption error (mCE) and relative mCE.

Hendrycks & Dietterich (ICLR 2019): with E_{s,c} the top-1 error of a model on
corruption c at severity s, and A_{s,c} AlexNet's,
    CE_c          = sum_s E_{s,c} / sum_s A_{s,c}
    relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (A_{s,c} - A_clean)
and mCE / relative mCE are the means over the 15 standard corruptions, in percent.
Only AlexNet's per-corruption mean over the five severities enters (a sum over
severities is five times the mean), so that is the data kept here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import ConfigError

# AlexNet top-1 error on ImageNet-C, mean over severities 1..5, as a fraction, by corruption name.
# Source: alibaba/easyrobust, easyrobust/benchmarks/ood/imagenet_c.py (get_ce_alexnet); the same
# numbers are AugMix's ALEXNET_ERR (google-research/augmix, imagenet.py) and the means of the
# per-severity AlexNet errors in Hendrycks & Dietterich's evaluation. Published only for the 15
# standard corruptions, so mCE covers those (as everywhere else), never the 4 extra ones.
ALEXNET_ERROR: dict[str, float] = {
    "gaussian_noise": 0.886428,
    "shot_noise": 0.894468,
    "impulse_noise": 0.922640,
    "defocus_blur": 0.819880,
    "glass_blur": 0.826268,
    "motion_blur": 0.785948,
    "zoom_blur": 0.798360,
    "snow": 0.866816,
    "frost": 0.826572,
    "fog": 0.819324,
    "brightness": 0.564592,
    "contrast": 0.853204,
    "elastic_transform": 0.646056,
    "pixelate": 0.717840,
    "jpeg_compression": 0.606500,
}

# AlexNet's clean ImageNet val top-1 error (fraction): the torchvision weights Hendrycks & Dietterich
# evaluated (alexnet-owt-4df8aa71.pth, torchvision AlexNet_Weights.IMAGENET1K_V1: acc@1 56.522).
ALEXNET_CLEAN_ERROR = 1 - 0.56522


def mean_accuracy(cells: Mapping[tuple[str, int], float]) -> float:
    """Plain mean of cell accuracies (percent), every cell weighted equally."""
    if not cells:
        raise ConfigError("no cells to average")
    return sum(cells.values()) / len(cells)


def _corruption_errors(cells: Mapping[tuple[str, int], float], corruptions: Sequence[str],
                       severities: Sequence[int]) -> dict[str, float]:
    """Mean top-1 error (fraction) over ``severities`` of each corruption, from accuracies in percent."""
    out = {}
    for c in corruptions:
        if c not in ALEXNET_ERROR:
            raise ConfigError(f"no AlexNet error for corruption {c!r}; mCE is defined for {', '.join(ALEXNET_ERROR)}")
        missing = [s for s in severities if (c, s) not in cells]
        if missing:
            raise ConfigError(f"mCE needs every severity of {c}; missing {missing}")
        out[c] = sum(1 - cells[(c, s)] / 100 for s in severities) / len(severities)
    return out


def mce(cells: Mapping[tuple[str, int], float], corruptions: Sequence[str] = tuple(ALEXNET_ERROR),
        severities: Sequence[int] = (1, 2, 3, 4, 5)) -> float:
    """AlexNet-normalised mean corruption error in percent (ResNet-50: about 76.7)."""
    errors = _corruption_errors(cells, corruptions, severities)
    return 100 * sum(e / ALEXNET_ERROR[c] for c, e in errors.items()) / len(errors)


def relative_mce(cells: Mapping[tuple[str, int], float], clean_accuracy: float,
                 corruptions: Sequence[str] = tuple(ALEXNET_ERROR), severities: Sequence[int] = (1, 2, 3, 4, 5)) -> float:
    """Relative mCE in percent: the error added by each corruption over the clean error,
    normalised by AlexNet's (ResNet-50: about 105)."""
    errors = _corruption_errors(cells, corruptions, severities)
    clean = 1 - clean_accuracy / 100
    return 100 * sum((e - clean) / (ALEXNET_ERROR[c] - ALEXNET_CLEAN_ERROR) for c, e in errors.items()) / len(errors)

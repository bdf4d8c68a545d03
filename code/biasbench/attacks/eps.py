"""Perturbation budgets: parsing them from flags and naming their result columns."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import ConfigError
from ..flags import comma_list
from ._common import check_eps

# The paper's adversarial column: PGD-40 at eps 0.5/255 is called "low".
LOW_EPS = 0.5 / 255


def _parse_one(text: str, flag: str) -> float:
    part = text.strip()
    try:
        if "/" in part:
            num, den = part.split("/")
            value = float(num) / float(den)
        else:
            value = float(part)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"{flag} value {text!r} is not a number or fraction (expected e.g. 0.5/255, "
                          "1/255,4/255 or 0.00196)") from None
    return check_eps(value, f"{flag} value {text!r} =")


def parse_eps(text: str | float | Sequence[str | float], flag: str = "--eps") -> list[float]:
    """Budgets on the [0, 1] scale from ``"0.5/255"``, ``"1/255,4/255"``, ``"0.00196"``, a
    number, or a list of any of these (as argparse ``nargs='+'`` gives). Order is kept."""
    items = [text] if isinstance(text, (str, int, float)) else list(text)
    values: list[float] = []
    for item in items:
        if isinstance(item, str):
            parts = comma_list(item, keep_empty=True)
            if any(not p.strip() for p in parts):
                raise ConfigError(f"{flag} value {item!r} has an empty entry (expected e.g. 1/255,4/255)")
            values.extend(_parse_one(p, flag) for p in parts)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            values.append(check_eps(item, f"{flag} value"))
        else:
            raise ConfigError(f"{flag} value {item!r} is not a number or fraction (expected e.g. 0.5/255)")
    if not values:
        raise ConfigError(f"{flag} is empty (expected e.g. 0.5/255)")
    return values


def eps_label(eps: float) -> str:
    """``eps`` in units of 1/255, minimally formatted: 1/255 -> '1', 0.25/255 -> '0.25'."""
    return f"{check_eps(eps) * 255:.6g}"


def eps_column(eps: float, attack: str = "PGD-40") -> str:
    """Result column of an attack's top-1 accuracy: the paper's ``top1_acc/PGD-40/low`` for
    PGD-40 at 0.5/255, ``top1_acc/<attack>/eps=<k>/255`` otherwise (e.g. ``FGSM``, ``AutoAttack``)."""
    if not attack or "/" in attack:
        raise ConfigError(f"attack name {attack!r} must be non-empty and contain no '/' (e.g. PGD-40, FGSM)")
    label = eps_label(eps)
    if attack == "PGD-40" and label == eps_label(LOW_EPS):
        return "top1_acc/PGD-40/low"
    return f"top1_acc/{attack}/eps={label}/255"


def robust_accuracy(correct: int, n_images: int) -> float:
    """Top-1 accuracy in percent after an attack: correct / number of images attacked."""
    if n_images <= 0 or not 0 <= correct <= n_images:
        raise ValueError(f"need 0 <= correct <= n_images and n_images > 0, got {correct} / {n_images}")
    return 100.0 * correct / n_images


# The reference's counter ``pos`` grows by the batch size for every one of the 391 batches of 128,
# so it ends at 391 x 128 = 50,048 although the last batch holds only 80 images; its accuracy is
# 1 - fooled/pos = (correct + 48) / 50,048. Every PGD value in the paper's table x 500.48 is an
# integer, and fully broken models show exactly 48 / 500.48 = 0.0959 %.
REFERENCE_PGD_DENOMINATOR = 50_048
REFERENCE_PGD_PADDING = REFERENCE_PGD_DENOMINATOR - 50_000  # the 48 never-attacked "images"


def corrected_reference_accuracy(paper_value: float, n_images: int = 50_000) -> float:
    """A PGD accuracy p (percent) from the paper's table, (correct + 48) / 50,048, as correct / ``n_images``
    in percent: (p x 500.48 - 48) / 500 for ImageNet val (tv_resnet50: 18.390 -> 18.312). docs/differences.md."""
    if not math.isfinite(paper_value):
        return paper_value
    correct = paper_value * REFERENCE_PGD_DENOMINATOR / 100 - REFERENCE_PGD_PADDING
    return 100.0 * correct / n_images

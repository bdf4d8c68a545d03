"""Families of models outside the paper's categories, known by their names (docs/models.md; docs/analysis.md).

Zero-shot image-text models (``open_clip:...``, ``zoo/open_clip_models.py``) form the family ``zero_shot_vlm``:
the analysis gives them their own category, colour and correlations within the family.
"""

from __future__ import annotations

ZERO_SHOT = "zero_shot_vlm"
ZERO_SHOT_PREFIX = "open_clip:"


def is_zero_shot(name: str) -> bool:
    """Whether ``name`` (a model, or a ``benchmark.csv`` row ``<model>@<setup>``) is a zero-shot image-text model."""
    return str(name).startswith(ZERO_SHOT_PREFIX)

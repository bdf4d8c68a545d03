"""Low-frequency bias on frequency cue-conflict stimuli (Gavrikov et al., ICLR 2025; docs/benchmarks.md
"Frequency cue-conflict").

Computed as shape bias is (metrics.shape_bias), with the low-frequency category in the shape's place
and the high-frequency one in the texture's: trials whose two categories agree are dropped; among the
rest L counts 16-class decisions equal to the low-frequency category, H those equal to the
high-frequency one, and the low-frequency bias is L / (L + H). The decision fractions are L and H over
all kept trials, and the cue accuracy (L + H) / kept trials: a decision counts as correct when it
names either cue.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .sixteen_class import CATEGORIES


@dataclass(frozen=True)
class FrequencyBiasResult:
    bias: float  # L / (L + H); NaN when no trial named either cue
    low_hits: int  # L
    high_hits: int  # H
    n_conflict: int  # decided trials whose two categories differ
    per_category: dict[str, float] = field(default_factory=dict)  # the bias within each low-frequency category

    @property
    def low_fraction(self) -> float:
        return self.low_hits / self.n_conflict if self.n_conflict else math.nan

    @property
    def high_fraction(self) -> float:
        return self.high_hits / self.n_conflict if self.n_conflict else math.nan

    @property
    def cue_accuracy(self) -> float:
        """Percent of kept trials whose decision names either cue."""
        return 100.0 * (self.low_hits + self.high_hits) / self.n_conflict if self.n_conflict else math.nan


def _ratio(a: int, b: int) -> float:
    return a / (a + b) if a + b else math.nan


def hits(decisions: Sequence[int], lf: Sequence[int], hf: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low hit, high hit, kept) per trial; decisions < 0 (unread images) and same-category trials are not kept."""
    d, lo, hi = (np.asarray(x, dtype=np.int64) for x in (decisions, lf, hf))
    kept = (d >= 0) & (lo != hi)
    return (d == lo) & kept, (d == hi) & kept, kept


def frequency_bias(decisions: Sequence[int], lf: Sequence[int], hf: Sequence[int]) -> FrequencyBiasResult:
    """Low-frequency bias of 16-class decisions (indices into CATEGORIES; -1 = no decision) given each
    trial's low- and high-frequency category indices."""
    low, high, kept = hits(decisions, lf, hf)
    lo = np.asarray(lf, dtype=np.int64)
    per_category = {}
    for c, name in enumerate(CATEGORIES):
        rows = kept & (lo == c)
        if rows.any():
            per_category[name] = _ratio(int(low[rows].sum()), int(high[rows].sum()))
    return FrequencyBiasResult(_ratio(int(low.sum()), int(high.sum())), int(low.sum()), int(high.sum()),
                               int(kept.sum()), per_category)

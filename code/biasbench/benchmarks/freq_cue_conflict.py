"""Frequency cue-conflict: the low-frequency bias (Gavrikov et al., ICLR 2025; docs/benchmarks.md
"Frequency cue-conflict").

One condition over the stimuli (released or generated: data/freq_cue_conflict.py). Each stimulus gets
the 16-class decision of model-vs-human's cue-conflict (the category with the highest mean softmax
probability over its ImageNet classes: metrics.sixteen_class); the accumulator records every decision,
and the columns come from those decisions and the two categories in each file name
(metrics.frequency_bias):

``frequency-bias`` L / (L + H), ``frequency-bias/<category>`` within one low-frequency category,
``frequency-bias/low-decisions`` L and ``frequency-bias/high-decisions`` H over the trials whose
categories differ (fractions), and ``top1_acc/freq-cue-conflict``: percent of those trials whose
decision names either cue. The interval over stimuli: ``analysis.image_bootstrap``.

Zero-shot (vision-language) models: the accumulator (model-vs-human's) also records the model's own
16-way decision, whose low-frequency bias is ``frequency-bias/zeroshot16``; ``frequency-bias`` is that
of the mapped 1000-class decision, as for every model.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from ..data import freq_cue_conflict as fcc
from ..data.imagelist import ImageList
from ..errors import DatasetError
from ..flags import Option, path
from ..metrics.frequency_bias import frequency_bias
from ..metrics.sixteen_class import CATEGORIES
from .base import Benchmark, Column, Condition, family
from .model_vs_human import ZEROSHOT16, SixteenClassDecisions

NAME = "freq-cue-conflict"
ACCURACY = f"top1_acc/{NAME}"
BIAS = "frequency-bias"
LOW, HIGH = f"{BIAS}/low-decisions", f"{BIAS}/high-decisions"
ZEROSHOT = f"{BIAS}/{ZEROSHOT16}"


class CueDecisions(SixteenClassDecisions):
    """16-class decisions (``SixteenClassDecisions``: labels are the low-frequency categories), with
    both categories of every stimulus kept in the result, so the log's record alone gives the bias
    and its interval."""

    def __init__(self, lf: np.ndarray, hf: np.ndarray):
        super().__init__(len(lf))
        self.lf, self.hf = lf, hf

    def result(self) -> dict:
        return super().result() | {"lf": self.lf.tolist(), "hf": self.hf.tolist()}




class FreqCueConflict(Benchmark):
    name = NAME

    def __init__(self, images: ImageList):
        self.images = images
        pairs = fcc.stimuli(images)
        self.lf = np.array([CATEGORIES.index(s.lf) for s in pairs], dtype=np.int64)
        self.hf = np.array([CATEGORIES.index(s.hf) for s in pairs], dtype=np.int64)
        if not np.array_equal(self.lf, images.labels):
            raise DatasetError(f"{images.root}: labels are not the low-frequency categories of the file names")

    def conditions(self) -> list[Condition]:
        return [Condition(NAME, self.images, metric=partial(CueDecisions, self.lf, self.hf))]

    def columns(self, condition: Condition, result: dict) -> dict[str, float]:
        if not result.get("n") or "decisions" not in result:
            return {}  # e.g. the bootstrap's accuracy-only view: this benchmark has no per-condition accuracy
        r = frequency_bias(result["decisions"], result.get("lf", self.lf), result.get("hf", self.hf))
        if not r.n_conflict:
            return {}
        out = {ACCURACY: r.cue_accuracy, LOW: r.low_fraction, HIGH: r.high_fraction}
        if r.low_hits + r.high_hits:
            out[BIAS] = r.bias
        out |= {f"{BIAS}/{c}": v for c, v in r.per_category.items() if np.isfinite(v)}
        if result.get("decisions_zeroshot16") is not None:  # a zero-shot model's own 16-way decision (#20)
            zs = frequency_bias(result["decisions_zeroshot16"], result.get("lf", self.lf), result.get("hf", self.hf))
            if zs.low_hits + zs.high_hits:
                out[ZEROSHOT] = zs.bias
        return out

    @staticmethod
    def declare() -> list[Column]:
        return [
            Column(BIAS, "low-frequency bias L/(L+H): decisions for the low-frequency category among decisions for "
                   "either category, on the stimuli whose two categories differ (a fraction)"),
            *family(f"{BIAS}/<category>", "low-frequency bias within one low-frequency category",
                    [f"{BIAS}/{c}" for c in CATEGORIES]),
            Column(LOW, "L / trials: share of decisions for the low-frequency category"),
            Column(HIGH, "H / trials: share of decisions for the high-frequency category"),
            Column(ACCURACY, "16-class accuracy (%) counting a decision for either category as correct"),
            Column(ZEROSHOT, "zero-shot models only: low-frequency bias of the model's own 16-way decision"),
        ]


OPTIONS = [Option("freq_cue_conflict", ("--freq-cue-conflict", "--freq_cue_conflict"),
                  "frequency cue-conflict stimuli as <lf category>/<lf><i>-<hf><j>.<ext>: the released set "
                  "(prepare_data.py --datasets freq-cue-conflict) or a generated one (python -m "
                  "biasbench.prepare.freq_cue_conflict)", metavar="DIR", folder=fcc.SUBDIR, parse=path,
                  type=Path | None)]


def build(name, config, datasets):
    root = config.freq_cue_conflict
    if root is None:
        return None
    return FreqCueConflict(fcc.read(Path(root), check=config.check_dataset, n_samples=config.n_samples))


def declared_columns(name, config):
    return FreqCueConflict.declare()

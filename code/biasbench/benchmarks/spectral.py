"""Spectral bias (docs/benchmarks.md "Bias measurements"): accuracy under square low- and high-pass filters.

22 filtered conditions plus the unfiltered one, all on the same ImageNet val
images: one pass decodes each batch once and filters it on the device. Writes
the raw accuracies (``top1_acc/spectral/{clean,LFC/<c>,HFC/<c>}``), the paper's
ratios to the same model's clean accuracy on the same images
(``metric/bandpass/{LFC,HFC}/<c>``) and the preferences LPP / HPP
(``metric/bandpass/{LPP,HPP}``: the mean ratio at c = 0.1 ... 0.5).
"""

from __future__ import annotations

from ..transforms.spectral import CUTOFFS, PREFERENCE_CUTOFFS, Bandpass
from . import imagenet
from .base import Benchmark, Column, Condition, family

KINDS = {"LFC": True, "HFC": False}  # column tag -> low-pass?
PREFERENCES = {"LPP": "LFC", "HPP": "HFC"}  # preference -> the ratios it averages
CLEAN = "clean"


def accuracy_column(condition: str) -> str:
    return f"top1_acc/spectral/{condition}"


def ratio_column(tag: str, cutoff: float) -> str:
    """The paper's ``metric/bandpass/<LFC|HFC>/<c>``: filtered accuracy / clean accuracy."""
    return f"metric/bandpass/{tag}/{cutoff}"


def preference_column(pref: str) -> str:
    return f"metric/bandpass/{pref}"


def preference_inputs(pref: str) -> tuple[str, ...]:
    """The ratio columns whose plain mean is ``pref`` (LPP or HPP): the paper's table has no LPP/HPP
    column, so the analysis averages these, exactly as ``Spectral.summarize`` does."""
    return tuple(ratio_column(PREFERENCES[pref], c) for c in PREFERENCE_CUTOFFS)


class Spectral(Benchmark):
    name = "spectral"

    def __init__(self, images, cutoffs=CUTOFFS):
        self.images = images
        self.cutoffs = tuple(cutoffs)

    def conditions(self):
        conds = [Condition(CLEAN, self.images)]
        for tag, lowpass in KINDS.items():
            for c in self.cutoffs:
                conds.append(Condition(f"{tag}/{c}", self.images, transform=Bandpass(c, lowpass),
                                       params={"cutoff": c, "lowpass": lowpass}))
        return conds

    def columns(self, condition, result):
        return {accuracy_column(condition.name): result["top1"]}

    def summarize(self, values):
        clean = values[CLEAN][accuracy_column(CLEAN)]
        if not clean:  # no clean image right: the ratios are undefined and not written (the accuracies are)
            return {}
        out = {}
        for tag in KINDS:
            for c in self.cutoffs:
                out[ratio_column(tag, c)] = values[f"{tag}/{c}"][accuracy_column(f"{tag}/{c}")] / clean
        for pref in PREFERENCES:
            if all(name in out for name in preference_inputs(pref)):
                out[preference_column(pref)] = sum(out[name] for name in preference_inputs(pref)) / len(
                    PREFERENCE_CUTOFFS)
        return out

    @classmethod
    def declare(cls, cutoffs=CUTOFFS) -> list[Column]:
        cells = [f"{tag}/{c}" for tag in KINDS for c in cutoffs]
        out = [Column(accuracy_column(CLEAN), "top-1 accuracy (%) on the unfiltered images")]
        out += family("top1_acc/spectral/{LFC,HFC}/<c>", "top-1 accuracy (%) after a low-pass (LFC) or high-pass "
                      "(HFC) filter keeping the share c of the spectrum", map(accuracy_column, cells))
        out += family("metric/bandpass/{LFC,HFC}/<c>", "that accuracy / the clean accuracy (the paper's ratio)",
                      [ratio_column(tag, c) for tag in KINDS for c in cutoffs], summary=True)
        if set(PREFERENCE_CUTOFFS) <= set(cutoffs):
            out += family("metric/bandpass/{LPP,HPP}", f"mean LFC (LPP) or HFC (HPP) ratio at c = "
                          f"{', '.join(map(str, PREFERENCE_CUTOFFS))}", map(preference_column, PREFERENCES),
                          summary=True)
        return out


OPTIONS = imagenet.OPTIONS


def build(name, config, datasets):
    return Spectral(datasets.imagenet_val()) if config.imagenet else None


def declared_columns(name, config):
    return Spectral.declare()

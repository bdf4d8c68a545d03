"""Spectral bias (SPEC §1 'spectral'): accuracy under square low- and high-pass filters.

22 filtered conditions plus the unfiltered one, all on the same ImageNet val
images: one pass decodes each batch once and filters it on the device. Writes
the raw accuracies (``top1_acc/spectral/{clean,LFC/<c>,HFC/<c>}``), the paper's
ratios to the same model's clean accuracy on the same images
(``metric/bandpass/{LFC,HFC}/<c>``) and the preferences LPP / HPP
(``metric/bandpass/{LPP,HPP}``: the mean ratio at c = 0.1 ... 0.5).
"""

from __future__ import annotations

from ..transforms.spectral import CUTOFFS, PREFERENCE_CUTOFFS, Bandpass
from .base import Benchmark, Condition
from .imagenet import add_arguments as add_imagenet_arguments
from .imagenet import load_val

KINDS = {"LFC": True, "HFC": False}  # column tag -> low-pass?


class Spectral(Benchmark):
    name = "spectral"

    def __init__(self, images, cutoffs=CUTOFFS):
        self.images = images
        self.cutoffs = tuple(cutoffs)

    def conditions(self):
        conds = [Condition("clean", self.images)]
        for tag, lowpass in KINDS.items():
            for c in self.cutoffs:
                conds.append(Condition(f"{tag}/{c}", self.images, transform=Bandpass(c, lowpass),
                                       info={"cutoff": c, "lowpass": lowpass}))
        return conds

    def columns(self, condition, result):
        return {f"top1_acc/spectral/{condition.name}": result["top1"]}

    def summarize(self, values):
        clean = values["clean"]["top1_acc/spectral/clean"]
        if not clean:  # no clean image right: the ratios are undefined and not written (the accuracies are)
            return {}
        out = {}
        for tag in KINDS:
            for c in self.cutoffs:
                out[f"metric/bandpass/{tag}/{c}"] = values[f"{tag}/{c}"][f"top1_acc/spectral/{tag}/{c}"] / clean
            if set(PREFERENCE_CUTOFFS) <= set(self.cutoffs):
                pref = "LPP" if tag == "LFC" else "HPP"
                out[f"metric/bandpass/{pref}"] = sum(out[f"metric/bandpass/{tag}/{c}"]
                                                     for c in PREFERENCE_CUTOFFS) / len(PREFERENCE_CUTOFFS)
        return out


def add_arguments(parser, add) -> None:
    add_imagenet_arguments(parser, add)


def build(args):
    return Spectral(load_val(args)) if args.imagenet else None

"""Adversarial robustness (docs/benchmarks.md "Adversarial robustness (PGD)"): top-1 accuracy on ImageNet val after L-inf PGD-40
(the paper's ``top1_acc/PGD-40/low`` at eps 0.5/255), and optionally FGSM and AutoAttack.

Attacks need each model's own gradients, so every model is attacked on its own; the
models of one run still share the decoding of each batch. Accuracy is correct after
the attack divided by the number of images (the reference divides by 50,048, a bug).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from ..attacks import LOW_EPS, PGDAttack, autoattack, eps_column, eps_label, fgsm, parse_eps
from ..errors import ConfigError
from ..flags import Option, comma_list, integer
from . import imagenet
from .base import Benchmark, Column, Condition

log = logging.getLogger("biasbench")

# Forward-pass equivalents per image of one attack step: a forward and a backward (about two
# forwards). FGSM is one step; AutoAttack (standard) runs APGD-CE/-T, FAB-T and Square with
# hundreds of steps and queries: a rough figure, on the safe side for robust models.
STEP_COST = 3
AUTOATTACK_COST = 3000


def attack_names(attacks=("PGD",), steps: int = 40) -> list[str]:
    """The attacks' names as in their columns: ``PGD-<steps>``, ``FGSM``, ``AutoAttack``."""
    return [f"PGD-{steps}" if a == "PGD" else a for a in attacks]


def attack_cost(kind: str, steps: int = 40) -> float:
    """Forward-pass equivalents per image of an attack (``kind``: PGD, FGSM or AutoAttack) plus the
    forward that scores it: PGD-40: 40 x 3 + 1 = 121; FGSM: 4; AutoAttack: about 3000."""
    return {"PGD": 1.0 + STEP_COST * steps, "FGSM": 1.0 + STEP_COST, "AutoAttack": float(AUTOATTACK_COST)}[kind]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class _Projected:
    """Wraps an attack to report images/s and the projected time of the whole set after its first batch."""

    attack: object
    name: str
    n_images: int
    _reported: bool = False

    def __call__(self, model, images, labels, indices):
        if self._reported:
            return self.attack(model, images, labels, indices)
        # CUDA runs asynchronously: without the synchronisations the time measured is the launch time
        _synchronize(images.device)
        start = time.perf_counter()
        out = self.attack(model, images, labels, indices)
        _synchronize(images.device)
        if not self._reported:
            rate = len(images) / max(time.perf_counter() - start, 1e-9)
            log.info("%s: %.1f images/s per model -> about %.2f h per model for %d images",
                     self.name, rate, self.n_images / rate / 3600, self.n_images)
            self._reported = True
        return out


class Adversarial(Benchmark):
    name = "adversarial"
    seeded = True

    def __init__(self, images, *, eps=(LOW_EPS,), pgd=True, fgsm_=False, aa=False, steps=40,
                 step_size=2 / 255, seed=0):
        self.images, self.eps, self.seed = images, tuple(eps), seed
        self.attacks = []
        for e in self.eps:
            if pgd:
                self.attacks.append((f"PGD-{steps}", e, PGDAttack(e, steps=steps, step_size=step_size, seed=seed),
                                     attack_cost("PGD", steps)))
            if fgsm_:
                self.attacks.append(("FGSM", e, lambda m, x, y, i, e=e: fgsm(m, x, y, e), attack_cost("FGSM")))
            if aa:
                self.attacks.append(("AutoAttack", e, lambda m, x, y, i, e=e: autoattack(m, x, y, e, seed=seed),
                                     attack_cost("AutoAttack")))

    def conditions(self):
        return [Condition(f"{name}/eps={eps_label(e)}/255", self.images,
                          attack=_Projected(attack, f"{name} eps={eps_label(e)}/255", len(self.images)),
                          params={"attack": name, "eps": e}, provenance={"seed": self.seed},
                          cost=cost)
                for name, e, attack, cost in self.attacks]

    def columns(self, condition, result):
        return {eps_column(condition.params["eps"], condition.params["attack"]): result["top1"]}

    @staticmethod
    def declare(attacks=("PGD",), eps=(LOW_EPS,), steps: int = 40) -> list[Column]:
        out = []
        for e in eps:
            for name in attack_names(attacks, steps):
                column = eps_column(e, name)
                if column == eps_column(LOW_EPS):
                    out.append(Column(column, f"top-1 accuracy (%) after L-inf {name} at eps 0.5/255 (the paper's)"))
                else:
                    out.append(Column(column, "top-1 accuracy (%) after an L-inf attack (PGD-<steps>, FGSM, "
                                      "AutoAttack) at eps k/255", "top1_acc/<attack>/eps=<k>/255"))
        return out


ATTACKS = ("PGD", "FGSM", "AutoAttack")


def _attacks(given) -> tuple[str, ...]:
    chosen = comma_list(given)
    for a in chosen:
        if a not in ATTACKS:
            raise ConfigError(f"attacks: unknown attack {a!r}; expected some of {', '.join(ATTACKS)}")
    return tuple(a for a in ATTACKS if a in chosen) or ("PGD",)


OPTIONS = [
    *imagenet.OPTIONS,
    # The reference's boolean flags, each switching one attack on; PGD when none is.
    Option("attacks", (), "L-inf attack at the --eps budgets (PGD when none is named; also --pgd true/false)", default=("PGD",), parse=_attacks, type=tuple[str, ...],
           switches={"--pgd": "PGD", "--fgsm": "FGSM", "--aa": "AutoAttack"}, columns=True),
    Option("eps", ("--eps",), "budgets on the [0,1] scale, e.g. 0.5/255 or 0.5/255,1/255,4/255",
           default=(LOW_EPS,), shown="0.5/255", parse=lambda v: tuple(parse_eps(v)), type=tuple[float, ...],
           columns=True),
    Option("steps", ("--steps",), "PGD steps", default=40, parse=integer("--steps"), type=int, columns=True),
    Option("step_size", ("--step_size", "--step-size"), "absolute PGD step size (the paper's 2/255)",
           default=2 / 255, shown="2/255", parse=lambda v: parse_eps(v, "--step_size")[0], type=float),
]


def build(name, config, datasets):
    if not config.imagenet:
        return None
    return Adversarial(datasets.imagenet_val(), eps=config.eps, pgd="PGD" in config.attacks,
                       fgsm_="FGSM" in config.attacks, aa="AutoAttack" in config.attacks, steps=config.steps,
                       step_size=config.step_size, seed=config.seed)


def declared_columns(name, config):
    return Adversarial.declare(config.attacks, config.eps, config.steps)

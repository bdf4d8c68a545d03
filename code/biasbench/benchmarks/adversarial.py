"""Adversarial robustness (README "Adversarial robustness (PGD)"): top-1 accuracy on ImageNet val after L-inf PGD-40
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
from ..cli import bool_flag
from .base import Benchmark, Condition
from .imagenet import add_arguments as add_imagenet_arguments
from .imagenet import load_val

log = logging.getLogger("biasbench")


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
                self.attacks.append((f"PGD-{steps}", e, PGDAttack(e, steps=steps, step_size=step_size, seed=seed)))
            if fgsm_:
                self.attacks.append(("FGSM", e, lambda m, x, y, i, e=e: fgsm(m, x, y, e)))
            if aa:
                self.attacks.append(("AutoAttack", e, lambda m, x, y, i, e=e: autoattack(m, x, y, e, seed=seed)))

    def conditions(self):
        return [Condition(f"{name}/eps={eps_label(e)}/255", self.images,
                          attack=_Projected(attack, f"{name} eps={eps_label(e)}/255", len(self.images)),
                          info={"attack": name, "eps": e, "seed": self.seed})
                for name, e, attack in self.attacks]

    def columns(self, condition, result):
        return {eps_column(condition.info["eps"], condition.info["attack"]): result["top1"]}


def add_arguments(parser, add) -> None:
    add_imagenet_arguments(parser, add)
    bool_flag(add, "--pgd", help="L-inf PGD (the default when no attack is named); also --pgd true/false")
    bool_flag(add, "--fgsm", help="FGSM at the same budgets")
    bool_flag(add, "--aa", help="AutoAttack (standard, L-inf) through torchattacks")
    add("--eps", default="0.5/255", help="budgets on the [0,1] scale, e.g. 0.5/255 or 0.5/255,1/255,4/255")
    add("--steps", type=int, default=40, help="PGD steps")
    add("--step_size", "--step-size", default="2/255", help="absolute PGD step size (the paper's 2/255)")


def build(args):
    if not args.imagenet:
        return None
    pgd = args.pgd or not (args.fgsm or args.aa)
    return Adversarial(load_val(args), eps=parse_eps(args.eps), pgd=pgd, fgsm_=args.fgsm, aa=args.aa,
                       steps=args.steps, step_size=parse_eps(args.step_size, "--step_size")[0], seed=args.seed)

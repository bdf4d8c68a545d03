"""Adversarial attacks on [0,1] images: L-inf PGD and FGSM (own, batch-size independent),
AutoAttack (through torchattacks), and the budgets' parsing and result column names."""

from .autoattack import autoattack
from .eps import LOW_EPS, corrected_reference_accuracy, eps_column, eps_label, parse_eps, robust_accuracy
from .pgd import PGDAttack, fgsm, image_seeds, pgd_linf

__all__ = ["LOW_EPS", "PGDAttack", "autoattack", "corrected_reference_accuracy", "eps_column", "eps_label",
           "fgsm", "image_seeds", "parse_eps", "pgd_linf", "robust_accuracy"]

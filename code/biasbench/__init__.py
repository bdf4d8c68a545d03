"""biasbench: biases and generalization of ImageNet classifiers (Gavrikov & Keuper, CVPR 2024)."""

__version__ = "0.1.0"

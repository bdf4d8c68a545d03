"""biasbench: biases and generalization of ImageNet classifiers (Gavrikov & Keuper, CVPR 2024)."""

from .version import __version__

__all__ = ["__version__", "evaluate", "place"]


def __getattr__(name: str):
    # The Python API (docs/models.md "A model in memory, from Python"), imported on first use so that
    # `import biasbench` stays light (it loads neither torch nor pandas).
    if name in ("evaluate", "place"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'biasbench' has no attribute {name!r}")

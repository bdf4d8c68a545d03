"""biasbench: biases and generalization of ImageNet classifiers (Gavrikov & Keuper, CVPR 2024)."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # The Python API (README "A model in memory, from Python"), imported on first use so that
    # `import biasbench` stays light (it loads neither torch nor pandas).
    if name in ("evaluate", "place"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'biasbench' has no attribute {name!r}")

"""Where biasbench keeps downloads and caches."""

import os
from pathlib import Path


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache root: ``override``, else ``$BIASBENCH_CACHE``, else ``~/.cache/biasbench``."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("BIASBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "biasbench"


def offline() -> bool:
    """True when ``$BIASBENCH_OFFLINE`` is set to 1/true: never touch the network."""
    return os.environ.get("BIASBENCH_OFFLINE", "").lower() in ("1", "true", "yes")


def hub_offline() -> bool:
    """True when the Hugging Face Hub's offline mode (``$HF_HUB_OFFLINE``) is on."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")

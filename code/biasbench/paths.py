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

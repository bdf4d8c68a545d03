"""ImageNet class order and the 200-class subsets of ImageNet-A and -R.

Labels always come from a wnid through the standard synset order (index 0 =
n01440764 ... 999 = n15075141), never from a folder's position among the
folders present (docs/running.md). The lists ship with timm (timm/data/_info).
"""

import importlib.util
from functools import lru_cache
from pathlib import Path

from ..errors import DatasetError


@lru_cache(maxsize=None)
def timm_info_dir() -> Path:
    """timm's folder of class lists (timm/data/_info), found without importing timm (seconds of start-up)."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the class lists ship with timm, which is not installed: pip install timm")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "_info"


def _timm_info(name: str) -> list[str]:
    text = (timm_info_dir() / name).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=None)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k wnids in the standard class-index order."""
    wnids = tuple(_timm_info("imagenet_synsets.txt"))
    assert len(wnids) == 1000 and wnids[0] == "n01440764" and wnids[-1] == "n15075141"
    return wnids


@lru_cache(maxsize=None)
def wnid_to_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(imagenet_wnids())}


def label_of(wnid: str, where: str = "") -> int:
    """The ImageNet-1k class index of ``wnid``; a clear error for anything else."""
    try:
        return wnid_to_index()[wnid]
    except KeyError:
        at = f" in {where}" if where else ""
        raise DatasetError(
            f"folder '{wnid}'{at} is not an ImageNet-1k wnid (expected names like n01440764)"
        ) from None


@lru_cache(maxsize=None)
def subset_wnids(name: str) -> tuple[str, ...]:
    """The 200 wnids of ImageNet-A (``name='a'``) or ImageNet-R (``'r'``), in timm's order."""
    if name not in ("a", "r"):
        raise ValueError(f"unknown subset {name!r}; expected 'a' or 'r'")
    return tuple(_timm_info(f"imagenet_{name}_synsets.txt"))


@lru_cache(maxsize=None)
def subset_indices(name: str) -> tuple[int, ...]:
    """ImageNet-1k class indices of the 200 classes of ImageNet-A or -R, ascending."""
    return tuple(sorted(wnid_to_index()[w] for w in subset_wnids(name)))

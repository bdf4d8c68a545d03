"""Where each downloadable dataset comes from and where it goes under ``--root``.

Each dataset is a set of archives (or one plain file); an archive names the folders it
provides (``place``: candidate paths inside the extracted archive -> folder under the root)
and the dataset names the layout check the benchmark itself runs (``check``). Sources,
sizes and licences are listed in docs/datasets.md.

SHA-256: none of these releases publishes one (Zenodo lists MD5 only), so every archive's
hash is recorded in ``<root>/.downloads/datasets.lock.json`` on its first download and
checked on every later one; ``Archive.sha256`` pins a value where one is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..data import corruptions, ood
from ..data import freq_cue_conflict as fcc
from ..data import model_vs_human as mvh
from ..data.imagenet import real_labels

HENDRYCKS = "https://people.eecs.berkeley.edu/~hendrycks"
ZENODO_C = "https://zenodo.org/record/2235448/files"
V2_URL = "https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/imagenetv2-matched-frequency.tar.gz"
SKETCH_GDRIVE_ID = "1Mj0i5HBthqH1p_yeXzsg22gZduvgoNeA"  # HaohanWang/ImageNet-Sketch README: ImageNet-Sketch.zip
# The released frequency cue-conflict split as the Hub stores it (one parquet shard; docs/datasets.md).
FREQ_URL = f"https://huggingface.co/datasets/{fcc.HUB_REPO}/resolve/main/data/test-00000-of-00001.parquet"
REAL_URL = "https://raw.githubusercontent.com/google-research/reassessed-imagenet/master/real.json"

# ImageNet-C's five Zenodo archives and the corruptions each holds.
C_GROUPS: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    "extra": ("speckle_noise", "gaussian_blur", "spatter", "saturate"),
}
assert sorted(c for cs in C_GROUPS.values() for c in cs) == sorted(corruptions.IMAGENET_C)


@dataclass(frozen=True)
class Archive:
    url: str  # for kind "gdrive": the Google Drive file id
    filename: str  # name of the downloaded file under <root>/.downloads/
    place: tuple[tuple[tuple[str, ...], str], ...]  # (candidate paths in the archive, folder under root)
    kind: str = "url"  # "url" or "gdrive" (biasbench.download.Remote's kinds)
    size: int | None = None  # bytes, where the publisher states it (else asked from the server)
    sha256: str | None = None
    plain: bool = False  # a plain file, not an archive: placed as it is at place[0][1]
    # A plain file that is converted rather than placed: convert(file, target folder) writes the folder.
    convert: Callable[[Path, Path], object] | None = None
    hub: bool = False  # on the Hugging Face Hub: its offline mode ($HF_HUB_OFFLINE) applies too

    @property
    def shown_url(self) -> str:
        return f"https://drive.google.com/uc?id={self.url}" if self.kind == "gdrive" else self.url

    def targets(self, root: Path) -> list[Path]:
        return [root / dst for _, dst in self.place]


@dataclass(frozen=True)
class Dataset:
    key: str  # the --datasets name
    title: str
    archives: tuple[Archive, ...]
    check: Callable[[Path], tuple[int, int]]  # root -> (images found, expected); raises DatasetError when off


def _ood_check(name: str, sub: str) -> Callable[[Path], tuple[int, int]]:
    def check(root: Path) -> tuple[int, int]:
        return len(ood.read(name, root / sub)), ood.LAYOUTS[name].total
    return check


def _c_check(root: Path) -> tuple[int, int]:
    cells = corruptions.imagenet_c(root / "imagenet-c")
    return sum(len(v) for v in cells.values()), len(cells) * corruptions.N_CLASSES * corruptions.PER_CLASS


def _real_check(root: Path) -> tuple[int, int]:
    return len(real_labels(root / "imagenet" / "real.json")), 50_000


def _mvh_check(root: Path) -> tuple[int, int]:
    found = sum(len(mvh.read_dataset(root / "model-vs-human" / n, n)) for n in mvh.DATASETS)
    return found, sum(d.n_images for d in mvh.DATASETS.values())


def _freq_check(root: Path) -> tuple[int, int]:
    n = len(fcc.read(root / fcc.SUBDIR))  # checked against its manifest (generated) or the released 1,280
    return n, n if (root / fcc.SUBDIR / fcc.MANIFEST).is_file() else fcc.N_RELEASED


def _extract_freq(parquet: Path, target: Path) -> None:
    from .freq_cue_conflict import extract

    extract(parquet, target)


def _one(url: str, filename: str, inside: str, dst: str, **kw) -> Archive:
    return Archive(url, filename, (((inside,), dst),), **kw)


DATASETS: dict[str, Dataset] = {d.key: d for d in (
    Dataset("a", "ImageNet-A", (_one(f"{HENDRYCKS}/imagenet-a.tar", "imagenet-a.tar", "imagenet-a", "imagenet-a"),),
            _ood_check("imagenet-a", "imagenet-a")),
    Dataset("r", "ImageNet-R", (_one(f"{HENDRYCKS}/imagenet-r.tar", "imagenet-r.tar", "imagenet-r", "imagenet-r"),),
            _ood_check("imagenet-r", "imagenet-r")),
    Dataset("v2", "ImageNet-v2 matched-frequency",
            (_one(V2_URL, "imagenetv2-matched-frequency.tar.gz", "imagenetv2-matched-frequency-format-val",
                  "imagenet-v2"),),
            _ood_check("imagenet-v2", "imagenet-v2")),
    Dataset("sketch", "ImageNet-Sketch",
            (_one(SKETCH_GDRIVE_ID, "ImageNet-Sketch.zip", "sketch", "imagenet-sketch", kind="gdrive",
                  size=7_800_000_000),),
            _ood_check("imagenet-sketch", "imagenet-sketch")),
    # The archives hold <group>/<corruption>/<severity>/<wnid>/; a bare <corruption>/ is accepted too.
    Dataset("c", "ImageNet-C", tuple(
        Archive(f"{ZENODO_C}/{g}.tar", f"{g}.tar", tuple(((f"{g}/{c}", c), f"imagenet-c/{c}") for c in cs))
        for g, cs in C_GROUPS.items()), _c_check),
    Dataset("real", "ImageNet ReaL labels",
            (Archive(REAL_URL, "real.json", ((("real.json",), "imagenet/real.json"),), plain=True),), _real_check),
    Dataset("mvh", "model-vs-human (17 datasets)", tuple(
        _one(mvh.dataset_url(n), f"{n}.tar.gz", n, f"model-vs-human/{n}") for n in mvh.DATASETS), _mvh_check),
    Dataset("freq-cue-conflict", "frequency cue-conflict (Gavrikov et al., ICLR 2025)",
            (Archive(FREQ_URL, "test-00000-of-00001.parquet", (((), fcc.SUBDIR),), plain=True,
                     convert=_extract_freq, hub=True),), _freq_check),
)}

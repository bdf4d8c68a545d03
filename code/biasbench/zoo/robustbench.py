"""RobustBench ImageNet models: ``--model robustbench:NAME[/THREAT]`` (docs/models.md, "RobustBench models").

The model is built and its checkpoint loaded by the ``robustbench`` package itself (``robustbench.utils.
load_model``), from RobustBench's model-folder layout under the suite's cache:
``<cache>/robustbench/imagenet/<THREAT>/<NAME>.pt`` (an ensemble: ``<NAME>.pt_m0.pt``, ``_m1`` ...).
THREAT is ``Linf`` (default), ``L2`` or ``corruptions``. A RobustBench model takes RGB in [0,1] and
normalises itself, so the suite's wrapper adds no second normalisation (mean 0, std 1). Offline, or with
``--offline``, a checkpoint missing from that folder is an error naming the file; online, robustbench
downloads it there (Google Drive, through gdown).

PyPI's robustbench 1.1.1 imports fra31's AutoAttack as ``autoattack``, which PyPI ships as the
``pyautoattack`` module (robustbench's own install points at a git URL): ``_import`` makes that name
importable before robustbench is imported. Install: ``pip install --no-deps -r requirements-robustbench.txt``.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

from ..errors import ModelError, did_you_mean
from .registry import EXTRA, ModelEntry, Source

PREFIX = "robustbench:"
THREATS = ("Linf", "L2", "corruptions")
DEFAULT_THREAT = "Linf"
# RobustBench models take [0,1] input and normalise inside: the suite's wrapper is the identity.
IDENTITY_MEAN, IDENTITY_STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
INSTALL = "pip install --no-deps -r requirements-robustbench.txt"


def is_robustbench(name: str) -> bool:
    return name.startswith(PREFIX)


def parse(spec: str) -> tuple[str, str]:
    """(model name, threat model) of ``robustbench:NAME[/THREAT]``."""
    body = spec[len(PREFIX):]
    name, _, threat = body.partition("/")
    threat = threat or DEFAULT_THREAT
    if not name:
        raise ModelError(f"{spec}: expected robustbench:NAME[/THREAT], e.g. robustbench:Salman2020Do_R50/Linf")
    if threat not in THREATS:
        raise ModelError(f"{spec}: threat model {threat!r} is not one of RobustBench's ImageNet ones "
                         f"({', '.join(THREATS)}){did_you_mean(threat, THREATS)}")
    return name, threat


def model_root(cache_dir=None) -> Path:
    """RobustBench's ``model_dir`` under the suite's cache."""
    from ..paths import cache_dir as suite_cache

    return suite_cache(cache_dir) / "robustbench"


def _import():
    """The robustbench package (ModelError naming the install command when it is absent)."""
    if "autoattack" not in sys.modules:
        try:
            importlib.import_module("autoattack")
        except ImportError:
            try:
                aa = importlib.import_module("pyautoattack")
                sys.modules["autoattack"] = aa
                sys.modules["autoattack.state"] = importlib.import_module("pyautoattack.state")
            except ImportError:
                pass  # robustbench's own import error below names what is missing
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pkg_resources' deprecation notice, timm's moved-module notices
            import robustbench.utils
            from robustbench.model_zoo import model_dicts
            from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
    except ImportError as e:
        raise ModelError(f"robustbench: models need the robustbench package ({e}); install: {INSTALL}") from None
    return robustbench.utils, model_dicts[BenchmarkDataset("imagenet")], ThreatModel


def _zoo_entry(name: str, threat: str, spec: str) -> dict:
    _, imagenet, ThreatModel = _import()
    models = imagenet.get(ThreatModel(threat), {})
    if name not in models:
        raise ModelError(f"{spec}: not a RobustBench ImageNet {threat} model{did_you_mean(name, list(models))}")
    return models[name]


def checkpoint_files(spec: str, cache_dir=None) -> list[Path]:
    """The files RobustBench's layout holds for ``spec`` under the cache (none for a model robustbench builds
    from torchvision's or timm's own pretrained weights)."""
    name, threat = parse(spec)
    ids = _zoo_entry(name, threat, spec)["gdrive_id"]
    path = model_root(cache_dir) / "imagenet" / threat / f"{name}.pt"
    if not ids:
        return []
    return [Path(f"{path}_m{i}.pt") for i in range(len(ids))] if isinstance(ids, list) else [path]


def _no_conversion(*objs):
    raise ModelError("a RobustBench model is loaded by robustbench (zoo.robustbench.load), not converted")


def robustbench_entry(spec: str, cache_dir=None) -> ModelEntry:
    """The zoo entry of ``robustbench:NAME[/THREAT]`` (checked against robustbench's model list)."""
    name, threat = parse(spec)
    canonical = f"{PREFIX}{name}/{threat}"
    files = checkpoint_files(canonical, cache_dir)
    sources = tuple(Source("file", str(f)) for f in files)  # none: robustbench fetches timm/torchvision weights
    return ModelEntry(canonical, EXTRA, f"robustbench:{name} (imagenet/{threat})", sources, _no_conversion,
                      IDENTITY_MEAN, IDENTITY_STD, "RobustBench model: takes [0,1] and normalises itself",
                      f"given as --model {canonical}")


def load(spec: str, cache_dir=None, offline: bool | None = None):
    """The RobustBench model (an ``nn.Module`` taking RGB in [0,1]), loaded by robustbench from the cache."""
    from ..paths import offline as offline_by_environment

    name, threat = parse(spec)
    utils, _, _ = _import()
    files = checkpoint_files(spec, cache_dir)
    missing = [f for f in files if not f.is_file()]
    offline = offline_by_environment() if offline is None else offline
    if offline and (missing or not files):
        what = (f"its checkpoint {missing[0]} is missing (RobustBench's layout: "
                f"<cache>/robustbench/imagenet/{threat}/{name}.pt)" if missing else
                "robustbench builds it from torchvision's or timm's pretrained weights, fetched outside the cache")
        raise ModelError(f"{spec}: cannot load offline: {what}; on a machine with network: "
                         f"python code/prefetch.py --models {spec} --cache-dir {model_root(cache_dir).parent}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return utils.load_model(name, model_dir=str(model_root(cache_dir)), dataset="imagenet",
                                    threat_model=threat).eval()
    except (OSError, RuntimeError, KeyError, ValueError) as e:
        where = ", ".join(map(str, files)) or "robustbench"
        raise ModelError(f"{spec}: robustbench could not load it from {where} ({type(e).__name__}: "
                         f"{(str(e).splitlines() or [''])[0]})") from None

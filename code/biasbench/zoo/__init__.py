"""The model zoo: every checkpoint of the paper (and the loadable extras of its table) by name.

    local = LocalModels()   # the file:// checkpoints one command names
    resolve_models("tv_resnet50,adversarial_training,file://my.pth", local)
    load_model(name, device="cpu", *, local=local, cache_dir=None, offline=None, trust_checkpoint=False)
    get_entry(name, local=None), list_models(category=None)

Registry entries are data (``registry.ModelEntry``); downloads are cached and
SHA-256 checked (``download``); checkpoints load with ``torch.load(weights_only=True)``
plus an allow-list (``safe_load``); models take RGB in [0,1] (``wrapper``).
"""

from .loader import LocalModels, get_entry, list_models, load_model, resolve_models
from .registry import ModelEntry, Source
from .wrapper import NormalizedModel

__all__ = ["LocalModels", "ModelEntry", "NormalizedModel", "Source", "get_entry", "list_models", "load_model",
           "resolve_models"]

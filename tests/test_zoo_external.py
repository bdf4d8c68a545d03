"""timm: and torchvision: model names, served the way the Hub and torchvision serve them, without network:
a Hugging Face cache in the hub layout under HF_HUB_OFFLINE, and a local HTTP server for torchvision's URL."""

import hashlib
import logging

import huggingface_hub
import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

from biasbench import download as transfer
from biasbench.data import model_input
from biasbench.errors import ModelError
from biasbench.runner import zoo_input_config
from biasbench.zoo import download, load_model, resolve_models
from biasbench.zoo.loader import check_classifier

X = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))


def _hub_cache(root, repo: str, filename: str, tensors: dict) -> None:
    """Write ``filename`` of ``repo`` as huggingface_hub's cache holds it (refs/main -> snapshots/<sha>/)."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(sha)
    snap = folder / "snapshots" / sha
    snap.mkdir(parents=True, exist_ok=True)
    if isinstance(tensors, dict):
        save_file(tensors, str(snap / filename))
    else:
        (snap / filename).write_text(tensors)


def test_timm_name_loads_from_the_hub_cache_offline(tmp_path, monkeypatch, caplog):
    torch.manual_seed(3)
    ref = timm.create_model("test_resnet", pretrained=False).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 1.5)
    _hub_cache(tmp_path / "hf", "timm/test_resnet.r160_in1k", "model.safetensors",
               {k: v.contiguous() for k, v in ref.state_dict().items()})
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with caplog.at_level(logging.WARNING, logger="biasbench"):
        names = resolve_models("timm:test_resnet")  # the default tag, resolved and recorded in full
    assert names == ["timm:test_resnet.r160_in1k"]
    note = model_input.note(names[0], zoo_input_config(names[0]), "paper")  # what a paper-protocol run prints
    assert "asks for 160x160" in note and "paper's 224x224" in note
    model = load_model(names[0], offline=False)
    with torch.no_grad():
        want = ref((X - 0.5) / 0.5)  # test_resnet's pretrained_cfg: mean = std = 0.5
        assert torch.allclose(model(X), want, atol=1e-5)
    ledger = download.ledger()
    rec = ledger.get("hf/timm/test_resnet.r160_in1k/model.safetensors")
    assert rec is not None and rec["sha256"] == hashlib.sha256(
        (download.cache_root() / "hf/timm/test_resnet.r160_in1k/model.safetensors").read_bytes()).hexdigest()
    # now in the suite's own cache: the suite's offline mode loads it with the HF cache gone
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with torch.no_grad():
        assert torch.allclose(load_model(names[0], offline=True)(X), want, atol=1e-5)


def test_timm_tag_missing_offline_fails_once_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(transfer, "BACKOFF_S", 30.0)  # a retry would make this test time out
    with pytest.raises(ModelError, match="timm:test_resnet.r160_in1k: downloading"):
        load_model("timm:test_resnet.r160_in1k", offline=False, cache_dir=tmp_path / "cache")


def test_a_registry_tag_resolves_to_the_registry_entry():
    assert resolve_models("timm:resnet50.a1_in1k") == ["resnet50.a1_in1k"]


def test_torchvision_weights_download_from_their_url(http_server, monkeypatch):
    root, base = http_server.root, http_server.base
    torch.manual_seed(4)
    ref = torchvision.models.resnet18().eval()
    torch.save(ref.state_dict(), root / "resnet18-f37072fd.pth")
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    monkeypatch.setattr(weights.value, "url", f"{base}/resnet18-f37072fd.pth")
    names = resolve_models("torchvision:resnet18.DEFAULT")
    assert names == ["torchvision:resnet18.IMAGENET1K_V1"]
    model = load_model(names[0], offline=False)
    norm = torchvision.transforms.Normalize(weights.transforms().mean, weights.transforms().std)
    with torch.no_grad():
        assert torch.allclose(model(X), ref(norm(X)), atol=1e-5)
    assert list(download.cache_root().glob("url/127.0.0.1*/resnet18-f37072fd.pth"))


@pytest.mark.parametrize("spec, expected", [
    ("timm:resnet5O", "did you mean resnet50"),
    ("timm:test_resnet.r161_in1k", "did you mean test_resnet.r160_in1k"),
    ("torchvision:resnett18.IMAGENET1K_V1", "did you mean resnet18"),
    ("torchvision:resnet18.IMAGENET1K_V2", "has no weights 'IMAGENET1K_V2'; it has IMAGENET1K_V1"),
    ("torchvision:resnet18", "expected torchvision:<builder>.<WEIGHTS>"),
    ("torchvision:deeplabv3_resnet50.COCO_WITH_VOC_LABELS_V1", "21 classes"),
])
def test_unknown_names_get_close_matches(spec, expected):
    with pytest.raises(ModelError, match=expected.replace(".", r"\.").replace("(", r"\(").replace("<", ".")):
        resolve_models(spec)


def test_check_classifier_stops_on_the_wrong_output_or_input():
    check_classifier(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 1000)), "ok")
    with pytest.raises(ModelError, match=r"model ten: gives \(2, 10\).*N x 1000"):
        check_classifier(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 10)), "ten")
    with pytest.raises(ModelError, match="model flat: fails on a 2x3x224x224 batch"):
        check_classifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 1000)), "flat")


def test_hf_hub_repo_matches_timms_own_loading(tmp_path, monkeypatch):
    torch.manual_seed(5)
    net = timm.create_model("test_resnet", pretrained=False).eval()
    config = {"architecture": "test_resnet", "num_classes": 1000,
              "pretrained_cfg": {"input_size": [3, 160, 160], "mean": [0.4, 0.45, 0.5], "std": [0.2, 0.25, 0.3],
                                 "crop_pct": 0.95, "interpolation": "bicubic", "num_classes": 1000}}
    import json
    _hub_cache(tmp_path / "hf", "someone/my-resnet", "config.json", json.dumps(config))
    _hub_cache(tmp_path / "hf", "someone/my-resnet", "model.safetensors",
               {k: v.contiguous() for k, v in net.state_dict().items()})
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("BIASBENCH_OFFLINE")  # config.json is read at resolve time, through the suite's cache
    assert resolve_models("hf-hub:someone/my-resnet") == ["hf-hub:someone/my-resnet"]
    model = load_model("hf-hub:someone/my-resnet", offline=False)
    peer = timm.create_model("hf-hub:someone/my-resnet", pretrained=True).eval()  # timm reads the same HF cache
    mean, std = torch.tensor([0.4, 0.45, 0.5]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(X), peer((X - mean) / std), atol=1e-5)


def test_hf_hub_repo_timm_cannot_build_stops_naming_it(tmp_path, monkeypatch):
    _hub_cache(tmp_path / "hf", "someone/a-bert", "config.json", '{"architectures": ["BertModel"]}')
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("BIASBENCH_OFFLINE")
    with pytest.raises(ModelError, match="hf-hub:someone/a-bert: timm cannot build this repo"):
        resolve_models("hf-hub:someone/a-bert")


def test_hf_hub_config_goes_to_the_cache_dir_given(tmp_path, monkeypatch):
    """--cache-dir holds an hf-hub repo's config.json (read when the name is resolved) and its weights;
    the default cache ($BIASBENCH_CACHE) stays untouched."""
    import json
    import os

    net = timm.create_model("test_resnet", pretrained=False).eval()
    config = {"architecture": "test_resnet", "num_classes": 1000, "pretrained_cfg": {"num_classes": 1000}}
    _hub_cache(tmp_path / "hf", "someone/cached-resnet", "config.json", json.dumps(config))
    _hub_cache(tmp_path / "hf", "someone/cached-resnet", "model.safetensors",
               {k: v.contiguous() for k, v in net.state_dict().items()})
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("BIASBENCH_OFFLINE")
    default = download.cache_root() / "hf" / "someone" / "cached-resnet"
    mine = tmp_path / "mine"
    spec = "hf-hub:someone/cached-resnet"
    assert resolve_models(spec, cache_dir=mine) == [spec]
    assert (mine / "checkpoints" / "hf" / "someone" / "cached-resnet" / "config.json").is_file()
    assert zoo_input_config(spec, cache_dir=mine) is not None
    load_model(spec, cache_dir=mine, offline=False)
    assert (mine / "checkpoints" / "hf" / "someone" / "cached-resnet" / "model.safetensors").is_file()
    assert not os.path.exists(default), "the default cache was written"

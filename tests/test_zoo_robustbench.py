"""``--model robustbench:NAME[/THREAT]`` loaded by the robustbench package, offline, from a model folder in
RobustBench's layout under the suite's cache (docs/models.md, "RobustBench models")."""

import importlib.util

import pytest
import torch
import torchvision

from biasbench.errors import ModelError
from biasbench.zoo import load_model, resolve_models

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("robustbench") is None,
    reason="robustbench is an optional extra: pip install --no-deps -r requirements-robustbench.txt")

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """Salman2020Do_R18 (a torchvision ResNet-18 in RobustBench's zoo) with seeded weights, saved the way
    RobustBench's checkpoints are: {"state_dict": {"module.<key>": tensor}} at <dir>/imagenet/Linf/<name>.pt."""
    cache = tmp_path_factory.mktemp("rb-cache")
    torch.manual_seed(7)
    net = torchvision.models.resnet18().eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so a wrong normalisation shows in the logits
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3), m.running_var.uniform_(0.5, 2.0)
    folder = cache / "robustbench" / "imagenet" / "Linf"
    folder.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, folder / "Salman2020Do_R18.pt")
    return cache, net


def test_loads_offline_with_one_normalisation(model_folder):
    cache, net = model_folder
    assert resolve_models("robustbench:Salman2020Do_R18", cache_dir=cache) == ["robustbench:Salman2020Do_R18/Linf"]
    model = load_model("robustbench:Salman2020Do_R18", cache_dir=cache, offline=True)
    x = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = net((x - MEAN) / STD)  # the peer: torchvision's ResNet-18 on ImageNet-normalised input
        got = model(x)
    assert torch.allclose(got, want, atol=1e-5)
    assert model.mean.abs().sum() == 0 and (model.std == 1).all()  # the suite's wrapper adds nothing


def test_runs_through_the_suite_and_records_its_checksum(model_folder, tmp_path, capsys):
    import hashlib
    import json

    from biasbench.cli import main
    from biasbench.results import ResultsStore
    from biasbench.synthetic import write_preset

    cache, net = model_folder
    data = write_preset(tmp_path / "data", "test", which=["imagenet"])["imagenet"]
    results = tmp_path / "out" / "benchmark.csv"
    argv = ["--model", "robustbench:Salman2020Do_R18/Linf", "--imagenet", str(data), "--check_dataset", "false",
            "--device", "cpu", "-j", "0", "--no-progress", "--decoded_cache", "off", "--cache-dir", str(cache),
            "--offline", "--results", str(results)]
    assert main(["imagenet"], argv) == 0
    store = ResultsStore(results)
    from biasbench.results import decisions

    (d,) = decisions.latest(store).values()
    from biasbench.data.decode import decode
    from biasbench.data.imagelist import RESIZE_CROP, list_images

    files = sorted(p for c in sorted((data / "val").iterdir()) for p in list_images(c))
    x = torch.stack([decode(f, RESIZE_CROP) for f in files]).float() / 255
    with torch.no_grad():
        pred = net((x - MEAN) / STD).argmax(1)
    assert sorted(d.pred.tolist()) == sorted(pred.tolist())
    (run,) = (results.parent / "benchmark.runs").glob("*.json")
    (src,) = json.loads(run.read_text())["models"]["robustbench:Salman2020Do_R18/Linf"]["sources"]
    ckpt = cache / "robustbench" / "imagenet" / "Linf" / "Salman2020Do_R18.pt"
    assert src["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()


@pytest.mark.parametrize("spec, message", [
    ("robustbench:Salman2020Do_R50", "Salman2020Do_R50.pt is missing (RobustBench's layout"),
    ("robustbench:Salman2020Do_R5", "not a RobustBench ImageNet Linf model (did you mean Salman2020Do_R50"),
    ("robustbench:Salman2020Do_R50/Linfinity", "threat model 'Linfinity' is not one of"),
    ("robustbench:Standard_R50", "builds it from torchvision's or timm's pretrained weights"),
])
def test_offline_and_unknown_names_are_one_clear_error(model_folder, spec, message):
    cache, _ = model_folder
    with pytest.raises(ModelError, match=message.replace("(", r"\(")):
        load_model(spec, cache_dir=cache, offline=True)

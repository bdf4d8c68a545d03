"""--preprocess model: each model's own resize, crop and interpolation, checked against timm's and torchvision's
own transforms; per-model image lists in the runner (passes shared by equal preprocessing); another setup's row."""

import logging
from dataclasses import replace

import numpy as np
import pytest
import timm
import torch
import torchvision
from PIL import Image
from timm.data import create_transform, resolve_data_config
from timm.models import get_pretrained_cfg
from torchvision import transforms as T

from biasbench import runner as runner_module
from biasbench.benchmarks.imagenet import ImageNetClean
from biasbench.benchmarks.model_vs_human import ModelVsHuman
from biasbench.data import model_input
from biasbench.data.decode import decode
from biasbench.data.imagelist import AS_IS, ImageList
from biasbench.data.imagenet import imagenet_val
from biasbench.metrics import sixteen_class
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions, run
from biasbench.zoo.wrapper import NormalizedModel

from helpers import TinyNet, write_val_tree

OPTS = dict(device="cpu", num_workers=0, progress=False, batch_size=4)
TIMM_TAG = "test_resnet.r160_in1k"  # input 160x160, crop_pct 0.95, bilinear; mean = std = 0.5


@pytest.fixture(scope="module")
def val(tmp_path_factory):
    root = write_val_tree(tmp_path_factory.mktemp("imagenet"), [0, 1, 2, 500], per_class=2, size=(131, 97))
    images = imagenet_val(root, check=False)
    for k in range(len(images)):  # smooth content, so that another crop or scale changes a model's decision
        small = np.random.default_rng(k).integers(0, 256, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((131, 97), Image.BICUBIC).save(images.path(k), "JPEG")
    return images


def _as_float(images: ImageList, i: int, mean, std) -> torch.Tensor:
    """Our decode of image ``i``, as the runner and the wrapper make it: uint8 / 255, normalised."""
    x = decode(images.path(i), images.preprocess).float() / 255.0
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


@pytest.mark.parametrize("cfg", [
    get_pretrained_cfg(TIMM_TAG).to_dict(),
    {"input_size": (3, 176, 176), "crop_pct": 0.9, "interpolation": "bicubic", "crop_mode": "squash"},
    {"input_size": (3, 192, 160), "crop_pct": 1.0, "interpolation": "bilinear", "crop_mode": "center"},
    {"input_size": (3, 160, 160), "crop_pct": 0.95, "interpolation": "bicubic", "crop_mode": "border",
     "mean": (0.2, 0.6, 0.9), "std": (0.3, 0.3, 0.3)},  # padded with the mean's colour
])
def test_timm_preprocessing_equals_timms_own_transform(val, cfg):
    mine = model_input.images_for(val, model_input.ModelInput.of_timm(cfg))
    data = resolve_data_config(pretrained_cfg=cfg)
    theirs = create_transform(**data)  # timm's evaluation transform, normalisation included
    assert mine is not val and mine.fingerprint() != val.fingerprint()
    for i in range(3):
        want = theirs(Image.open(val.path(i)).convert("RGB"))
        got = _as_float(mine, i, data["mean"], data["std"])
        assert got.shape == want.shape == (3, *cfg["input_size"][1:])
        assert torch.allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("weights", ["ResNet50_Weights.IMAGENET1K_V2", "EfficientNet_B1_Weights.IMAGENET1K_V2"])
def test_torchvision_preprocessing_equals_the_weights_transforms(val, weights):
    w = torchvision.models.get_weight(weights)
    t = w.transforms()
    mine = model_input.images_for(val, model_input.ModelInput.of_torchvision(w))
    assert mine is not val
    for i in range(3):
        want = t(Image.open(val.path(i)).convert("RGB"))
        got = _as_float(mine, i, t.mean, t.std)
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-6)


def test_a_pipeline_equal_to_the_papers_keeps_the_papers_list(val):
    tv = model_input.ModelInput.of_torchvision(torchvision.models.get_weight("ResNet50_Weights.IMAGENET1K_V1"))
    cfg = get_pretrained_cfg("resnet50.tv_in1k").to_dict()
    timm_tv = model_input.ModelInput.of_timm(cfg)
    assert tv.is_papers() and timm_tv.is_papers()
    assert model_input.images_for(val, tv) is val and model_input.images_for(val, timm_tv) is val
    # and it truly is the same: timm's transform of that config gives the paper decode's pixels
    theirs = create_transform(**resolve_data_config(pretrained_cfg=cfg))
    for i in range(3):
        want = theirs(Image.open(val.path(i)).convert("RGB"))
        assert torch.allclose(_as_float(val, i, cfg["mean"], cfg["std"]), want, atol=1e-6)
    bicubic = model_input.ModelInput.of_timm(get_pretrained_cfg("convnext_tiny.fb_in1k").to_dict())
    assert not bicubic.is_papers() and model_input.images_for(val, bicubic) is not val


@pytest.fixture(scope="module")
def stored_224(tmp_path_factory):
    """A list of 224x224 files fed as stored (ImageNet-C, C-bar and model-vs-human are such lists)."""
    root = tmp_path_factory.mktemp("c")
    files = []
    for k in range(3):
        arr = np.random.default_rng(k).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / f"{k}.png")
        files.append(f"{k}.png")
    return ImageList("stored", root, tuple(files), np.array([0, 1, 2]), AS_IS)


def test_stored_224_crops_are_resized_whole_never_cropped_again(stored_224):
    at_160 = model_input.ModelInput.of_timm(get_pretrained_cfg(TIMM_TAG).to_dict())  # crop_pct 0.95
    mine = model_input.images_for(stored_224, at_160)
    for i in range(3):
        img = Image.open(stored_224.path(i)).convert("RGB")
        want = np.asarray(img.resize((160, 160), Image.BILINEAR)).transpose(2, 0, 1)  # the whole image, no crop
        assert np.array_equal(decode(mine.path(i), mine.preprocess).numpy(), want)
    # a model of input size 224 gets them as stored, whatever its crop and interpolation
    for tag in ("convnext_tiny.fb_in1k", "resnet50.a1_in1k"):
        same = model_input.ModelInput.of_timm(get_pretrained_cfg(tag).to_dict())
        assert model_input.images_for(stored_224, same) is stored_224
    tv2 = model_input.ModelInput.of_torchvision(torchvision.models.get_weight("ResNet50_Weights.IMAGENET1K_V2"))
    assert model_input.images_for(stored_224, tv2) is stored_224


def test_zoo_models_preprocessing_comes_from_their_library():
    from biasbench.runner import zoo_input_config

    of_timm, of_tv = model_input.ModelInput.of_timm, model_input.ModelInput.of_torchvision
    assert zoo_input_config("resnet50.a1_in1k") == of_timm(get_pretrained_cfg("resnet50.a1_in1k").to_dict())
    assert zoo_input_config("tv2_resnet50") == of_tv(torchvision.models.get_weight("ResNet50_Weights.IMAGENET1K_V2"))
    assert zoo_input_config("torchvision:resnet18.DEFAULT") == of_tv(
        torchvision.models.get_weight("ResNet18_Weights.IMAGENET1K_V1"))
    assert zoo_input_config("robust_resnet50_l2_eps3") is None  # a release without a config of its own
    assert zoo_input_config("not-a-zoo-model") is None  # e.g. a model a custom loader supplies


def test_notes_name_what_a_model_is_fed():
    own = model_input.ModelInput.of_timm(get_pretrained_cfg(TIMM_TAG).to_dict())
    papers = model_input.ModelInput.of_timm(get_pretrained_cfg("resnet50.tv_in1k").to_dict())
    assert model_input.note("m", own, "paper") == (
        "m: its config asks for 160x160, crop_pct 0.95, bilinear; evaluated at the paper's 224x224 after "
        "Resize(256)/CenterCrop(224), bilinear (--preprocess model feeds it its own)")
    assert model_input.note("m", papers, "paper") is None and model_input.note("m", None, "paper") is None
    assert "feeds it its own 160x160, crop_pct 0.95, bilinear" in model_input.note("m", own, "model")
    assert "(the same as the paper's)" in model_input.note("m", papers, "model")
    assert "no preprocessing config of its own" in model_input.note("m", None, "model")


def _timm_net():
    torch.manual_seed(0)
    net = timm.create_model("test_resnet", pretrained=False, num_classes=1000).eval()
    with torch.no_grad():
        net.fc.weight.mul_(50)  # logits far apart: decisions that follow the image, not a near-tie
    return net


def _predictions(net, images: ImageList, transform) -> np.ndarray:
    with torch.no_grad():
        x = torch.stack([transform(Image.open(images.path(i)).convert("RGB")) for i in range(len(images))])
        return net(x).argmax(1).numpy()


class _Loader:
    def __init__(self, **models):
        self.models = models

    def __call__(self, name, device):
        return self.models[name]


def test_runner_feeds_each_model_its_list_and_records_another_setup(tmp_path, val, monkeypatch, caplog):
    net = _timm_net()
    cfg = get_pretrained_cfg(TIMM_TAG).to_dict()
    data = resolve_data_config(pretrained_cfg=cfg)
    # labels = timm's own predictions through timm's own transform: 100 % exactly when the run feeds the same
    labelled = replace(val, labels=_predictions(net, val, create_transform(**data)).astype(np.int64))
    paper_tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(data["mean"], data["std"])])
    paper_top1 = 100.0 * float(np.mean(_predictions(net, labelled, paper_tf) == labelled.labels))
    models = {"timm": NormalizedModel(net, data["mean"], data["std"]), "plain": TinyNet(0), "tv": TinyNet(1)}
    configs = {"timm": model_input.ModelInput.of_timm(cfg), "plain": None,
               "tv": model_input.ModelInput.of_torchvision(
                   torchvision.models.get_weight("ResNet18_Weights.IMAGENET1K_V1"))}  # the paper's pipeline
    passes = []
    one_pass = runner_module._one_pass
    monkeypatch.setattr(runner_module, "_one_pass", lambda works, loaded, *a: passes.append(
        (works[0].images.preprocess, sorted(m for w in works for m in w.models))) or one_pass(works, loaded, *a))
    store = ResultsStore(tmp_path / "benchmark.csv")
    paper = run([ImageNetClean(labelled)], list(models), store, RunOptions(**OPTS), load=_Loader(**models),
                input_config=configs.get)
    assert paper["timm"]["top1_acc/imagenet"] == pytest.approx(paper_top1)
    assert len(passes) == 1  # the paper's protocol: one list, one pass for all three
    table = store.table().set_index("model")
    passes.clear()
    with caplog.at_level(logging.INFO, logger="biasbench"):
        own = run([ImageNetClean(labelled)], list(models), store, RunOptions(preprocess="model", **OPTS),
                  load=_Loader(**models), input_config=configs.get)
    assert own["timm"]["top1_acc/imagenet"] == 100.0 != paper_top1
    # two passes: the timm model's own list, and the paper's list shared by the two fed the paper's pipeline
    assert sorted(passes) == sorted([(labelled.preprocess, ["plain", "tv"]),
                                     (model_input.images_for(labelled, configs["timm"]).preprocess, ["timm"])])
    assert own["plain"] == paper["plain"] and own["tv"] == paper["tv"]
    assert "timm: --preprocess model feeds it its own 160x160" in caplog.text
    assert "plain: no preprocessing config of its own" in caplog.text
    after = store.table().set_index("model")
    for m in models:  # each model's own row unchanged, the other setup in its labelled row
        assert after.loc[m, "top1_acc/imagenet"] == table.loc[m, "top1_acc/imagenet"] == paper[m]["top1_acc/imagenet"]
        assert after.loc[f"{m}@preprocess=model", "top1_acc/imagenet"] == own[m]["top1_acc/imagenet"]
    assert {r.preprocess for r in store.records()} == {"paper", "model"}
    # resumed: nothing left to do under either protocol
    passes.clear()
    for mode in ("paper", "model"):
        assert run([ImageNetClean(labelled)], list(models), store, RunOptions(preprocess=mode, **OPTS),
                   load=_Loader(**models), input_config=configs.get) == {}
    assert passes == []


@pytest.mark.parametrize("zoo_name", [True, False])
def test_model_vs_human_under_a_models_own_size(tmp_path, zoo_name):
    """A stored-224 benchmark (model-vs-human's stylized) for a 160 px model under --preprocess model: its
    images are resized whole to 160x160, and its response tables are read from that list's decisions. The
    model is a zoo name (its config from timm) or a module the zoo does not know, whose config comes from the
    run's ``input_config`` (as ``biasbench.evaluate`` passes one): the tables follow the run's lists either way."""
    from biasbench.data.model_vs_human import read_dataset

    root = tmp_path / "stylized"
    for k, category in enumerate(("airplane", "bear", "cat")):
        (root / category).mkdir(parents=True)
        arr = np.random.default_rng(k).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / category / f"{category}1-{category}2.png")
    images = read_dataset(root, "stylized", check=False)
    net = _timm_net()
    name = f"timm:{TIMM_TAG}" if zoo_name else "mine"  # a zoo name: its config comes from timm, no download
    cfg = get_pretrained_cfg(TIMM_TAG).to_dict()
    given = {} if zoo_name else {"input_config": lambda _name: model_input.ModelInput.of_timm(cfg)}
    data = resolve_data_config(pretrained_cfg=cfg)
    own = model_input.images_for(images, model_input.ModelInput.of_timm(cfg))
    assert own.preprocess != images.preprocess
    mvh = ModelVsHuman({"stylized": images}, responses_dir=tmp_path / "responses")
    store = ResultsStore(tmp_path / "benchmark.csv")
    wrapped = NormalizedModel(net, data["mean"], data["std"])
    run([mvh], [name], store, RunOptions(preprocess="model", **OPTS), load=_Loader(**{name: wrapped}), **given)
    [record] = [r for r in store.records() if r.condition == "stylized"]
    assert record.fingerprint == own.fingerprint() and record.preprocess == "model"
    # the decisions are the model's on the whole images resized to 160x160 (bilinear): timm's Resize
    x = torch.stack([T.Compose([T.Resize((160, 160)), T.ToTensor()])(Image.open(images.path(i)).convert("RGB"))
                     for i in range(len(images))])
    with torch.no_grad():
        want = sixteen_class.decisions(wrapped(x)).tolist()
    assert list(record.extra["result"]["decisions"]) == want
    tables = sorted(p.name for p in (tmp_path / "responses" / "stylized").iterdir())
    file = "timm-test-resnet.r160-in1k" if zoo_name else "mine"
    assert tables == [f"stylized_{file}_session-1.csv"]  # found under the model's own list


def test_command_line_paper_run_then_model_run(tmp_path, monkeypatch, capsys):
    """`--model timm:test_resnet` from a hub cache, run with the paper's protocol and then with --preprocess model:
    the model's own row is unchanged, the other run's values are in `<model>@preprocess=model`, and each equals
    the model's accuracy through the matching reference pipeline (timm's own transform for the second)."""
    import huggingface_hub
    import pandas as pd

    from biasbench.cli import main
    from biasbench.data.synsets import imagenet_wnids
    from test_zoo_external import _hub_cache

    net = _timm_net()
    _hub_cache(tmp_path / "hf", f"timm/{TIMM_TAG}", "model.safetensors",
               {k: v.contiguous() for k, v in net.state_dict().items()})
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("BIASBENCH_OFFLINE", raising=False)  # copied from the hub cache into the suite's own
    data = resolve_data_config(pretrained_cfg=get_pretrained_cfg(TIMM_TAG).to_dict())
    theirs = create_transform(**data)
    paper_tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(data["mean"], data["std"])])
    # each image in the folder of the class the model gives it through timm's transform: 100 % under its own
    wnids = imagenet_wnids()
    for k in range(8):
        small = np.random.default_rng(k).integers(0, 256, (6, 8, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((131, 97), Image.BICUBIC)
        with torch.no_grad():
            label = int(net(theirs(img)[None]).argmax(1))
        path = tmp_path / "imagenet" / "val" / wnids[label] / f"ILSVRC2012_val_{k + 1:08d}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, "JPEG", quality=100)  # the references below are computed from the files
    val = imagenet_val(tmp_path / "imagenet", check=False)
    want_own = 100.0 * np.mean(_predictions(net, val, theirs) == val.labels)
    want_paper = 100.0 * np.mean(_predictions(net, val, paper_tf) == val.labels)
    assert want_own != want_paper
    csv = tmp_path / "out" / "benchmark.csv"
    argv = ["--model", "timm:test_resnet", "--imagenet", str(tmp_path / "imagenet"), "--check_dataset", "false",
            "--device", "cpu", "--num_workers", "0", "--batch_size", "4", "--results", str(csv), "--no-progress",
            "--decoded_cache", "off", "--cache-dir", str(tmp_path / "cache")]
    assert main(["imagenet"], argv) == 0
    before = pd.read_csv(csv).set_index("model")
    assert main(["imagenet"], argv + ["--preprocess", "model"]) == 0
    after = pd.read_csv(csv).set_index("model")
    name = f"timm:{TIMM_TAG}"
    assert sorted(after.index) == [name, f"{name}@preprocess=model"]
    assert after.loc[name, "top1_acc/imagenet"] == before.loc[name, "top1_acc/imagenet"] == pytest.approx(want_paper)
    assert after.loc[f"{name}@preprocess=model", "top1_acc/imagenet"] == pytest.approx(want_own)

"""The registry against the paper's published table and categories, checkpoint_sources.md, torchvision's
parameter counts and timm's pretrained configs; name resolution; checkpoints.md is current."""

import json
import re

import pandas as pd
import pytest
import torch
import torchvision
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from biasbench.errors import ModelError
from biasbench.zoo import LocalModels, get_entry, list_models, resolve_models
from biasbench.zoo.checkpoints_md import REPO_FILE, render
from biasbench.zoo.loader import build_architecture
from biasbench.zoo.paper_models import MODEL_CATEGORY, PAPER_MODELS
from biasbench.zoo.registry import NOT_AVAILABLE, Source, registry


def test_paper48_names_and_categories(reference_dir):
    published = json.loads((reference_dir / "paper" / "r50_categories.json").read_text())
    expected = {m: c for c, names in published.items() for m in names}
    assert len(expected) == 48
    assert {n: get_entry(n).category for n in expected} == expected
    assert sorted(resolve_models("paper48")) == sorted(expected)
    assert {n: e.category for n, e in registry().items() if e.category != "extra"} == MODEL_CATEGORY


def test_registry_covers_the_papers_table(reference_dir):
    table = pd.read_csv(reference_dir / "paper" / "benchmark.csv", usecols=["model"])["model"]
    assert len(table) == 70
    not_loadable = set(NOT_AVAILABLE) & set(table)
    assert not_loadable == {"vonenet_resnet50", "resnet50_diffusionnoise", "resnet50_diffusionnoise_fixed",
                            "resnet50_lpmix", "resnet50_freqmix"}
    assert set(registry()) == set(table) - not_loadable
    assert set(list_models("extra")) == set(table) - not_loadable - set(PAPER_MODELS)


def test_sources_match_checkpoint_sources_md(reference_dir):
    doc = (reference_dir / "checkpoint_sources.md").read_text()
    rows = {ln.split("|")[1].strip(): ln for ln in doc.splitlines() if ln.startswith("| ")}
    for name in PAPER_MODELS:
        for src in get_entry(name).sources:
            if src.kind in ("url", "gdrive"):
                m = re.fullmatch(r"resnet50_moco_v3_(\d+)ep", name)
                if m:
                    n = m.group(1)
                    assert src.location == f"https://dl.fbaipublicfiles.com/moco-v3/r-50-{n}ep/linear-{n}ep.pth.tar"
                else:
                    assert src.location in rows[name], name
            elif src.kind == "hf":
                m = re.fullmatch(r"robust_resnet50_(l2|linf)_eps([\d.]+)", name)
                if m:
                    assert src.location == "madrylab/robust-imagenet-models"
                    assert src.filename == f"resnet50_{m.group(1)}_eps{m.group(2)}.ckpt"
                else:
                    assert src.location in rows[name] and src.filename in rows[name], name
            elif src.kind == "timm":
                assert src.location in (name, "resnet50.tv_in1k"), name
            else:
                assert src == Source("torchvision", "ResNet50_Weights.IMAGENET1K_V2") and name == "tv2_resnet50"


def _param_count(weights: str) -> int:
    return torchvision.models.get_weight(weights).meta["num_params"]


def test_architectures_have_torchvisions_parameter_counts():
    expected = {"resnet50": _param_count("ResNet50_Weights.IMAGENET1K_V2"),
                "resnet18": _param_count("ResNet18_Weights.IMAGENET1K_V1"),
                "resnet34": _param_count("ResNet34_Weights.IMAGENET1K_V1"),
                "resnet101": _param_count("ResNet101_Weights.IMAGENET1K_V2"),
                "resnet152": _param_count("ResNet152_Weights.IMAGENET1K_V2"),
                "vit_b_16": _param_count("ViT_B_16_Weights.IMAGENET1K_V1"),
                "vit_b_32": _param_count("ViT_B_32_Weights.IMAGENET1K_V1")}
    assert expected["resnet50"] == 25_557_032
    family = {"resnet50": "resnet50", "resnet18": "resnet18", "resnet34": "resnet34", "resnet101": "resnet101",
              "resnet152": "resnet152", "vit_base_patch16_224": "vit_b_16", "vit_b_16": "vit_b_16",
              "vit_base_patch32_224": "vit_b_32"}
    checked = 0
    for e in registry().values():
        arch = e.architecture.split(":")[1].split(".")[0]
        if arch not in family:
            continue
        with torch.device("meta"):
            net = build_architecture(e)
        assert sum(p.numel() for p in net.parameters()) == expected[family[arch]], e.name
        checked += 1
    assert checked == 48 + 4 + 3 + 6  # the 48, resnet18..152, untrained/ssl/swsl ResNet-50s, 6 ViT-B


def test_normalisation_comes_from_each_checkpoints_config():
    for e in registry().values():
        kinds = {s.kind for s in e.sources}
        if kinds == {"timm"}:
            with torch.device("meta"):
                net = build_architecture(e)  # timm.create_model(tag, pretrained=False)
            tag = e.sources[0].location
            assert net.pretrained_cfg["tag"] == tag.split(".")[1] and net.num_classes == 1000, e.name
            assert (tuple(net.pretrained_cfg["mean"]), tuple(net.pretrained_cfg["std"])) == (e.mean, e.std), e.name
        elif kinds == {"torchvision"}:
            t = torchvision.models.get_weight(e.sources[0].location).transforms()
            assert (tuple(t.mean), tuple(t.std)) == (e.mean, e.std)
        elif e.name in ("resnet50_simclrv2", "resnet50_diffusionnoise_fixed_nonoise"):
            assert (e.mean, e.std) == ((0, 0, 0), (1, 1, 1))
        else:
            assert (e.mean, e.std) == (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD), e.name
    assert get_entry("resnetv2_50x1_bit_distilled").mean == (0.5, 0.5, 0.5)
    assert get_entry("vit_base_patch16_224.augreg_in1k").std == (0.5, 0.5, 0.5)


def test_only_the_diffusion_fixed_variant_is_unverified(monkeypatch, tmp_path):
    assert [n for n, e in registry().items() if not e.verified] == ["resnet50_diffusionnoise_fixed_nonoise"]
    e = get_entry("resnet50_diffusionnoise_fixed_nonoise")
    assert e.effective_sources() == e.sources
    monkeypatch.setenv(e.source_env, "hf://paulgavrikov/another_repo/fixed/last.pth")
    assert e.effective_sources() == (Source("hf", "paulgavrikov/another_repo", "fixed/last.pth"),)
    monkeypatch.setenv(e.source_env, "gdrive://1AbC")
    assert e.effective_sources() == (Source("gdrive", "1AbC"),)
    local = tmp_path / "fixed.pth"
    local.write_bytes(b"x")
    monkeypatch.setenv(e.source_env, str(local))
    assert e.effective_sources() == (Source("file", str(local)),)
    monkeypatch.setenv(e.source_env, "not-a-source")
    with pytest.raises(ModelError, match="not-a-source"):
        e.effective_sources()


def test_resolve_models():
    assert resolve_models("tv_resnet50") == ["tv_resnet50"]
    assert resolve_models(" stylized , tv_resnet50,resnet50_trained_on_SIN ") == [
        "resnet50_trained_on_SIN", "resnet50_trained_on_SIN_and_IN",
        "resnet50_trained_on_SIN_and_IN_then_finetuned_on_IN", "tv_resnet50"]
    assert len(resolve_models("adversarial_training")) == 15
    assert resolve_models("paper48") == PAPER_MODELS
    assert len(resolve_models("paper48,extra")) == len(resolve_models("all")) == len(registry())
    assert list_models("freezing") == ["resnet50_frozen_random"]


@pytest.mark.parametrize("spec,hint", [
    ("robust_resnet50_l2_eps4", "robust_resnet50_l2_eps5"),
    ("resnet50_pixmix", "resnet50_pixmix_90ep"),
    ("adversarial-training", "adversarial_training"),
    ("vonenet_resnet50", "vonenet package"),
    ("tv_resnet50,nothing_like_any_name_xyz", "checkpoints.md"),
])
def test_unknown_names_suggest(spec, hint):
    with pytest.raises(ModelError, match=re.escape(hint)):
        resolve_models(spec)


def test_unknown_category():
    with pytest.raises(ModelError, match="augmentation"):
        list_models("augmentations")


def test_file_specs(tmp_path):
    path = tmp_path / "mine.pth"
    path.write_bytes(b"")
    spec = f"file://{path}?arch=resnet18&mean=0,0,0&std=1,1,1&name=specs_mine"
    local = LocalModels()
    assert resolve_models(f"tv_resnet50,{spec}", local) == ["tv_resnet50", "specs_mine"]
    e = get_entry(spec)
    assert get_entry("specs_mine", local) == e
    assert e.spec == spec and e.notes == ""  # the spec is a field of its own, not a note
    assert (e.architecture, e.mean, e.std, e.category) == ("timm:resnet18", (0, 0, 0), (1, 1, 1), "local")
    plain = get_entry(f"file://{path}")
    assert plain.architecture == "timm:resnet50" and plain.mean == IMAGENET_DEFAULT_MEAN
    for bad, msg in [(f"file://{tmp_path}/missing.pth", "no such file"),
                     (f"file://{path}?arch=resnet5O", "resnet50"),
                     (f"file://{path}?mean=1,2", "three comma-separated"),
                     (f"file://{path}?std=1,0,1", "positive"),
                     (f"file://{path}?size=224", "unknown option")]:
        with pytest.raises(ModelError, match=msg):
            resolve_models(bad)


def test_checkpoints_md_is_current():
    assert REPO_FILE.exists(), "run: python -m biasbench.zoo.checkpoints_md"
    assert REPO_FILE.read_text() == render(), "checkpoints.md is stale: run python -m biasbench.zoo.checkpoints_md"
    text = REPO_FILE.read_text()
    for name in registry():
        assert f"| `{name}` |" in text
    assert "**unverified source.**" in text and "vonenet_resnet50" in text

"""Each converter on a checkpoint built in its release's real key layout and container format, saved to
disk and read back through safe loading: the result loads strictly into the entry's architecture and
every tensor equals the source tensor."""

import argparse
import hashlib

import numpy as np
import pytest
import timm
import torch

from biasbench.errors import ModelError
from biasbench.zoo import converters as cv
from biasbench.zoo import get_entry
from biasbench.zoo.loader import build_architecture
from biasbench.zoo.safe_load import load_checkpoint

from zoo_helpers import (
    SimCLRv2PortResNet50,
    compact_random,
    madrylab_checkpoint,
    module_prefixed,
    optimizer_state,
    r50_state,
    random_state,
    vit_layout,
)


@pytest.fixture(scope="module")
def ref():
    return r50_state(0)


@pytest.fixture(scope="module")
def r50():
    return timm.create_model("resnet50", pretrained=False)


def roundtrip(obj, tmp_path, legacy=False):
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return load_checkpoint(path)


def assert_exact(converted, ref, net):
    assert set(converted) == set(ref)
    for k, v in ref.items():
        assert torch.equal(converted[k], v), k
    net.load_state_dict(converted, strict=True)


def test_entries_use_these_converters():
    expected = {"robust_resnet50_linf_eps4.0": cv.madrylab_robustness, "resnet50_trained_on_SIN": cv.state_dict_strip_module,
                "resnet50_moco_v3_300ep": cv.state_dict_strip_module, "resnet50_tsbias_sbias": cv.tsbias_drop_aux_bn,
                "resnet50_pixmix_180ep": cv.generic_unwrap, "resnet50_prime": cv.generic_unwrap,
                "resnet50_frozen_random": cv.generic_unwrap, "resnet50_dino": cv.dino_resnet50,
                "resnet50_swav": cv.swav_resnet50, "resnet50_simclrv2": cv.simclrv2_tf_port,
                "resnet50_diffusionnoise_fixed_nonoise": cv.diffusionnoise_wrapper,
                "vit_base_patch16_224.dino_in1k": cv.dino_vit, "vit_base_patch16_224.mae_in1k": cv.generic_unwrap}
    for name, fn in expected.items():
        assert get_entry(name).converter is fn, name


def test_madrylab(ref, r50, tmp_path):
    loaded = roundtrip(madrylab_checkpoint(ref), tmp_path)
    assert_exact(cv.madrylab_robustness(loaded), ref, r50)


def test_madrylab_without_classifier_keys_is_refused():
    with pytest.raises(ModelError, match="module.model."):
        cv.madrylab_robustness({"model": {"module.attacker.model.fc.bias": torch.zeros(2)}})


def test_geirhos_legacy_tar(ref, r50, tmp_path):
    ckpt = {"epoch": 60, "arch": "resnet50", "state_dict": module_prefixed(ref), "best_prec1": 76.1,
            "optimizer": optimizer_state()}
    loaded = roundtrip(ckpt, tmp_path, legacy=True)  # the 2019 files predate torch's zip format
    assert_exact(cv.state_dict_strip_module(loaded), ref, r50)


def test_moco_v3_linear(ref, r50, tmp_path):
    ckpt = {"epoch": 90, "arch": "resnet50", "state_dict": module_prefixed(ref), "best_acc1": torch.tensor(74.6),
            "optimizer": optimizer_state()}
    assert_exact(cv.state_dict_strip_module(roundtrip(ckpt, tmp_path)), ref, r50)


@pytest.mark.parametrize("container", [
    "plain", "state_dict", "model_state_dict", "model", "online_backbone", "nested", "with_args_and_numpy"])
def test_generic_unwrap(container, ref, r50, tmp_path):
    sd = module_prefixed(ref)
    ckpt = {
        "plain": lambda: dict(ref),
        "state_dict": lambda: {"epoch": 90, "state_dict": sd, "optimizer": optimizer_state()},
        "model_state_dict": lambda: {"epoch": 180, "model_state_dict": sd, "best_acc1": 77.4},
        "model": lambda: {"model": sd, "epoch": 3},
        "online_backbone": lambda: {"online_backbone": dict(ref), "target_backbone": {"x": torch.zeros(1)}},
        "nested": lambda: {"state_dict": {"model_state_dict": {f"module.module.{k}": v for k, v in ref.items()}}},
        # PixMix/AugMix-style: training arguments and a numpy metric beside the weights
        "with_args_and_numpy": lambda: {"state_dict": sd, "args": argparse.Namespace(lr=0.1, arch="resnet50"),
                                        "best_acc": np.float64(77.36), "epoch": np.int64(90)},
    }[container]()
    assert_exact(cv.generic_unwrap(roundtrip(ckpt, tmp_path)), ref, r50)


def test_generic_unwrap_names_what_it_found():
    with pytest.raises(ModelError, match="'epoch'.*'weights'|'weights'.*'epoch'"):
        cv.generic_unwrap({"epoch": 1, "weights": {"a": 1}})


def test_tsbias_drops_aux_bn(ref, r50, tmp_path):
    sd = module_prefixed(ref)
    bns = {k.rsplit(".", 1)[0] for k in ref if k.endswith("running_var")}
    for bn in bns:  # MixBatchNorm2d: the auxiliary BN is a child of each main BN
        for leaf, v in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            sd[f"module.{bn}.aux_bn.{leaf}"] = torch.full_like(ref[f"{bn}.{leaf}"], v)
        sd[f"module.{bn}.aux_bn.num_batches_tracked"] = torch.tensor(5)
    assert len(bns) == 53
    ckpt = {"epoch": 100, "arch": "resnet50", "state_dict": sd, "optimizer": optimizer_state()}
    assert_exact(cv.tsbias_drop_aux_bn(roundtrip(ckpt, tmp_path)), ref, r50)


def test_diffusionnoise_wrapper(ref, r50, tmp_path):
    ckpt = {"model": module_prefixed(ref), "optimizer": optimizer_state(), "epoch": 90,
            "args": argparse.Namespace(noise=True)}
    assert_exact(cv.diffusionnoise_wrapper(roundtrip(ckpt, tmp_path)), ref, r50)
    with pytest.raises(ModelError, match="noiser.alpha"):
        cv.diffusionnoise_wrapper({"model": {**module_prefixed(ref), "noiser.alpha": torch.zeros(1)}})


def linear_eval_head(weight, bias):
    """DINO/SwAV eval_linear checkpoint of the linear classifier (DDP-wrapped)."""
    return {"epoch": 100, "state_dict": {"module.linear.weight": weight, "module.linear.bias": bias},
            "optimizer": optimizer_state(2), "scheduler": {"T_max": 100, "last_epoch": 100}, "best_acc": 75.3}


def test_dino_resnet50(ref, r50, tmp_path):
    backbone = {k: v for k, v in ref.items() if not k.startswith("fc.")}
    bb = roundtrip(backbone, tmp_path)
    head = roundtrip(linear_eval_head(ref["fc.weight"], ref["fc.bias"]), tmp_path)
    assert_exact(cv.dino_resnet50(bb, head), ref, r50)


def test_swav_resnet50(ref, r50, tmp_path):
    backbone = {f"module.{k}": v for k, v in ref.items() if not k.startswith("fc.")}
    backbone.update({  # the training heads the released backbone file carries
        "module.projection_head.0.weight": torch.randn(2048, 2048), "module.projection_head.0.bias": torch.randn(2048),
        "module.projection_head.1.weight": torch.randn(2048), "module.projection_head.1.bias": torch.randn(2048),
        "module.projection_head.1.running_mean": torch.randn(2048), "module.projection_head.1.running_var": torch.rand(2048),
        "module.projection_head.1.num_batches_tracked": torch.tensor(7),
        "module.projection_head.3.weight": torch.randn(128, 2048), "module.projection_head.3.bias": torch.randn(128),
        "module.prototypes.weight": torch.randn(3000, 128)})  # SwAV: Linear-BN-ReLU-Linear, 3000 prototypes
    bb = roundtrip(backbone, tmp_path)
    head = roundtrip(linear_eval_head(ref["fc.weight"], ref["fc.bias"]), tmp_path)
    assert_exact(cv.swav_resnet50(bb, head), ref, r50)


def test_linear_head_with_unexpected_keys_is_refused(ref):
    head = linear_eval_head(ref["fc.weight"], ref["fc.bias"])
    head["state_dict"]["module.bn.weight"] = torch.ones(2048)
    backbone = {f"module.{k}": v for k, v in ref.items() if not k.startswith("fc.")}
    with pytest.raises(ModelError, match="module.bn.weight"):
        cv.swav_resnet50(backbone, head)


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha1(t.contiguous().numpy().tobytes() + str(tuple(t.shape)).encode()).hexdigest()


def test_simclrv2_tf_port(r50, tmp_path):
    with torch.device("meta"):
        port = SimCLRv2PortResNet50()
    shapes = {k: tuple(v.shape) for k, v in port.state_dict().items()}
    src = compact_random(shapes, seed=1, ints={k for k in shapes if k.endswith("num_batches_tracked")})
    ckpt = {"resnet": src, "head": {"layers.0.weight": torch.randn(2048, 2048)}}
    loaded = roundtrip(ckpt, tmp_path)
    converted = cv.simclrv2_tf_port(loaded)
    r50.load_state_dict(converted, strict=True)
    # every converted tensor is exactly one source tensor, and all of them are used
    by_content = {_digest(v): k for k, v in src.items()}
    assert len(by_content) == len(src)
    mapping = {k: by_content.get(_digest(v)) for k, v in converted.items()}
    assert None not in mapping.values() and sorted(mapping.values()) == sorted(src)
    # hand-checked correspondences of the port's names
    for torch_key, tf_key in {"conv1.weight": "net.0.0.weight", "bn1.running_var": "net.0.1.0.running_var",
                              "layer1.0.conv1.weight": "net.1.blocks.0.net.0.weight",
                              "layer1.0.bn3.bias": "net.1.blocks.0.net.5.0.bias",
                              "layer2.3.conv2.weight": "net.2.blocks.3.net.2.weight",
                              "layer3.5.bn2.num_batches_tracked": "net.3.blocks.5.net.3.0.num_batches_tracked",
                              "layer4.0.downsample.0.weight": "net.4.blocks.0.projection.shortcut.weight",
                              "layer2.0.downsample.1.running_mean": "net.2.blocks.0.projection.bn.0.running_mean",
                              "fc.weight": "fc.weight"}.items():
        assert mapping[torch_key] == tf_key


def test_simclrv2_unknown_key_is_refused():
    with pytest.raises(ModelError, match="net.0.0.conv_sk"):
        cv.simclrv2_tf_port({"resnet": {"net.0.0.conv_sk.weight": torch.zeros(1)}})


def small_vit(**kw):
    return timm.models.VisionTransformer(img_size=32, patch_size=16, embed_dim=24, depth=2, num_heads=2,
                                         num_classes=10, **kw)


def test_dino_vit_values_on_a_small_vit(tmp_path):
    backbone = random_state(vit_layout(2, 24, img=32))
    w, b = torch.randn(10, 24), torch.randn(10)
    conv = cv.dino_vit(roundtrip(backbone, tmp_path), roundtrip(linear_eval_head(w, b), tmp_path))
    assert_exact(conv, {**backbone, "head.weight": w, "head.bias": b}, small_vit())


def test_dino_vit_fits_vit_base():
    backbone = random_state(vit_layout(12, 768), device="meta")
    head = linear_eval_head(torch.empty(1000, 768, device="meta"), torch.empty(1000, device="meta"))
    with torch.device("meta"):
        net = build_architecture(get_entry("vit_base_patch16_224.dino_in1k"))
    net.load_state_dict(cv.dino_vit(backbone, head), strict=True, assign=True)


def test_mae_finetuned_values_on_a_small_vit(tmp_path):
    sd = random_state(vit_layout(2, 24, img=32, final="fc_norm", head=10))
    conv = cv.generic_unwrap(roundtrip({"model": sd}, tmp_path))
    assert_exact(conv, sd, small_vit(global_pool="avg"))


def test_mae_finetuned_fits_vit_base():
    sd = random_state(vit_layout(12, 768, final="fc_norm", head=1000), device="meta")
    with torch.device("meta"):
        net = build_architecture(get_entry("vit_base_patch16_224.mae_in1k"))
    net.load_state_dict(cv.generic_unwrap({"model": sd}), strict=True, assign=True)

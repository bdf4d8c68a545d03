"""load_model end to end from a cache filled by the test (offline), the [0,1]-input wrapper against
torchvision's Normalize, file:// models, source overrides, integrity on load, and code/prefetch.py."""

import importlib.util
import json
from pathlib import Path

import pytest
import timm
import torch
from torchvision.transforms import Normalize

from biasbench.errors import ModelError
from biasbench.zoo import NormalizedModel, get_entry, load_model
from biasbench.zoo.download import LOCK_NAME, relpath

from zoo_helpers import madrylab_checkpoint, module_prefixed, r50_forward_state

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ref():
    return r50_forward_state(3)


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def reference_output(sd, x, mean, std, arch="resnet50"):
    net = timm.create_model(arch, pretrained=False).eval()
    net.load_state_dict(sd)
    with torch.no_grad():
        return net(Normalize(mean, std)(x))


def place_in_cache(cache, name, obj, index=0):
    src = get_entry(name).sources[index]
    path = cache / "checkpoints" / relpath(src)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def test_wrapper_normalises_then_calls_the_network(x):
    net = torch.nn.Conv2d(3, 4, 3)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    wrapped = NormalizedModel(net, mean, std, name="conv")
    assert not wrapped.training and wrapped.name == "conv"
    assert {k for k, _ in wrapped.named_buffers()} == {"mean", "std"}
    with torch.no_grad():
        assert torch.allclose(wrapped(x), net(Normalize(mean, std)(x)), atol=1e-6)
    with pytest.raises(ValueError):
        NormalizedModel(net, (0, 0), (1, 1, 1))


def test_load_model_offline_from_cache(ref, x, tmp_path):
    cache = tmp_path / "cache"
    path = place_in_cache(cache, "robust_resnet50_l2_eps3", madrylab_checkpoint(ref))
    model = load_model("robust_resnet50_l2_eps3", "cpu", cache_dir=cache)  # offline via $BIASBENCH_OFFLINE
    assert isinstance(model, NormalizedModel) and model.name == "robust_resnet50_l2_eps3"
    assert not model.training and not model.model.training
    with torch.no_grad():
        out = model(x)
    expected = reference_output(ref, x, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert out.shape == (2, 1000) and torch.allclose(out, expected, atol=1e-4, rtol=1e-4)
    rec = json.loads((cache / "checkpoints" / LOCK_NAME).read_text())["files"]
    assert set(rec) == {"hf/madrylab/robust-imagenet-models/resnet50_l2_eps3.ckpt"}
    # a tampered cache file is detected at the next load, deleted, and never loaded
    data = path.read_bytes()
    path.write_bytes(data[:-10] + bytes(10))
    with pytest.raises(ModelError, match="SHA-256"):
        load_model("robust_resnet50_l2_eps3", cache_dir=cache)
    assert not path.exists()


def test_two_source_model(ref, x, tmp_path):
    cache = tmp_path / "cache"
    place_in_cache(cache, "resnet50_dino", {k: v for k, v in ref.items() if not k.startswith("fc.")}, 0)
    place_in_cache(cache, "resnet50_dino", {"state_dict": {"module.linear.weight": ref["fc.weight"],
                                                           "module.linear.bias": ref["fc.bias"]}, "epoch": 100}, 1)
    with torch.no_grad():
        out = load_model("resnet50_dino", cache_dir=cache)(x)
    assert torch.allclose(out, reference_output(ref, x, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), atol=1e-4)


def test_missing_checkpoint_offline_names_the_prefetch_command(tmp_path):
    with pytest.raises(ModelError, match="prefetch.py --models resnet50_swav"):
        load_model("resnet50_swav", cache_dir=tmp_path)


def test_untrained_is_seeded_and_loads_nothing(x):
    a, b = load_model("resnet50_untrained"), load_model("resnet50_untrained")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    torch.manual_seed(0)
    expected = timm.create_model("resnet50", pretrained=False)
    assert torch.equal(a.model.conv1.weight, expected.conv1.weight)


def test_file_model_with_overrides(x, tmp_path):
    torch.manual_seed(4)
    sd = timm.create_model("resnet18", pretrained=False).state_dict()
    path = tmp_path / "mine.pth"
    torch.save({"epoch": 3, "state_dict": module_prefixed(sd)}, path)
    model = load_model(f"file://{path}?arch=resnet18&mean=0,0,0&std=1,1,1")
    with torch.no_grad():
        assert torch.allclose(model(x), reference_output(sd, x, (0, 0, 0), (1, 1, 1), "resnet18"), atol=1e-5)
    with pytest.raises(ModelError, match="does not fit timm:resnet50: missing layer1.0.bn3"):
        load_model(f"file://{path}")  # resnet18 weights, default architecture resnet50


def test_file_model_with_code_running_pickle_is_refused(tmp_path):
    from test_zoo_safe_load import RunsCode

    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "x": RunsCode(marker)}, path)
    with pytest.raises(ModelError, match="--trust-checkpoint"):
        load_model(f"file://{path}")
    assert not marker.exists()


def test_source_override_of_the_unverified_entry(ref, x, tmp_path, monkeypatch):
    path = tmp_path / "fixed.pth"
    torch.save({"model": module_prefixed(ref), "epoch": 90}, path)
    entry = get_entry("resnet50_diffusionnoise_fixed_nonoise")
    monkeypatch.setenv(entry.source_env, str(path))
    with torch.no_grad():
        out = load_model("resnet50_diffusionnoise_fixed_nonoise")(x)
    assert torch.allclose(out, reference_output(ref, x, (0, 0, 0), (1, 1, 1)), atol=1e-4)


def _prefetch_main():
    spec = importlib.util.spec_from_file_location("prefetch_script", REPO / "code" / "prefetch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def test_prefetch_script(ref, tmp_path, capsys):
    main = _prefetch_main()
    cache = tmp_path / "cache"
    place_in_cache(cache, "robust_resnet50_linf_eps8.0", madrylab_checkpoint(ref))
    assert main(["--models", "robust_resnet50_linf_eps8.0", "--cache-dir", str(cache), "--check"]) == 0
    out = capsys.readouterr().out
    assert "robust_resnet50_linf_eps8.0  hf/madrylab/robust-imagenet-models/resnet50_linf_eps8.0.ckpt" in out
    assert "loads            robust_resnet50_linf_eps8.0" in out
    assert main(["--models", "robust_resnet50_linf_eps8.0", "--cache-dir", str(cache)]) == 0
    assert "cached+verified  robust_resnet50_linf_eps8.0" in capsys.readouterr().out
    # offline ($BIASBENCH_OFFLINE=1 in tests): a missing file is a failure with its reason, exit 1
    assert main(["--category", "stylized", "--cache-dir", str(cache)]) == 1
    out = capsys.readouterr().out
    assert out.count("FAILED") == 3 and "offline mode is on" in out and "0 of 3 models ready" in out
    assert main(["--models", "resnet50_untrained"]) == 0
    assert "no file" in capsys.readouterr().out


def test_prefetch_usage_errors(capsys):
    main = _prefetch_main()
    assert main(["--models", "robust_resnet50_l2_eps4"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown model 'robust_resnet50_l2_eps4' (did you mean")
    assert main(["--category", "nope"]) == 2
    assert "error: unknown category" in capsys.readouterr().err


def test_file_models_are_named_by_stem_or_name_option(tmp_path):
    from biasbench.zoo import LocalModels, resolve_models

    torch.manual_seed(5)
    sd = timm.create_model("resnet18", pretrained=False).state_dict()
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        torch.save({"state_dict": sd}, tmp_path / sub / "mine.pth")
    a, b = tmp_path / "a" / "mine.pth", tmp_path / "b" / "mine.pth"
    local = LocalModels()  # the file:// checkpoints of one command
    assert resolve_models(f"file://{a}?arch=resnet18", local) == ["mine"]
    assert get_entry("mine", local).sources[0].location == str(a)  # later loads by name find the file
    assert load_model("mine", local=local).name == "mine"
    with pytest.raises(ModelError, match="name 'mine' is already used by file://.*a/mine.pth\\?arch=resnet18; add \\?name=OTHER"):
        resolve_models(f"file://{b}?arch=resnet18", local)
    assert resolve_models(f"file://{b}?arch=resnet18&name=mine_b,tv_resnet50", local) == ["mine_b", "tv_resnet50"]
    assert local.spec_of("mine_b") == f"file://{b}?arch=resnet18&name=mine_b"  # how a sweep job names it
    assert local.spec_of("tv_resnet50") == "tv_resnet50"
    torch.save({"state_dict": sd}, tmp_path / "tv_resnet50.pth")
    with pytest.raises(ModelError, match="is a registry model; add \\?name=OTHER"):
        resolve_models(f"file://{tmp_path / 'tv_resnet50.pth'}", local)
    # Nothing is remembered outside the command's LocalModels: another command may reuse the name.
    with pytest.raises(ModelError, match="unknown model 'mine'"):
        get_entry("mine")
    assert resolve_models(f"file://{b}?arch=resnet18", LocalModels()) == ["mine"]

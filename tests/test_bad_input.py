"""Bad input: every case ends in one line ``error: ...`` on stderr, exit status 2, and a message
that names what was wrong. Most cases call the command line in-process (``biasbench.cli.main``,
what every entry script calls); two run the real scripts as subprocesses for the exit status.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from biasbench import zoo
from biasbench.benchmarks import REGISTRY
from biasbench.cli import main
from biasbench.data.imagenet import imagenet_val
from biasbench.data.synsets import imagenet_wnids, subset_wnids
from biasbench.errors import ConfigError
from biasbench.transforms.spectral import Bandpass

import fake_zoo

REPO = Path(__file__).resolve().parents[1]
REAL_RESOLVE = getattr(zoo, "resolve_models", None)  # the registry's, once the zoo is merged
WNIDS = imagenet_wnids()
SUITE = list(REGISTRY)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    fake_zoo.write_blocky_val(root / "imagenet", [0, 1, 2, 999], per_class=2)
    model = fake_zoo.save_model(fake_zoo.fitted_tinynet(imagenet_val(root / "imagenet", check=False)), root / "m.pt")
    return root, model


@pytest.fixture(autouse=True)
def _test_zoo(monkeypatch):
    monkeypatch.setattr(zoo, "resolve_models", fake_zoo.resolve_models, raising=False)
    monkeypatch.setattr(zoo, "load_model", fake_zoo.load_model, raising=False)


def _base(model, tmp_path):
    return ["--model", model, "--device", "cpu", "--num_workers", "0", "--no-progress", "--decoded_cache", "off",
            "--results", str(tmp_path / "out" / "benchmark.csv")]


def _fails(capsys, benchmarks, argv, *fragments, require_data=True):
    try:
        rc = main(benchmarks, argv, require_data=require_data)
    except SystemExit as stop:  # flag errors exit from argparse
        rc = stop.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def _copy_val(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _png(path: Path, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size[1], size[0], 3), dtype=np.uint8)).save(path)


# ----------------------------------------------------------------------------- datasets

def test_wrong_or_missing_dataset_roots(tmp_path, data, capsys):
    root, model = data
    base = _base(model, tmp_path)
    _fails(capsys, ["imagenet"], base + ["--imagenet", str(tmp_path / "nope")],
           f"ImageNet root {tmp_path / 'nope'} does not exist")
    _fails(capsys, SUITE, base + ["--data-root", str(tmp_path / "nope")], "--data-root", "is not a folder",
           require_data=False)
    (tmp_path / "file").write_text("x")
    _fails(capsys, ["imagenet-a"], base + ["--imagenet-a", str(tmp_path / "file")], "--imagenet-a", "is not a folder")
    _fails(capsys, ["imagenet"], base + ["--imagenet", str(tmp_path)], f"no ImageNet val images under {tmp_path}")
    _fails(capsys, ["imagenet"], base, "imagenet needs its data: pass --imagenet")
    _fails(capsys, SUITE, base + ["--data-root", str(tmp_path)], "no benchmark has its data", require_data=False)


def test_missing_extra_and_empty_classes_and_wrong_counts(tmp_path, data, capsys):
    root, model = data
    base = _base(model, tmp_path)
    _fails(capsys, ["imagenet"], base + ["--imagenet", str(root / "imagenet")],
           "looks incomplete: 4 classes (expected 1000)", "--check_dataset false")
    extra = _copy_val(root / "imagenet", tmp_path / "extra")
    _png(extra / "val" / "n99999999" / "ILSVRC2012_val_00000001.png")
    _fails(capsys, ["imagenet"], base + ["--imagenet", str(extra), "--check_dataset", "false"],
           "folder 'n99999999'", "is not an ImageNet-1k wnid")
    empty = _copy_val(root / "imagenet", tmp_path / "empty")
    (empty / "val" / WNIDS[5]).mkdir()
    _fails(capsys, ["imagenet"], base + ["--imagenet", str(empty)], "1 class folder(s)", "hold no images",
           WNIDS[5])
    # ImageNet-A: all 200 classes, but 1 image each (7,500 expected); then one class from outside A's 200.
    a_root = tmp_path / "a"
    for w in subset_wnids("a"):
        _png(a_root / w / "x.png")
    _fails(capsys, ["imagenet-a"], base + ["--imagenet-a", str(a_root)], "ImageNet-A", "200 images (expected 7,500)")
    outside = next(w for w in WNIDS if w not in set(subset_wnids("a")))
    _png(a_root / outside / "x.png")
    _fails(capsys, ["imagenet-a"], base + ["--imagenet-a", str(a_root)],
           "1 class folder(s) are not among ImageNet-A's 200 classes")


def test_unreadable_truncated_and_wrongly_sized_images(tmp_path, data, capsys):
    root, model = data
    base = _base(model, tmp_path) + ["--check_dataset", "false"]
    bad = _copy_val(root / "imagenet", tmp_path / "trunc")
    victim = sorted((bad / "val" / WNIDS[1]).iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:300])
    _fails(capsys, ["imagenet"], base + ["--imagenet", str(bad)], f"cannot read image {victim}", "truncated",
           "--skip_unreadable")
    png = _copy_val(root / "imagenet", tmp_path / "png")
    fake = png / "val" / WNIDS[2] / "ILSVRC2012_val_00000200.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    _fails(capsys, ["imagenet"], base + ["--imagenet", str(png)], f"cannot read image {fake}")
    # ImageNet-C files are fed as stored, so they must be 224 x 224
    cell = tmp_path / "c" / "fog" / "3" / WNIDS[4]
    _png(cell / "a.png", (224, 224))
    _png(cell / "b.png", (256, 224))
    _fails(capsys, ["imagenet-c"], base + ["--imagenet-c", str(tmp_path / "c"), "--corruptions", "fog",
                                          "--severities", "3"], "b.png is 256x224, expected 224x224")


def test_real_json_of_the_wrong_length_or_type(tmp_path, data, capsys):
    root, model = data
    base = _base(model, tmp_path) + ["--imagenet", str(root / "imagenet"), "--check_dataset", "false"]
    cases = [([[1]] * 10, "holds 10 entries; expected a JSON list of 50,000 label lists"),
             ({"labels": []}, "holds dict entries; expected a JSON list"),
             ([[1]] * 3 + ["x"] + [[2]] * 49996, "entry 3 is 'x'; expected a list of class indices in 0..999"),
             ([[1]] * 49999 + [[1000]], "entry 49999 is [1000]")]
    for k, (content, message) in enumerate(cases):
        path = tmp_path / f"real{k}.json"
        path.write_text(json.dumps(content))
        _fails(capsys, ["imagenet-real"], base + ["--real-labels", str(path)], str(path), message)
    (tmp_path / "broken.json").write_text("[[1], [2")
    _fails(capsys, ["imagenet-real"], base + ["--real-labels", str(tmp_path / "broken.json")], "is not valid JSON")
    _fails(capsys, ["imagenet-real"], base + ["--real-labels", str(tmp_path / "none.json")], "does not exist")


# ----------------------------------------------------------------------------- names and values

def test_unknown_benchmark_corruption_and_invalid_values(tmp_path, data, capsys):
    root, model = data
    base = _base(model, tmp_path) + ["--imagenet", str(root / "imagenet"), "--check_dataset", "false"]
    _fails(capsys, SUITE, base + ["--benchmarks", "imagenet,spectal"],
           "--benchmarks: unknown benchmark 'spectal' (did you mean spectral?)", require_data=False)
    c_root = tmp_path / "c"
    _png(c_root / "fog" / "1" / WNIDS[0] / "a.png", (224, 224))
    c_base = _base(model, tmp_path) + ["--imagenet-c", str(c_root), "--check_dataset", "false"]
    _fails(capsys, ["imagenet-c"], c_base + ["--corruptions", "fogg"], "--corruptions: unknown corruption 'fogg'")
    _fails(capsys, ["imagenet-c"], c_base + ["--severities", "0"], "--severities: unknown severity '0'")
    _fails(capsys, ["imagenet-c"], c_base + ["--severities", "1.5"], "--severities: unknown severity '1.5'")
    _fails(capsys, ["imagenet-cbar"], _base(model, tmp_path) + ["--imagenet-cbar", str(c_root), "--cbar-severities",
                                                                "6"], "--cbar-severities: unknown severity '6'")
    _fails(capsys, ["adversarial"], base + ["--eps", "abc"], "--eps value 'abc' is not a number or fraction")
    _fails(capsys, ["adversarial"], base + ["--eps", "1/0"], "--eps value '1/0' is not a number")
    _fails(capsys, ["adversarial"], base + ["--eps", "-1/255"], "--eps")
    _fails(capsys, ["adversarial"], base + ["--eps", "1/255,"], "has an empty entry")
    _fails(capsys, ["imagenet"], base + ["--batch_size", "0"], "--batch_size must be >= 1")
    _fails(capsys, ["imagenet"], base + ["--n_samples", "0"], "--n_samples 0: expected a positive number")
    _fails(capsys, ["imagenet"], base + ["--device", "nonsense"], "--device 'nonsense' is not a torch device")
    _fails(capsys, ["imagenet"], base + ["--shard", "3/2"], "--shard 3/2: need 0 <= i < n")
    _fails(capsys, ["imagenet"], base + ["--precision", "fp8"], "argument --precision: invalid choice: 'fp8'")
    # spectral cut-offs are not a flag (the paper's 11 are fixed) but the transform checks them
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ConfigError, match=r"spectral cut-off .* is outside \(0, 1\)"):
            Bandpass(bad, True)


@pytest.mark.skipif(REAL_RESOLVE is None, reason="needs the model registry (branch zoo), not merged here yet")
def test_unknown_model_names_suggest_close_matches(tmp_path, data, capsys, monkeypatch):
    monkeypatch.setattr(zoo, "resolve_models", REAL_RESOLVE)  # the registry, not the test zoo
    root, _ = data
    _fails(capsys, ["imagenet"], _base("tv_resnet5", tmp_path) + ["--imagenet", str(root / "imagenet")],
           "unknown model 'tv_resnet5'", "did you mean", "tv_resnet50")


def test_results_csv_edited_by_hand(tmp_path, data, capsys):
    root, model = data
    base = _base(model, tmp_path) + ["--imagenet", str(root / "imagenet"), "--check_dataset", "false"]
    assert main(["imagenet"], base) == 0
    capsys.readouterr()
    csv = tmp_path / "out" / "benchmark.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:1] + [lines[1].replace(",", ",9", 1)]) + "\n")  # a value changed by hand
    err = _fails(capsys, ["imagenet-real"], base, f"results table {csv} was edited by hand",
                 "refusing to overwrite the edits")
    assert "python -m biasbench.results rebuild" in err
    assert csv.read_text().splitlines()[1] == lines[1].replace(",", ",9", 1)  # the edit is kept


# ----------------------------------------------------------------------------- real scripts

def _script(args, **env):
    return subprocess.run([sys.executable, *map(str, args)], env=fake_zoo.subprocess_env(**env), cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_scripts_exit_non_zero_with_one_line(tmp_path, data):
    root, model = data
    bad = _copy_val(root / "imagenet", tmp_path / "trunc")
    victim = sorted((bad / "val" / WNIDS[999]).iterdir())[1]
    victim.write_bytes(victim.read_bytes()[:200])
    done = _script([REPO / "code" / "eval_imagenet.py", *_base(model, tmp_path), "--imagenet", bad,
                    "--check_dataset", "false"])
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"error: cannot read image {victim}")

    nan = fake_zoo.save_model(fake_zoo.fitted_tinynet(imagenet_val(root / "imagenet", check=False)),
                              tmp_path / "nan.pt", nan_batch=1)
    done = _script([REPO / "code" / "run_suite.py", *_base(nan, tmp_path), "--imagenet", root / "imagenet",
                    "--check_dataset", "false", "--batch_size", "3", "--benchmarks", "imagenet"])
    assert done.returncode == 2
    err = done.stderr.strip().splitlines()
    assert [line for line in err if line.startswith("error")] == err[-1:]
    assert err[-1] == (f"error: model {nan} gave NaN/inf logits on batch 1 of imagenet-val (condition clean, "
                       "precision fp32); at full precision, so the checkpoint itself is at fault: check its weights "
                       "and normalisation")  # not "try --precision fp32", which it ran at


def test_damaged_log_line_is_one_warning_line_in_eval_commands(tmp_path, data, capsys):
    root, model = data
    base = _base(model, tmp_path) + ["--imagenet", str(root / "imagenet"), "--check_dataset", "false"]
    assert main(["imagenet"], base) == 0
    (shard,) = (tmp_path / "out" / "benchmark.log").glob("*.jsonl")
    with open(shard, "ab") as f:
        f.write(b'{"damaged": tr\n')  # a damaged (complete) line
    capsys.readouterr()
    assert main(["imagenet"], base) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "damaged" in line or "Warning" in line]
    # as `python -m biasbench.results rebuild` prints it: no file:line, no category, no source line
    assert len(warned) == 1 and warned[0].startswith("warning: skipping damaged line 2 of results log"), warned


def test_flags_accepted_without_a_word_before(tmp_path, data, capsys, caplog):
    root, model = data
    base = _base(model, tmp_path) + ["--check_dataset", "false"]
    _fails(capsys, ["imagenet"], base + ["--imagenet", str(root / "imagenet"), "--models_per_pass", "0"],
           "--models_per_pass 0: expected a number of models >= 1")
    # --imagenet beside --data-root: the flag wins, and says so in one line
    other = _copy_val(root / "imagenet", tmp_path / "data" / "imagenet")
    given = _copy_val(root / "imagenet", tmp_path / "mine")
    with caplog.at_level("INFO", logger="biasbench"):
        assert main(["imagenet"], base + ["--data-root", str(tmp_path / "data"), "--imagenet", str(given)]) == 0
    notes = [r.getMessage() for r in caplog.records if "--data-root" in r.getMessage()]
    assert notes == [f"note: --imagenet {given} is used, not {other} under --data-root"]
    # an empty class folder is an error even with --check_dataset false
    empty = _copy_val(root / "imagenet", tmp_path / "empty")
    for f in (empty / "val" / WNIDS[2]).iterdir():
        f.unlink()
    _fails(capsys, ["imagenet"], base + ["--imagenet", str(empty)], "hold no images", WNIDS[2])

"""The ``biasbench`` command: pyproject's entry point resolves, ``python -m biasbench run`` gives the numbers
of an independent computation, ``models`` tells cached from not, errors are one line with status 2."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import timm
import tomllib
import torch
from PIL import Image
from torchvision import transforms as T

from biasbench import command
from biasbench.synthetic import write_preset

from helpers import PAPER_PREPROCESS

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_script_resolves_to_the_command():
    target = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["biasbench"]
    module, _, attr = target.partition(":")
    assert getattr(importlib.import_module(module), attr) is command.main


def test_python_m_biasbench_run_matches_an_independent_computation(tmp_path):
    data = write_preset(tmp_path / "data", "test", which=["imagenet"])["imagenet"]
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False).eval()
    torch.save(net.state_dict(), tmp_path / "mine.pth")
    env = {**os.environ, "PYTHONPATH": str(REPO / "code")}
    proc = subprocess.run(
        [sys.executable, "-m", "biasbench", "run", "imagenet", "--model", f"file://{tmp_path / 'mine.pth'}?arch=resnet18",
         "--imagenet", str(data), "--check_dataset", "false", "--device", "cpu", "--num_workers", "0",
         "--no-progress", "--decoded_cache", "off", "--results", "out/benchmark.csv"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "out" / "benchmark.csv").set_index("model")
    tf = T.Compose([PAPER_PREPROCESS, T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    wnids = (Path(timm.__file__).parent / "data/_info/imagenet_synsets.txt").read_text().split()
    files = sorted((data / "val").glob("*/*.JPEG"))
    with torch.no_grad():
        pred = net(torch.stack([tf(Image.open(f).convert("RGB")) for f in files])).argmax(1).tolist()
    top1 = 100 * sum(p == wnids.index(f.parent.name) for p, f in zip(pred, files)) / len(files)
    assert table.loc["mine", "top1_acc/imagenet"] == pytest.approx(top1)


def test_models_tells_cached_from_not(tmp_path, capsys):
    target = tmp_path / "checkpoints" / "hf" / "timm" / "resnet50.tv_in1k" / "model.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    assert command.main(["models", "--cache-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["tv_resnet50"] == ["baseline", "yes"] and rows["tv2_resnet50"] == ["training_recipes", "no"]
    assert rows["resnet50_untrained"] == ["extra", "-"]
    assert [r[-1] for r in rows.values()].count("yes") == 1


def test_benchmarks_lists_each_with_its_data_flag(capsys):
    assert command.main(["benchmarks"]) == 0
    out = capsys.readouterr().out
    assert "imagenet-c: data --imagenet-c (--data-root folder imagenet-c)" in out
    assert out.count(": data --") == len(command.REGISTRY)


@pytest.mark.parametrize("sub", list(command.SUBCOMMANDS))
def test_every_subcommand_has_its_help(sub, capsys):
    try:
        status = command.main([sub, "--help"])
    except SystemExit as done:
        status = done.code
    out = capsys.readouterr().out
    assert status == 0 and f"biasbench {sub}" in out, out[:300]
    assert f"  {sub} " in command.usage()


def test_run_help_names_the_benchmarks_and_a_benchmark_its_flags(capsys):
    assert command.main(["run", "--help"]) == 0
    assert ", ".join(command.REGISTRY) in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        command.main(["run", "imagenet-c", "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and out.startswith("usage: biasbench run imagenet-c") and "--corruptions" in out


def test_the_scripts_are_shims_over_the_command():
    for script in ("prefetch.py", "demo.py", "sweep.py", "analyze.py", "prepare_data.py", "run_suite.py"):
        assert len((REPO / "code" / script).read_text().splitlines()) < 20, script


@pytest.mark.parametrize("argv, expected", [
    (["run", "spectrum"], "biasbench run takes a benchmark first"),
    (["bench"], "unknown subcommand 'bench'"),
    (["models", "--category", "nope"], "unknown category 'nope'"),
])
def test_bad_input_is_one_line_with_status_2(argv, expected, capsys):
    assert command.main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1

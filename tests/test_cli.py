"""Entry scripts end to end: a local checkpoint on synthetic ImageNet in the real layout,
numbers against an independent computation, and one-line errors with exit status 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import timm
import torch
from PIL import Image
from torchvision import transforms as T

from biasbench.synthetic import write_preset

from helpers import PAPER_PREPROCESS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = write_preset(root / "data", "test", which=["imagenet"])["imagenet"]
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=1000)
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, root / "mine.pth")
    return root, data, net.eval()


def _run(script, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO / "code")}
    return subprocess.run([sys.executable, str(REPO / "code" / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_eval_imagenet_and_real_match_independent_computation(setup):
    root, data, net = setup
    common = ["--model", f"file://{root / 'mine.pth'}?arch=resnet18", "--imagenet", str(data), "--check_dataset",
              "false", "--device", "cpu", "--num_workers", "0", "--no-progress", "--decoded_cache", "off"]
    for script in ("eval_imagenet.py", "eval_imagenet_real.py"):
        proc = _run(script, *common, "--results", "out/benchmark.csv", cwd=root)
        assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(root / "out" / "benchmark.csv").set_index("model")

    # independent: timm model + torchvision preprocessing + ImageNet normalisation, labels from wnids
    tf = T.Compose([PAPER_PREPROCESS, T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    wnids = [w.strip() for w in (Path(timm.__file__).parent / "data/_info/imagenet_synsets.txt").read_text().split()]
    files = sorted((data / "val").glob("*/*.JPEG"))
    x = torch.stack([tf(Image.open(f).convert("RGB")) for f in files])
    with torch.no_grad():
        pred = net(x).argmax(1).tolist()
    labels = [wnids.index(f.parent.name) for f in files]
    top1 = 100 * sum(p == y for p, y in zip(pred, labels)) / len(files)
    real = json.loads((data / "real.json").read_text())
    lists = [real[int(f.stem.split("_")[-1]) - 1] for f in files]
    counted = [(p, r) for p, r in zip(pred, lists) if r]
    real_acc = 100 * sum(p in r for p, r in counted) / len(counted)
    assert table.loc["mine", "top1_acc/imagenet"] == pytest.approx(top1)
    assert table.loc["mine", "top1_acc/imagenet-real"] == pytest.approx(real_acc)


def test_errors_are_one_line_with_exit_status_2(setup, capsys):
    from biasbench.cli import main

    root, data, _ = setup
    mine = f"file://{root / 'mine.pth'}?arch=resnet18"
    cases = [
        (["--model", "tv_resnet5O", "--imagenet", str(data)], "unknown model 'tv_resnet5O' (did you mean tv_resnet50"),
        (["--model", mine, "--imagenet", str(root / "nowhere")], "does not exist"),
        (["--model", mine, "--imagenet", str(data)], "looks incomplete: 8 classes (expected 1000)"),
        (["--model", mine], "imagenet needs its data: pass --imagenet"),
    ]
    for args, message in cases:
        status = main(["imagenet"], [*args, "--device", "cpu", "--results", str(root / "e" / "benchmark.csv")])
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 2 and err[-1].startswith("error: ") and message in err[-1], err
    # the same through the real entry script: one line on stderr, exit status 2, no traceback
    proc = _run("eval_imagenet.py", *cases[0][0], "--results", "e/benchmark.csv", cwd=root)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: unknown model 'tv_resnet5O'")

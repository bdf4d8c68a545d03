"""The reference scripts' command lines run unchanged: every flag, string booleans, bare --wandb."""

import runpy
import sys
from pathlib import Path

import pytest

import biasbench.cli
import biasbench.suite

CODE = Path(__file__).resolve().parents[1] / "code"
SCRIPTS = sorted(p.name for p in CODE.glob("eval_*.py"))
# The reference's full flag set, booleans as the authors wrote them.
FULL = ["--model", "tv_resnet50", "--device", "cpu", "--batch_size", "16", "--imagenet", "/data/imagenet",
        "--dataset_path", "/data/dataset", "--num_workers", "2", "--wandb", "False", "--wandb_resume", "false",
        "--seed", "0", "--n_samples", "10", "--fgsm", "NO", "--pgd", "True", "--aa", "0", "--eps", "0.5/255",
        "--corruptions", "fog", "--severities", "3"]


def _parse(monkeypatch, script, argv):
    """Run ``code/<script>`` as ``__main__`` up to where it would start working; returns the parsed flags."""
    seen = {}

    def fake_execute(args, benchmarks, require_data):
        seen["args"] = args
        return 0

    monkeypatch.setattr(biasbench.cli, "execute", fake_execute)
    monkeypatch.setattr(sys, "argv", [script, *argv])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(CODE / script), run_name="__main__")
    assert done.value.code == 0
    return seen["args"]


def test_every_script_is_covered():
    assert len(SCRIPTS) == 9 and "eval_imagenet_adv.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_reference_full_flag_set_gets_past_parsing(monkeypatch, script):
    args = _parse(monkeypatch, script, FULL)
    assert args.model == "tv_resnet50" and args.batch_size == 16 and args.num_workers == 2 and args.n_samples == 10
    assert args.wandb is False and args.wandb_resume is False
    pgd, fgsm, aa = (getattr(args, n, None) if hasattr(args, n) else getattr(args, f"unused_{n}")
                     for n in ("pgd", "fgsm", "aa"))
    assert (pgd, fgsm, aa) == (True, False, False)


@pytest.mark.parametrize("text, value", [("true", True), ("True", True), ("YES", True), ("y", True), ("t", True),
                                         ("1", True), ("False", False), ("no", False), ("N", False),
                                         ("f", False), ("0", False)])
def test_string_booleans_any_case(monkeypatch, text, value):
    args = _parse(monkeypatch, "eval_imagenet_adv.py", ["--model", "m", "--imagenet", "x", "--aa", text,
                                                        "--wandb", text])
    assert args.aa is value and args.wandb is value


def test_bare_flags_keep_working(monkeypatch):
    args = _parse(monkeypatch, "eval_imagenet_adv.py", ["--model", "m", "--wandb", "--fgsm", "--imagenet", "x"])
    assert args.wandb is True and args.fgsm is True and args.pgd is False
    args = _parse(monkeypatch, "eval_imagenet.py", ["--model", "m", "--imagenet", "x"])
    assert args.wandb is False


def test_a_bad_boolean_is_one_line_naming_the_flag(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["eval_imagenet_adv.py", "--model", "m", "--pgd", "maybe"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(CODE / "eval_imagenet_adv.py"), run_name="__main__")
    err = capsys.readouterr().err
    assert done.value.code == 2 and "--pgd" in err and "'maybe'" in err and len(err.strip().splitlines()) == 1


def test_run_ends_with_a_short_summary(tmp_path, capsys):
    from types import SimpleNamespace

    from biasbench.results import ResultsStore

    written = {"m": {"top1_acc/imagenet": 76.13, "top1_acc/PGD-40/low": 18.3, "shape-bias": 0.21,
                     **{f"top1_acc/spectral/LFC/{c}": 1.0 for c in range(20)}}}
    store = ResultsStore(tmp_path / "benchmark.csv")
    biasbench.suite.report(written, store, SimpleNamespace(wandb=False), 12.4)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == ("m: top1_acc/imagenet = 76.13, top1_acc/PGD-40/low = 18.3, shape-bias = 0.21 "
                        "(+20 more column(s) in the table)")
    assert lines[1].startswith("done in 12 s; full table: ") and str((tmp_path / "benchmark.csv").resolve()) in lines[1]
    assert len(lines) == 2

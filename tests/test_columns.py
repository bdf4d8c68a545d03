"""Column declarations agree with what runs write, with the table of docs/benchmarks.md, the listing and the analysis."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from biasbench import command
from biasbench.analysis.aggregates import METRICS, compute_metrics
from biasbench.benchmarks import REGISTRY, Config
from biasbench.benchmarks.listing import README_CONFIG, README_END, readme_table
from biasbench.benchmarks.spectral import Spectral
from biasbench.cli import make_parser, to_request
from biasbench.data import corruptions
from biasbench.prepare.freq_cue_conflict import generate as generate_freq_cue_conflict
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions, run
from biasbench.suite import build_benchmarks, headline_columns
from biasbench.synthetic import TEST_CLASSES, write_preset

from helpers import TinyNet

REPO = Path(__file__).resolve().parents[1]


def _declared(config=None, summary=None):
    return {c.name for spec in REGISTRY.values() for c in spec.columns(config)
            if summary is None or c.summary == summary}


def test_readme_column_table_is_the_declarations():
    readme = (REPO / "docs" / "benchmarks.md").read_text()
    table = readme_table()
    begin = table.splitlines()[0]
    assert begin in readme, "docs/benchmarks.md lacks the generated table: python -m biasbench.benchmarks --readme"
    found = readme[readme.index(begin):readme.index(README_END) + len(README_END)]
    assert found == table, "docs/benchmarks.md's column table differs from the declarations: regenerate it with " \
                           "python -m biasbench.benchmarks --readme"


def test_analysis_and_headline_columns_are_declared():
    declared = _declared(README_CONFIG)
    assert {c for cols in METRICS.values() for c in cols} <= declared
    assert set(headline_columns()) <= declared
    assert "metric/bandpass/LPP" in headline_columns() and "top1_acc/PGD-40/low" in headline_columns()


def test_analysis_lpp_hpp_equal_the_columns_the_benchmark_writes():
    bench = Spectral(None)
    accs = {c.name: 50.0 + 3.7 * k % 41 for k, c in enumerate(bench.conditions())}  # arbitrary accuracies
    values = {name: {f"top1_acc/spectral/{name}": a} for name, a in accs.items()}
    summary = bench.summarize(values)
    metrics = compute_metrics(pd.DataFrame([summary], index=["m"])).values.loc["m"]
    assert metrics["LPP"] == pytest.approx(summary["metric/bandpass/LPP"], abs=1e-15)
    assert metrics["HPP"] == pytest.approx(summary["metric/bandpass/HPP"], abs=1e-15)
    # by hand: LPP is the mean of LFC(c) / clean at c = 0.1 ... 0.5
    by_hand = sum(accs[f"LFC/{c}"] for c in (0.1, 0.2, 0.3, 0.4, 0.5)) / 5 / accs["clean"]
    assert summary["metric/bandpass/LPP"] == pytest.approx(by_hand, rel=1e-12)


def test_declarations_follow_the_selection():
    cfg = Config(corruptions=("fog",), severities=(1, 3), eps=(1 / 255,), attacks=("PGD", "FGSM"), steps=10)
    c = {col.name for col in REGISTRY["imagenet-c"].columns(cfg)}
    assert {"top1_acc/fog_1", "top1_acc/fog_3", "top5_acc/fog_3"} <= c and "top1_acc/fog_2" not in c
    assert "top1_acc/imagenet-c" not in c  # a subset writes cells only
    assert "top1_acc/imagenet-c" in {col.name for col in REGISTRY["imagenet-c"].columns()}
    assert [col.name for col in REGISTRY["adversarial"].columns(cfg)] == [
        "top1_acc/PGD-10/eps=1/255", "top1_acc/FGSM/eps=1/255"]
    assert len(REGISTRY["imagenet-c"].columns()) == 2 * 95 + 4 + 2


def test_attack_conditions_declare_their_cost():
    from biasbench.benchmarks.adversarial import Adversarial
    from biasbench.data.imagelist import AS_IS, ImageList

    images = ImageList("x", Path("/nonexistent"), ("a.png",), np.zeros(1, dtype=np.int64), AS_IS)
    bench = Adversarial(images, eps=(1 / 255,), pgd=True, fgsm_=True, aa=True, steps=40)
    assert [c.cost for c in bench.conditions()] == [121, 4, 3000]  # 40 x 3 + 1; one step; AutoAttack's rough figure
    assert Adversarial(images, steps=7).conditions()[0].cost == 22


def test_listing_prints_every_family_with_its_meaning(capsys):
    assert command.main(["benchmarks"]) == 0
    out = capsys.readouterr().out
    assert "    top1_acc/<corruption>_<severity> (95 columns): top-1 accuracy (%) on one ImageNet-C cell" in out
    assert "    summary metric/bandpass/{LPP,HPP} (2 columns):" in out
    assert command.main(["benchmarks", "--all"]) == 0
    every = capsys.readouterr().out
    assert "    top1_acc/fog_3: top-1 accuracy (%) on one ImageNet-C cell" in every
    assert len(re.findall(r"^    ", every, re.M)) == sum(len(s.columns()) for s in REGISTRY.values())
    assert command.main(["benchmarks", "--all", "--corruptions", "fog", "--severities", "2", "--aa"]) == 0
    chosen = capsys.readouterr().out
    assert "    top1_acc/fog_2:" in chosen and "top1_acc/fog_1:" not in chosen and "imagenet-c-15" not in chosen
    assert "    top1_acc/AutoAttack/eps=0.5/255:" in chosen and "PGD-40/low" not in chosen
    assert command.main(["benchmarks", "--severities", "6"]) == 2
    err = capsys.readouterr().err
    assert "--severities: unknown severity '6'" in err and len(err.strip().splitlines()) == 1


class _AmongTheDataClasses(torch.nn.Module):
    """TinyNet with the synthetic data's classes favoured: its decisions fall among them."""

    def __init__(self):
        super().__init__()
        self.net = TinyNet(0)
        self.boost = torch.zeros(1000)
        self.boost[list(TEST_CLASSES)] = 30.0

    def forward(self, x):
        return self.net(x) + self.boost


def test_every_column_a_run_writes_is_declared(tmp_path):
    root = tmp_path / "data"
    write_preset(root, "test", per_class=1, corrupt_per_class=1, c_corruptions=corruptions.IMAGENET_C,
                 cbar_corruptions=corruptions.IMAGENET_CBAR)
    generate_freq_cue_conflict(root / "modelvshuman" / "stylized", root / "freq-cue-conflict", n=16)
    parser = make_parser(list(REGISTRY), require_data=False)
    args = parser.parse_args(["--model", "m", "--data-root", str(root), "--check_dataset", "false", "--steps", "1",
                              "--fgsm", "--eps", "0.5/255,2/255", "--offline", "--results", str(tmp_path / "r.csv")])
    request = to_request(args, list(REGISTRY), require_data=False)
    built = build_benchmarks(request)
    assert sorted(b.name for b in built) == sorted(REGISTRY)
    config = request.config
    store = ResultsStore(tmp_path / "r.csv")
    net = _AmongTheDataClasses()  # some images right everywhere, so every summary is defined
    run(built, ["m"], store, RunOptions(device="cpu", batch_size=16, num_workers=0, progress=False),
        load=lambda name, device: net)
    written: dict[str, dict[bool, set]] = {}
    for r in store.records():
        written.setdefault(r.benchmark, {True: set(), False: set()})[r.condition == "summary"] |= set(r.values)
    assert sorted(written) == sorted(REGISTRY)
    for name, spec in REGISTRY.items():
        declared = {s: {c.name for c in spec.columns(config) if c.summary == s} for s in (True, False)}
        for summary in (True, False):
            assert written[name][summary] <= declared[summary], (name, written[name][summary] - declared[summary])
            # their per-category biases need every category decided for one of its cues
            if name not in ("model-vs-human", "freq-cue-conflict"):
                assert written[name][summary] == declared[summary], (name, declared[summary] - written[name][summary])
    assert "shape-bias" in written["model-vs-human"][False]

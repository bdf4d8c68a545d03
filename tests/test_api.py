"""biasbench.evaluate: an nn.Module in memory through the one runner and store (docs/models.md "A model in memory, from Python")."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision.transforms.v2 as T
from PIL import Image

import biasbench
from biasbench.data.imagelist import list_images
from biasbench.data.synsets import label_of
from biasbench.errors import ModelError
from biasbench.results import ResultsStore
from biasbench.synthetic import write_preset

from helpers import TinyNet

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
FAST = dict(check_dataset=False, num_workers=0, batch_size=8, device="cpu", progress=False, decoded_cache="off")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("api-data")
    write_preset(root, "test", which=("imagenet",))
    return root


class Recorder(torch.nn.Module):
    """TinyNet that keeps the smallest and largest input per channel it was fed."""

    def __init__(self):
        super().__init__()
        self.net, self.lo, self.hi = TinyNet(), None, None

    def forward(self, x):
        lo, hi = x.amin(dim=(0, 2, 3)), x.amax(dim=(0, 2, 3))
        self.lo = lo if self.lo is None else torch.minimum(self.lo, lo)
        self.hi = hi if self.hi is None else torch.maximum(self.hi, hi)
        return self.net(x)


def _clean_accuracy(net, val: Path) -> float:
    """Top-1 of ``net`` on the clean val images, preprocessed independently with torchvision (Resize 256, crop 224)."""
    tf = T.Compose([T.PILToTensor(), T.Resize(256, antialias=True), T.CenterCrop(224),
                    T.ToDtype(torch.float32, scale=True), T.Normalize(MEAN, STD)])
    correct = n = 0
    for d in sorted(p for p in val.iterdir() if p.is_dir()):
        for f in list_images(d):
            x = tf(Image.open(f).convert("RGB"))[None]
            with torch.no_grad():
                correct += int(net(x).argmax(1).item() == label_of(d.name, str(val)))
            n += 1
    return correct / n


def test_evaluate_returns_the_stored_values_and_resumes(data, tmp_path):
    results = tmp_path / "benchmark.csv"
    model = Recorder()
    table = biasbench.evaluate(model, name="my_tiny", benchmarks=["spectral"], data_root=data, mean=MEAN, std=STD,
                               results=results, **FAST)
    assert list(table.columns) == ["model", "benchmark", "condition", "column", "value", "setup"]
    assert set(table.model) == {"my_tiny"} and set(table.setup) == {""}
    # The wrapper normalises [0,1] inputs with the given mean/std, as the zoo's wrapper does.
    for c in range(3):
        assert model.lo[c] >= (0 - MEAN[c]) / STD[c] - 1e-5 and model.hi[c] <= (1 - MEAN[c]) / STD[c] + 1e-5
        assert model.hi[c] - model.lo[c] > 0.5 / STD[c]  # real image content, not a constant
    # The same numbers as the wide table, row 'my_tiny'.
    wide = ResultsStore(results).table().set_index("model").loc["my_tiny"]
    for column, value in zip(table.column, table.value):
        assert wide[column] == pytest.approx(value)
    clean = table.set_index("column").value["top1_acc/spectral/clean"]
    # The runner reports accuracies in percent.
    assert clean == pytest.approx(100 * _clean_accuracy(lambda x: model.net(x), data / "imagenet" / "val"), abs=1e-6)
    # Resume: a second call reads the store and appends nothing.
    log_before = sorted((p.name, p.stat().st_size) for p in (tmp_path / "benchmark.csv.log").rglob("*") if p.is_file())
    again = biasbench.evaluate(Recorder(), name="my_tiny", benchmarks=["spectral"], data_root=data, mean=MEAN,
                               std=STD, results=results, **FAST)
    log_after = sorted((p.name, p.stat().st_size) for p in (tmp_path / "benchmark.csv.log").rglob("*") if p.is_file())
    assert log_after == log_before
    assert again.sort_values("column").value.tolist() == table.sort_values("column").value.tolist()


def test_another_setup_gets_its_own_rows(data, tmp_path):
    table = biasbench.evaluate(TinyNet(), name="my_tiny", benchmarks=["spectral"], data_root=data, mean=MEAN,
                               std=STD, results=tmp_path / "b.csv", **{**FAST, "n_samples": 4})
    assert set(table.setup) == {"n_samples=4"}
    assert "my_tiny@n_samples=4" in set(ResultsStore(tmp_path / "b.csv").table().model)


@pytest.mark.parametrize("net, expected", [(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                                                 torch.nn.Linear(3, 10)), "N x 1000"),
                                           (torch.nn.Linear(5, 1000), "fails on a 2x3x224x224 batch")])
def test_not_a_classifier_stops_before_any_data_is_read(tmp_path, net, expected):
    # The data root does not exist: the model check comes first.
    with pytest.raises(ModelError, match=re.escape(expected)) as e:
        biasbench.evaluate(net, name="bad", benchmarks=["spectral"], data_root=tmp_path / "missing", mean=MEAN,
                           std=STD, results=tmp_path / "b.csv", **FAST)
    assert "model bad" in str(e.value)
    assert not (tmp_path / "b.csv").exists()


def test_unknown_option_and_benchmark_are_named(tmp_path):
    from biasbench.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown option batchsize="):
        biasbench.evaluate(TinyNet(), name="t", benchmarks=["spectral"], mean=MEAN, std=STD,
                           results=tmp_path / "b.csv", batchsize=3)
    with pytest.raises(ConfigError, match="spectrall"):
        biasbench.evaluate(TinyNet(), name="t", benchmarks=["spectrall"], mean=MEAN, std=STD,
                           results=tmp_path / "b.csv")


def test_readme_example_runs(tmp_path, monkeypatch):
    """The README's Python example, exactly, on a small synthetic ImageNet (already present, so it is not rewritten)."""
    data = write_preset(tmp_path / "small", "test", which=("imagenet",), per_class=1) and tmp_path / "small"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Your own model"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo-data").symlink_to(data)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    results = scope["results"]
    assert set(results.benchmark) == {"spectral", "criticalband"} and set(results.model) == {"my_resnet18"}
    assert {"top1_acc/spectral/clean", "metric/criticalband/bw_norm"} <= set(results.column)
    assert (tmp_path / "demo-out/api/benchmark.csv").is_file()


def test_place_ranks_equal_an_independent_pandas_rank(reference_dir):
    from biasbench.analysis.aggregates import METRICS
    from biasbench.zoo.paper_models import PAPER_MODELS

    paper = pd.read_csv(reference_dir / "paper" / "benchmark.csv").set_index("model")
    rng = np.random.default_rng(0)
    base = paper.loc["tv_resnet50"].dropna()
    mine = base * rng.uniform(0.8, 1.2, len(base))  # a new model, somewhere among the paper's
    tidy = pd.DataFrame({"model": "mine", "benchmark": "x", "condition": "x", "column": base.index,
                         "value": mine.to_numpy(), "setup": ""})
    analysis = biasbench.place(tidy, paper=reference_dir / "paper")
    ranks = analysis.ranks.set_index("metric")
    assert set(analysis.ranks.model) == {"mine"}
    merged = pd.concat([paper.loc[[m for m in PAPER_MODELS if m in paper.index]], mine.to_frame("mine").T])
    checked = 0
    for metric, cols in METRICS.items():
        if not set(cols) <= set(merged.columns):  # a bias the paper did not measure (frequency-bias)
            continue
        values = merged[list(cols)].astype(float).mean(axis=1, skipna=False).dropna()
        if "mine" not in values.index:
            continue
        expected = values.rank(ascending=False, method="min")["mine"]
        assert ranks.at[metric, "rank"] == int(expected), metric
        assert ranks.at[metric, "of"] == len(values)
        assert ranks.at[metric, "value"] == pytest.approx(values["mine"])
        checked += 1
    assert checked >= 6
    # Correlations are over the paper's models only: the new model does not move them.
    alone = biasbench.place(tidy.assign(model="mine2"), paper=reference_dir / "paper" / "benchmark.csv")
    pd.testing.assert_frame_equal(alone.correlations, analysis.correlations)


def test_biasbench_analyze_ranks_the_csv_like_place(reference_dir, tmp_path, capsys):
    """`biasbench analyze --highlight` on a benchmark.csv gives the ranks of `place` (checked above against pandas)."""
    from biasbench import command

    paper = pd.read_csv(reference_dir / "paper" / "benchmark.csv").set_index("model")
    mine = paper.loc[["tv_resnet50"]].rename(index={"tv_resnet50": "mine"}) * 0.9
    mine.index.name = "model"
    mine.dropna(axis=1).to_csv(tmp_path / "mine.csv")
    out = tmp_path / "out"
    rc = command.main(["analyze", "--results", str(tmp_path / "mine.csv"), "--paper-results",
                       str(reference_dir / "paper" / "benchmark.csv"), "--highlight", "mine", "--out", str(out),
                       "--no-figures"])
    assert rc == 0, capsys.readouterr().err
    ranks = pd.read_csv(out / "highlight_ranks.csv").set_index("metric")
    placed = biasbench.place(tmp_path / "mine.csv", paper=reference_dir / "paper").ranks.set_index("metric")
    shown = placed["rank"].dropna().index
    assert len(shown) >= 6
    assert ranks.loc[shown, "rank"].astype(int).tolist() == placed.loc[shown, "rank"].astype(int).tolist()
    assert command.main(["analyze", "--results", str(tmp_path / "none.csv"), "--out", str(out)]) == 2

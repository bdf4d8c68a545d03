"""Per-image decisions beside the log: accuracies recomputed from them equal the logged columns
exactly, ReaL re-scored from the clean decisions equals its column, attacks record what was
broken, a crash between file and log line leaves an ignored orphan, export writes them."""

import numpy as np
import pandas as pd
import pytest

from biasbench.benchmarks.adversarial import Adversarial
from biasbench.benchmarks.imagenet import ImageNetClean, ImageNetReaL
from biasbench.benchmarks.spectral import Spectral
from biasbench.errors import ResultsError
from biasbench.metrics.accuracy import real_accuracy
from biasbench.results import ResultsStore, decisions
from biasbench.results.__main__ import main as results_main
from biasbench.runner import RunOptions, run

from helpers import nudged_tinynet

OPTS = dict(device="cpu", num_workers=0, progress=False, batch_size=4)


@pytest.fixture(scope="module")
def suite(tmp_path_factory, val):
    out = tmp_path_factory.mktemp("run")
    store = ResultsStore(out / "benchmark.csv")
    # ReaL labels: every image's own class, plus class 7 for the even ones; the first image has none
    real = [[lab] + ([7] if i % 2 == 0 else []) for i, lab in enumerate(val.labels)]
    real[0] = []
    real_bench = ImageNetReaL(val)
    real_bench.targets = real
    benches = [ImageNetClean(val), real_bench, Spectral(val, cutoffs=(0.5,)), Adversarial(val, steps=2)]
    nets = {"a": nudged_tinynet(val, 0), "b": nudged_tinynet(val, 1)}
    run(benches, list(nets), store, RunOptions(**OPTS), load=lambda name, dev: nets[name])
    return store, real


def test_accuracies_recomputed_from_decisions_equal_the_logged_columns(suite, val):
    store, _ = suite
    checked = 0
    for r in store.records():
        if r.condition == "summary":
            assert decisions.KEY not in r.extra
            continue
        d = decisions.read(store.log_dir, r)
        assert np.array_equal(d.index, np.arange(len(val)))  # every image, in order
        assert np.array_equal(d.label, val.labels)
        top1 = [v for c, v in r.values.items() if c.startswith("top1_acc/") and "imagenet-real" not in c]
        for value in top1:
            assert d.accuracy() == value  # exactly, not approximately
            checked += 1
    assert checked >= 2 * 4


def test_real_rescored_from_the_clean_decisions(suite, val):
    store, real = suite
    latest = decisions.latest(store)
    for model in ("a", "b"):
        (clean,) = [d for (m, b, _, _), d in latest.items() if m == model and b == "imagenet"]
        (logged,) = [r.values["top1_acc/imagenet-real"] for r in store.records()
                     if r.model == model and r.benchmark == "imagenet-real"]
        # hand count: correct if the top-1 class is in the image's list; images without a list left out
        kept = [i for i in range(len(val)) if real[i]]
        by_hand = 100.0 * sum(int(clean.pred[i]) in real[i] for i in kept) / len(kept)
        assert real_accuracy(clean.index, clean.pred, real) == logged == by_hand


def test_attacks_record_the_adversarial_decisions(suite):
    store, _ = suite
    latest = decisions.latest(store)
    for model in ("a", "b"):
        (clean,) = [d for (m, b, _, _), d in latest.items() if m == model and b == "imagenet"]
        (adv,) = [d for (m, b, _, _), d in latest.items() if m == model and b == "adversarial"]
        broken = ~adv.correct
        (robust,) = adv.record.values.values()  # top1_acc/PGD-2/eps=0.5/255
        assert 100.0 * int((~broken).sum()) / len(broken) == robust
        assert np.array_equal(adv.label, clean.label) and adv.record.extra["attack"] == "PGD-2"


def test_crash_between_file_and_line_leaves_an_ignored_orphan(tmp_path, val, monkeypatch):
    store = ResultsStore(tmp_path / "benchmark.csv")
    net = nudged_tinynet(val)

    def crash(records):
        raise KeyboardInterrupt("killed before the log line")

    monkeypatch.setattr(store, "append", crash)
    with pytest.raises(KeyboardInterrupt):
        run([ImageNetClean(val)], ["a"], store, RunOptions(**OPTS), load=lambda n, d: net)
    monkeypatch.undo()
    assert store.records() == [] and len(decisions.orphans(store)) == 1  # file written, no line names it
    run([ImageNetClean(val)], ["a"], store, RunOptions(**OPTS), load=lambda n, d: net)  # resumes
    (record,) = store.records()
    assert decisions.read(store.log_dir, record).accuracy() == record.values["top1_acc/imagenet"]
    assert len(decisions.orphans(store)) == 1 and len(decisions.latest(store)) == 1
    # a file changed after it was written is refused, naming it
    path = store.log_dir / record.extra[decisions.KEY]["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ResultsError, match=r"SHA-256 mismatch"):
        decisions.read(store.log_dir, record)
    path.unlink()
    with pytest.raises(ResultsError, match=r"cannot read its per-image decisions .*\.npz"):
        decisions.read(store.log_dir, record)


def test_export_csv(suite, tmp_path, capsys):
    store, _ = suite
    out = tmp_path / "decisions.csv"
    assert results_main(["export", "--results", str(store.csv_path), "--out", str(out), "--model", "a"]) == 0
    table = pd.read_csv(out)
    assert set(table["model"]) == {"a"}
    for (bench, cond), rows in table.groupby(["benchmark", "condition"]):
        (record,) = [r for r in store.records() if (r.model, r.benchmark, r.condition) == ("a", bench, cond)]
        d = decisions.read(store.log_dir, record)
        assert rows["pred"].tolist() == d.pred.tolist() and rows["correct"].tolist() == d.correct.tolist()
    assert results_main(["export", "--results", str(store.csv_path), "--out", str(out), "--model", "zz"]) == 2
    assert "no per-image decisions for model 'zz'" in capsys.readouterr().err


def test_intervals_of_a_model_from_its_stored_decisions(suite, tmp_path):
    from biasbench.analysis.image_bootstrap import accuracy_interval
    from biasbench.analysis.image_bootstrap import main as ci_main

    store, _ = suite
    out = tmp_path / "ci.csv"
    assert ci_main(["--results", str(store.csv_path), "--model", "a", "--n-resamples", "50", "--out", str(out)]) == 0
    table = pd.read_csv(out).set_index("column")
    logged = store.latest_values("a")
    assert "top1_acc/imagenet-real" not in table.index  # ReaL counts other labels than the decisions' own
    for column in ("top1_acc/imagenet", "top1_acc/spectral/LFC/0.5", "top1_acc/PGD-2/eps=0.5/255"):
        assert table.loc[column, "value"] == pytest.approx(logged[column])
        assert table.loc[column, "low"] <= logged[column] <= table.loc[column, "high"]
    (clean,) = [d for (m, b, _, _), d in decisions.latest(store).items() if (m, b) == ("a", "imagenet")]
    expected = accuracy_interval(clean.correct, n_resamples=50, seed=0)
    assert (table.loc["top1_acc/imagenet", "low"], table.loc["top1_acc/imagenet", "high"]) == (
        pytest.approx(expected.low), pytest.approx(expected.high))

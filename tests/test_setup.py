"""A result's setup (precision, n_samples, seed, preprocess): results of different setups never mix in
benchmark.csv, the same identity decides what a run skips, `show` lists setups, a deleted table is re-derived."""

import csv

import torch

from biasbench.benchmarks.adversarial import Adversarial, attack_cost
from biasbench.benchmarks.base import Benchmark, Condition
from biasbench.benchmarks.criticalband import CriticalBand
from biasbench.benchmarks.imagenet import ImageNetClean
from biasbench.results import Record, ResultsStore
from biasbench.results import __main__ as results_cli
from biasbench.results.setup import Setup, is_reference_row, split_row
from biasbench.runner import RunOptions, run

from helpers import ImagesBenchmark, TinyNet, nudged_tinynet

OPTS = dict(device="cpu", num_workers=0, progress=False, batch_size=8)


def _loader(net):
    return lambda name, device: net


def _csv_rows(path):
    with open(path, newline="") as f:
        return {row["model"]: row for row in csv.DictReader(f)}


class Seeded(Benchmark):
    """A benchmark whose result depends on the seed (seed 0 shows the images, any other a blank)."""

    name = "seeded_noise"
    seeded = True

    def __init__(self, images, seed):
        self.images, self.seed = images, seed

    def conditions(self):
        def blank_unless_seed0(x, idx, seed=self.seed):
            return x if seed == 0 else torch.zeros_like(x)
        return [Condition("noise", self.images, transform=blank_unless_seed0)]

    def columns(self, condition, result):
        return {"top1_acc/seeded": result["top1"], "top5_acc/seeded": result["top5"]}


def test_setup_labels_and_rows():
    assert Setup().is_reference() and Setup().row("m") == "m"
    assert Setup(seed=None).is_reference()
    assert Setup("bf16").row("tv_resnet50") == "tv_resnet50@bf16"
    assert Setup(n_samples=1).row("tv_resnet50") == "tv_resnet50@n_samples=1"
    assert Setup("fp16", 100, 1, "model").label() == "fp16,n_samples=100,seed=1,preprocess=model"
    assert split_row("tv_resnet50@bf16,seed=2") == ("tv_resnet50", "bf16,seed=2")
    assert split_row("tv_resnet50") == ("tv_resnet50", "")
    assert split_row("odd@name") == ("odd@name", "")  # not a setup label: a model name that holds '@'
    assert not is_reference_row("a@n_samples=3") and is_reference_row("a")
    assert CriticalBand.seeded and Adversarial.seeded and not ImageNetClean.seeded


def test_other_setups_never_replace_the_reference_row(tmp_path, val):
    net = nudged_tinynet(val)
    store = ResultsStore(tmp_path / "benchmark.csv")
    full = run([ImageNetClean(val)], ["net"], store, RunOptions(**OPTS), load=_loader(net))["net"]
    sub = run([ImageNetClean(val.subset(7))], ["net"], store, RunOptions(n_samples=7, **OPTS),
              load=_loader(net))["net"]
    bf16 = run([ImageNetClean(val)], ["net"], store, RunOptions(precision="bf16", **OPTS), load=_loader(net))["net"]
    assert sub["top1_acc/imagenet"] != full["top1_acc/imagenet"]  # the test can tell them apart
    rows = _csv_rows(store.csv_path)
    assert set(rows) == {"net", "net@n_samples=7", "net@bf16"}
    for column, value in full.items():
        assert float(rows["net"][column]) == value  # exactly the full fp32 values, after both later runs
        assert float(rows["net@n_samples=7"][column]) == sub[column]
        assert float(rows["net@bf16"][column]) == bf16[column]
    assert store.latest_values("net") == full
    assert store.latest_values("net", setup=Setup(n_samples=7)) == sub
    # a fourth run of the reference setup has nothing to do: the bf16 and subset results do not count for it
    again = run([ImageNetClean(val)], ["net"], store, RunOptions(**OPTS), load=_loader(net))
    assert again == {}


def test_another_seed_reruns_only_seeded_benchmarks(tmp_path, val):
    net = nudged_tinynet(val)
    store = ResultsStore(tmp_path / "benchmark.csv")
    benches = lambda seed: [ImageNetClean(val), Seeded(val, seed)]  # noqa: E731
    first = run(benches(0), ["net"], store, RunOptions(seed=0, **OPTS), load=_loader(net))["net"]
    second = run(benches(1), ["net"], store, RunOptions(seed=1, **OPTS), load=_loader(net))["net"]
    assert set(second) == {"top1_acc/seeded", "top5_acc/seeded"}  # clean accuracy is the same setup for any seed
    assert second["top1_acc/seeded"] != first["top1_acc/seeded"]  # it really was measured anew
    rows = _csv_rows(store.csv_path)
    assert set(rows) == {"net", "net@seed=1"}
    assert float(rows["net"]["top1_acc/seeded"]) == first["top1_acc/seeded"]
    assert float(rows["net@seed=1"]["top1_acc/seeded"]) == second["top1_acc/seeded"]
    assert rows["net@seed=1"]["top1_acc/imagenet"] == ""  # the clean value lives in the reference row only
    clean = [r for r in store.records() if r.benchmark == "imagenet"]
    assert [r.seed for r in clean] == [None]


def test_old_log_lines_without_setup_fields_load_as_reference(tmp_path):
    store = ResultsStore(tmp_path / "benchmark.csv")
    line = Record("m", "imagenet", "clean", {"top1_acc/imagenet": 50.0}, 10, "ab", seed=0).to_json()
    import json
    data = json.loads(line)
    for key in ("n_samples", "preprocess", "check"):
        data.pop(key)
    store.log_dir.mkdir(parents=True)
    (store.log_dir / "old.jsonl").write_text(json.dumps(data) + "\n")
    (record,) = store.records()
    assert record.n_samples is None and record.preprocess == "paper" and Setup.of_record(record).is_reference()
    store.write_csv()
    assert set(_csv_rows(store.csv_path)) == {"m"}


def test_nothing_to_do_still_rederives_a_deleted_table(tmp_path, val):
    net = TinyNet(0)
    store = ResultsStore(tmp_path / "benchmark.csv")
    run([ImageNetClean(val)], ["net"], store, RunOptions(**OPTS), load=_loader(net))
    expected = store.csv_path.read_bytes()
    store.csv_path.unlink()
    assert run([ImageNetClean(val)], ["net"], ResultsStore(store.csv_path), RunOptions(**OPTS),
               load=_loader(net)) == {}
    assert store.csv_path.read_bytes() == expected


def test_show_lists_the_setups_of_each_model(tmp_path, val, capsys):
    net = TinyNet(2)
    store = ResultsStore(tmp_path / "benchmark.csv")
    run([ImageNetClean(val)], ["net"], store, RunOptions(**OPTS), load=_loader(net))
    run([ImageNetClean(val)], ["net"], store, RunOptions(precision="bf16", **OPTS), load=_loader(net))
    assert results_cli.main(["show", "--results", str(store.csv_path)]) == 0
    out = capsys.readouterr().out
    assert "setup reference (row net)" in out and "setup bf16 (row net@bf16)" in out
    assert results_cli.main(["show", "--results", str(store.csv_path), "--model", "net"]) == 0
    out = capsys.readouterr().out
    assert "latest values of net, setup reference (row net):" in out
    assert "latest values of net, setup bf16 (row net@bf16):" in out


# ---------------------------------------------------------------- transform keys come from the transform


def test_transform_key_is_derived_from_type_and_parameters(val):
    from biasbench.transforms.criticalband import CriticalBandNoise
    from biasbench.transforms.spectral import Bandpass

    key = lambda t: Condition("c", val, transform=t).transform_key  # noqa: E731
    assert key(Bandpass(0.1, True)) == key(Bandpass(0.1, True))
    assert len({key(Bandpass(0.1, True)), key(Bandpass(0.2, True)), key(Bandpass(0.1, False)), key(None)}) == 4
    assert key(CriticalBandNoise(2, 0.04, 0)) == key(CriticalBandNoise(2, 0.04, 0))
    assert key(CriticalBandNoise(2, 0.04, 0)) != key(CriticalBandNoise(2, 0.04, 1))
    assert key(CriticalBandNoise(2, 0.04, 0)) != key(CriticalBandNoise(3, 0.04, 0))
    f, g = (lambda x, i: x), (lambda x, i: x)
    assert key(f) == key(f) and key(f) != key(g)  # functions share only with themselves
    import functools
    assert key(functools.partial(torch.mul, other=2)) != key(functools.partial(torch.mul, other=3))


class _TwoScales(ImagesBenchmark):
    """Two transformed conditions that set no key: before keys were derived they shared the first's transform."""

    name = "two_scales"

    def conditions(self):
        return [Condition(f"scale/{s}", self.images, transform=lambda x, idx, s=s: x * s) for s in (1.0, 0.0)]


def test_conditions_without_a_key_get_their_own_transform(tmp_path, val):
    net = nudged_tinynet(val)
    together = run([_TwoScales(val), ImageNetClean(val)], ["n"], ResultsStore(tmp_path / "a.csv"),
                   RunOptions(**OPTS), load=_loader(net))["n"]
    blank = run([ImageNetClean(val)], ["n"], ResultsStore(tmp_path / "b.csv"), RunOptions(**OPTS),
                load=lambda name, device: torch.nn.Sequential(_Zero(), net))["n"]
    assert together["top1_acc/scale/1.0"] == together["top1_acc/imagenet"]
    assert together["top1_acc/scale/0.0"] == blank["top1_acc/imagenet"] != together["top1_acc/imagenet"]


class _Zero(torch.nn.Module):
    def forward(self, x):
        return x * 0.0


# ---------------------------------------------------------------- progress counts work


class _CleanAndAttack(ImagesBenchmark):
    name = "clean_and_attack"

    def conditions(self):
        return [Condition("clean", self.images),
                Condition("PGD-2", self.images, attack=lambda m, x, y, i: x, params={"attack": "PGD-2"},
                          cost=attack_cost("PGD", steps=2))]


def test_progress_counts_images_x_conditions_x_models_with_attacks_by_steps(tmp_path, val, monkeypatch):
    import io
    import sys

    import biasbench.progress as progress

    bars = []

    class Bar:
        def __init__(self, total, **kw):
            self.total, self.n, self.updates, self.postfix = total, 0, [], ""
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, k):
            self.n += k
            self.updates.append(k)

        def set_postfix_str(self, text, refresh=True):
            self.postfix = text

        def refresh(self):
            pass

        def close(self):
            pass

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(progress, "tqdm", Bar)
    monkeypatch.setattr(sys, "stderr", Terminal())  # one bar for the run (docs/running.md "Progress")
    net = TinyNet(0)
    run([_CleanAndAttack(val)], ["a", "b"], ResultsStore(tmp_path / "p.csv"),
        RunOptions(**{**OPTS, "progress": True, "batch_size": 8}), load=_loader(net))
    (bar,) = bars
    n = len(val)  # 15 images: batches of 8 and 7
    per_image = 2 * (1 + (1 + 3 * 2))  # 2 models x (clean + PGD-2: a forward and 2 steps of ~3 forwards)
    assert bar.total == n * per_image and bar.n == bar.total
    assert bar.updates[:4] == [8, 8, 8 * 7, 8 * 7]  # moves after each (condition, model) within the first batch
    assert " img/s, pass " in bar.postfix  # the rate and the pass running now

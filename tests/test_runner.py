"""The evaluation loop: numbers equal an independent computation, many models per pass,
resume, shards, batch-size independence, clear errors."""

import pytest

from biasbench.benchmarks.base import Condition
from biasbench.benchmarks.imagenet import ImageNetClean, ImageNetReaL
from biasbench.errors import UserError
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions, run

from helpers import ImagesBenchmark, Loader, TinyNet, nudged_tinynet, reference_top1

OPTS = dict(device="cpu", num_workers=0, progress=False)


def test_clean_accuracy_equals_independent_computation(tmp_path, val):
    net = nudged_tinynet(val)
    expected = reference_top1(net, val)
    assert 0 < expected < 100
    store = ResultsStore(tmp_path / "benchmark.csv")
    out = run([ImageNetClean(val)], ["net"], store, RunOptions(batch_size=4, **OPTS), load=Loader(net=net))
    assert out["net"]["top1_acc/imagenet"] == pytest.approx(expected)
    table = store.table().set_index("model")
    assert table.loc["net", "top1_acc/imagenet"] == pytest.approx(expected)


def test_several_models_per_pass_equal_single_model_runs(tmp_path, val):
    nets = {"a": nudged_tinynet(val), "b": TinyNet(1), "c": TinyNet(2)}
    together = run([ImageNetClean(val), ImageNetReaL(val)], list(nets), ResultsStore(tmp_path / "t.csv"),
                   RunOptions(batch_size=5, **OPTS), load=Loader(**nets))
    for name, net in nets.items():
        alone = run([ImageNetClean(val), ImageNetReaL(val)], [name], ResultsStore(tmp_path / f"{name}.csv"),
                    RunOptions(batch_size=2, **OPTS), load=Loader(**{name: net}))
        assert alone[name] == together[name]


def test_resume_skips_what_the_log_holds(tmp_path, val):
    store = ResultsStore(tmp_path / "r.csv")
    first = Loader(a=TinyNet(0))
    run([ImageNetClean(val)], ["a"], store, RunOptions(**OPTS), load=first)
    n_records = len(store.records())
    again = Loader(a=TinyNet(0), b=TinyNet(1))
    out = run([ImageNetClean(val)], ["a", "b"], store, RunOptions(**OPTS), load=again)
    assert again.calls == ["b"] and set(out) == {"b"}  # a is not loaded again
    assert len(store.records()) == n_records + 1
    # another precision is not the same result; --overwrite redoes everything
    bf16 = Loader(a=TinyNet(0))
    run([ImageNetClean(val)], ["a"], store, RunOptions(precision="bf16", **OPTS), load=bf16)
    assert bf16.calls == ["a"]
    redo = Loader(a=TinyNet(0), b=TinyNet(1))
    run([ImageNetClean(val)], ["a", "b"], store, RunOptions(overwrite=True, **OPTS), load=redo)
    assert redo.calls == ["a", "b"]


class _Brightness(ImagesBenchmark):
    """A benchmark with several transformed conditions and a summary, to test shards."""

    name = "brightness"

    def conditions(self):
        return [Condition(f"scale/{s}", self.images, transform=lambda x, idx, s=s: x * s)
                for s in (0.25, 0.5, 0.75, 1.0)]

    def summarize(self, values):
        return {"top1_acc/brightness-mean": sum(v for c in values.values() for v in c.values()) / len(values)}


def test_shards_merge_into_the_full_result(tmp_path, val):
    net = nudged_tinynet(val)
    full = run([_Brightness(val)], ["n"], ResultsStore(tmp_path / "full.csv"), RunOptions(**OPTS), load=Loader(n=net))
    store = ResultsStore(tmp_path / "sharded.csv")
    part0 = run([_Brightness(val)], ["n"], store, RunOptions(**OPTS), load=Loader(n=net), shard=(0, 2))
    assert "top1_acc/brightness-mean" not in part0["n"]  # not all conditions yet
    run([_Brightness(val)], ["n"], store, RunOptions(**OPTS), load=Loader(n=net), shard=(1, 2))
    merged = store.table().set_index("model").loc["n"].dropna().to_dict()
    assert merged == pytest.approx(full["n"])
    assert len(full["n"]) == 5


def test_results_do_not_depend_on_batch_size(tmp_path, val):
    net = nudged_tinynet(val)
    a = run([_Brightness(val)], ["n"], ResultsStore(tmp_path / "a.csv"), RunOptions(batch_size=1, **OPTS), load=Loader(n=net))
    b = run([_Brightness(val)], ["n"], ResultsStore(tmp_path / "b.csv"), RunOptions(batch_size=15, **OPTS), load=Loader(n=net))
    assert a == b


def test_nan_logits_stop_naming_model_and_batch(tmp_path, val):
    class NaNNet(TinyNet):
        def forward(self, x):
            return super().forward(x) * float("nan")

    store = ResultsStore(tmp_path / "nan.csv")
    with pytest.raises(UserError, match=r"model bad gave NaN/inf logits on batch 0 of imagenet-val"):
        run([ImageNetClean(val)], ["bad"], store, RunOptions(**OPTS), load=Loader(bad=NaNNet()))
    assert store.records() == []


def test_bad_device_and_precision(tmp_path, val):
    with pytest.raises(UserError, match="--device"):
        run([ImageNetClean(val)], ["a"], ResultsStore(tmp_path / "x.csv"),
            RunOptions(device="nonsense", num_workers=0, progress=False), load=Loader(a=TinyNet()))
    with pytest.raises(UserError, match="--precision 'fp8'"):
        run([ImageNetClean(val)], ["a"], ResultsStore(tmp_path / "x.csv"),
            RunOptions(precision="fp8", **OPTS), load=Loader(a=TinyNet()))

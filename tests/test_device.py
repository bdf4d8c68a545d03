"""Device handling of the runner: the device recorded per result and never mixed in a summary,
attacks under the run's precision, global flags restored, accumulators without host syncs."""

import logging
import os
from dataclasses import replace

import pytest
import torch

from biasbench.benchmarks.adversarial import Adversarial
from biasbench.benchmarks.base import Condition
from biasbench.benchmarks.spectral import Spectral
from biasbench.data.imagenet import imagenet_val
from biasbench.errors import ConfigError
from biasbench.metrics.accuracy import ReaL, TopK
from biasbench.results import ResultsStore
from biasbench.runner import RunOptions, add_summaries, run

from helpers import ImagesBenchmark, TinyNet, write_val_tree

OPTS = dict(device="cpu", num_workers=0, progress=False)


@pytest.fixture(scope="module")
def val(tmp_path_factory):
    root = write_val_tree(tmp_path_factory.mktemp("imagenet"), [0, 1, 2, 500], per_class=2)
    return imagenet_val(root, check=False)


class _TwoConditions(ImagesBenchmark):
    """Clean and darker images; the summary is the mean top-1 of both."""

    name = "two"

    def conditions(self):
        return [Condition("clean", self.images),
                Condition("dark", self.images, transform=lambda x, idx: x * 0.5)]

    def columns(self, condition, result):
        return {f"top1/{condition.name}": result["top1"]}

    def summarize(self, values):
        return {"top1/mean": sum(next(iter(v.values())) for v in values.values()) / len(values)}


def test_records_carry_the_device_and_summaries_never_mix_devices(tmp_path, val, caplog):
    store = ResultsStore(tmp_path / "b.csv")
    bench = _TwoConditions(val)
    run([bench], ["n"], store, RunOptions(**OPTS), load=lambda name, dev: TinyNet())
    records = store.records()
    assert {r.device for r in records} == {"cpu"} and any(r.condition == "summary" for r in records)
    # the same conditions again, one of them as if from a GPU: no summary over both devices
    moved = [replace(r, device="cuda:NVIDIA H200", time="2030-01-01T00:00:00+00:00")
             for r in records if r.condition not in ("summary", "clean")][:1]
    store.append(moved)
    with caplog.at_level(logging.WARNING, logger="biasbench"):
        assert add_summaries([bench], ["n"], store, RunOptions(**OPTS, overwrite=True)) == []
    assert "its conditions ran on different devices (cpu, cuda:NVIDIA H200)" in caplog.text
    # old log lines without the field still load (device "")
    line = records[0].to_json()
    assert type(records[0]).from_json(line.replace('"device":"cpu",', "").rsplit(',"check"', 1)[0] + "}").device == ""


def test_global_flags_are_restored_after_a_run(tmp_path, val):
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
              torch.are_deterministic_algorithms_enabled())
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default, which a strict fp32 run switches off
    seen = []

    class Spy(TinyNet):
        def forward(self, x):
            seen.append((torch.backends.cudnn.allow_tf32, torch.are_deterministic_algorithms_enabled()))
            return super().forward(x)

    try:
        run([Spectral(val, cutoffs=(0.1,))], ["n"], ResultsStore(tmp_path / "f.csv"),
            RunOptions(deterministic=True, **OPTS), load=lambda name, dev: Spy())
        assert seen and set(seen) == {(False, True)}
        assert torch.backends.cudnn.allow_tf32 is True and not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before[:2]
        torch.use_deterministic_algorithms(before[2])


def _process_flags() -> tuple:
    return (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic, torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(), os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


def test_one_context_sets_the_runs_flags_and_restores_every_one(monkeypatch):
    """``device.global_flags`` is where a run changes process-wide state (TF32, cuDNN autotuning,
    deterministic algorithms and their warn-only mode, the cuBLAS workspace variable); all of it is as
    before afterwards, also when the run fails."""
    from biasbench.device import global_flags

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    original = _process_flags()
    try:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True  # PyTorch's defaults
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
        torch.use_deterministic_algorithms(True, warn_only=True)
        before = _process_flags()
        with global_flags("tf32", deterministic=True):
            assert _process_flags() == (True, True, False, True, True, True, ":4096:8")
        assert _process_flags() == before
        with pytest.raises(RuntimeError, match="a failing run"), global_flags("fp32", deterministic=False):
            assert _process_flags()[:2] == (False, False)  # strict fp32: no TF32 anywhere
            raise RuntimeError("a failing run")
        assert _process_flags() == before
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark,
         torch.backends.cudnn.deterministic) = original[:4]
        torch.use_deterministic_algorithms(original[4], warn_only=original[5])


def test_attacks_run_under_the_runs_precision(tmp_path, val):
    modes = []

    class Spy(TinyNet):
        def forward(self, x):
            if torch.is_grad_enabled():  # an attack's forward pass
                modes.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
            return super().forward(x)

    for precision in ("bf16", "fp32"):
        modes.clear()
        store = ResultsStore(tmp_path / f"{precision}.csv")
        run([Adversarial(val, steps=2)], ["n"], store, RunOptions(precision=precision, **OPTS),
            load=lambda name, dev: Spy())
        assert len(modes) == 2  # one batch, two PGD steps
        if precision == "bf16":
            assert set(modes) == {(True, torch.bfloat16)}
        else:
            assert {enabled for enabled, _ in modes} == {False}
        assert {r.precision for r in store.records()} == {precision}


def test_device_index_out_of_range_is_a_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match=r"--device cuda:5: this machine has 2 visible GPU\(s\), cuda:0 to cuda:1"):
        RunOptions(device="cuda:5").resolved_device()
    assert RunOptions(device="cuda:1").resolved_device() == torch.device("cuda:1")


def _no_host_reads(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a host read of a tensor in update()")
    for name in ("item", "tolist", "__bool__", "__int__", "__float__", "__index__", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, boom)


def test_accumulators_read_their_counts_once(monkeypatch):
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(6, 1000, generator=g), torch.randint(0, 1000, (6,), generator=g),
                torch.arange(6 * k, 6 * k + 6), torch.tensor([True, True, False, True, True, True]))
               for k in range(3)]
    for b in batches:  # make some predictions right
        b[1][:3] = b[0][:3].argmax(1)
    targets = [[int(t)] for b in batches for t in b[1]]
    accs = [TopK(), TopK(classes=range(0, 1000, 2)), ReaL(targets)]
    with monkeypatch.context() as m:
        _no_host_reads(m)
        for acc in accs:
            for b in batches:
                acc.update(*b)
    logits, labels, _, valid = (torch.cat(t) for t in zip(*batches))
    keep = valid.numpy()
    top1 = 100.0 * (logits.argmax(1) == labels).numpy()[keep].mean()
    top5 = 100.0 * (logits.topk(5, dim=1).indices == labels[:, None]).any(1).numpy()[keep].mean()
    sub = logits[:, ::2].argmax(1) * 2
    assert accs[0].result() == pytest.approx({"top1": top1, "top5": top5, "n": int(keep.sum())})
    assert accs[1].result()["top1"] == pytest.approx(100.0 * (sub == labels).numpy()[keep].mean())
    assert accs[2].result() == pytest.approx({"top1": top1, "n": int(keep.sum())})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (sync debug mode)")
def test_accumulators_do_not_synchronise_on_cuda():
    logits, labels = torch.randn(8, 1000, device="cuda"), torch.randint(0, 1000, (8,), device="cuda")
    valid, idx = torch.ones(8, dtype=torch.bool, device="cuda"), torch.arange(8)
    accs = [TopK(), TopK(classes=range(200)), ReaL([[1]] * 8)]
    for acc in accs:
        acc.update(logits, labels, idx, valid)  # warm-up (moves the class list once)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for acc in accs:
            acc.update(logits, labels, idx, valid)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("parent,slot,want", [
    (None, (0, 1), None),  # not set: submitit's own indices are right
    ("2,3", (1,), "3"),
    ("GPU-aaaa, GPU-bbbb,GPU-cccc", (1, 2), "GPU-bbbb,GPU-cccc"),
    ("MIG-11111111-2222-3333-4444-555555555555,MIG-66666666-7777-8888-9999-000000000000", (1,),
     "MIG-66666666-7777-8888-9999-000000000000"),
])
def test_local_sweep_jobs_keep_the_parents_gpu_names(monkeypatch, parent, slot, want):
    from biasbench.sweep.executors import _job_visible_devices

    if parent is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", parent)
    assert _job_visible_devices(slot) == want


def test_the_last_batch_is_padded_to_full_size_and_the_copies_count_nowhere(tmp_path, val):
    """With --compile (or pad_last_batch) every batch a model sees has one shape, so dynamo does not
    compile it again for the last one; the padding changes no number and no stored decision."""
    from biasbench.results import decisions

    shapes = []

    class Spy(TinyNet):
        def forward(self, x):
            shapes.append(x.shape[0])
            return super().forward(x)

    benches = [_TwoConditions(val), Adversarial(val, eps=(1 / 255,), steps=2)]
    out, unpadded_decisions = {}, None
    for pad in (False, True):
        shapes.clear()
        store = ResultsStore(tmp_path / f"pad{pad}.csv")
        out[pad] = run(benches, ["n"], store, RunOptions(batch_size=3, pad_last_batch=pad, **OPTS),
                       load=lambda name, dev: Spy())
        seen = set(shapes)
        got = {k[2]: (d.index.tolist(), d.pred.tolist()) for k, d in decisions.latest(store).items()}
        if pad:
            assert seen == {3}  # 8 images: 3 + 3 + 2 padded to 3
            assert got == unpadded_decisions
            assert {r.n_images for r in store.records() if r.condition != "summary"} == {len(val)}
        else:
            assert seen == {3, 2}
            unpadded_decisions = got
    assert out[True] == out[False]

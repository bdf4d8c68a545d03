"""Faults: real runs of the command line killed with SIGKILL at random points (seeded) resume to
exactly the numbers of an uninterrupted run, with no torn or partial record and an intact
decoded cache; CUDA out-of-memory halves the batch size and gives the same numbers.

The killed processes run ``code/run_suite.py`` on a small ImageNet-style tree with test-zoo
models (tests/fake_zoo.py); a model appends a line to a trace file per forward call, so a kill
can be placed at a chosen amount of work done, whatever the machine's speed.
"""

import logging
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from biasbench.benchmarks.imagenet import ImageNetClean, ImageNetReaL
from biasbench.benchmarks.spectral import Spectral
from biasbench.data.decode import decode
from biasbench.data.decoded_cache import DecodedCache
from biasbench.data.imagenet import imagenet_val
from biasbench.errors import UserError
from biasbench.results import ResultsStore, ResultsWarning, decisions
from biasbench.runner import RunOptions, run

import fake_zoo

REPO = Path(__file__).resolve().parents[1]
FORWARDS_PER_BATCH = 1  # clean and ReaL share one forward pass
BATCHES = 2  # 4 images in batches of 2


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    fake_zoo.write_blocky_val(root / "imagenet", [3, 700], per_class=2, seed=3)  # 4 images
    val = imagenet_val(root / "imagenet", check=False)
    trace = root / "trace.txt"
    # model 0 (the first pass, which fills the decoded cache) is slow, so a kill lands mid-fill
    models = [fake_zoo.save_model(fake_zoo.fitted_tinynet(val, seed=s, every=2 + s), root / f"m{s}.pt",
                                  trace=trace, **({"sleep": 0.3} if s == 0 else {})) for s in range(3)]
    return root, val, models, trace


def _cmd(root, models, out):
    return [sys.executable, str(REPO / "code" / "run_suite.py"), "--model", ",".join(models),
            "--benchmarks", "imagenet,imagenet-real", "--imagenet", str(root / "imagenet"),
            "--check_dataset", "false", "--device", "cpu", "--num_workers", "0", "--no-progress", "--batch_size", "2",
            "--models_per_pass", "1", "--results", str(out / "benchmark.csv"), "--decoded_cache", str(out / "cache")]


def _calls(trace: Path) -> int:
    try:
        return len(trace.read_bytes().splitlines())
    except FileNotFoundError:
        return 0


def _start(cmd, trace):
    trace.unlink(missing_ok=True)
    return subprocess.Popen(cmd, env=fake_zoo.subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(proc, ready, timeout=60.0) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; False when it ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("the run neither finished nor reached the kill point in time")


def _records(out: Path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResultsWarning)
        records = ResultsStore(out / "benchmark.csv").records()
    torn = [w for w in caught if issubclass(w.category, ResultsWarning)]
    return records, torn


def test_killed_runs_resume_to_the_numbers_of_an_uninterrupted_run(tmp_path, setup):
    root, val, models, trace = setup
    clean = tmp_path / "uninterrupted"
    start = time.monotonic()
    done = subprocess.run(_cmd(root, models, clean), env=fake_zoo.subprocess_env(), capture_output=True, text=True)
    full_time = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    total_calls = _calls(trace)
    assert total_calls == len(models) * BATCHES * FORWARDS_PER_BATCH  # one pass per model (--models_per_pass 1)
    reference, _ = _records(clean)
    by_cell = {(r.model, r.benchmark, r.condition): r.values for r in reference}
    assert len(by_cell) == len(reference) == 2 * len(models)  # one record per cell

    rng = random.Random(8)
    killed = tmp_path / "killed"
    cache = DecodedCache(val, killed / "cache")

    def cache_partly_filled():
        try:
            marks = np.fromfile(cache.done_path, dtype=np.uint8)
        except OSError:
            return False
        return 0 < marks.sum() < len(val)

    # Kill points, each (what, ready(seconds since start)): during the decoded-cache fill; after a
    # random amount of work (forward calls of this attempt); at a random time (start-up, a pass, a
    # results or CSV write).
    points = [("during the decoded-cache fill", lambda s: cache_partly_filled())]
    for k in (rng.randint(1, total_calls),):
        points.append((f"after {k} forward calls", lambda s, k=k: _calls(trace) >= k))
    t = rng.uniform(0, full_time)
    points.append((f"at {t:.2f} s", lambda s, t=t: s >= t))
    kills = 0
    for what, ready in points:
        proc = _start(_cmd(root, models, killed), trace)
        began = time.monotonic()
        if _kill_when(proc, lambda: ready(time.monotonic() - began)):
            kills += 1
        if what.startswith("during"):
            assert kills == 1 and 0 < cache.missing().size < len(val)  # killed mid-fill: part of it is written
        records, torn = _records(killed)
        assert len(torn) <= 1  # at most the line being written when the kill came, and it is skipped
        for r in records:  # nothing partial, nothing different: every record equals the reference one
            assert r.values == by_cell[(r.model, r.benchmark, r.condition)], (what, r.condition)
            # and its per-image decisions are on disk, whole (read() checks the SHA-256 the line holds)
            if r.benchmark == "imagenet":
                assert decisions.read(killed / "benchmark.log", r).accuracy() == r.values["top1_acc/imagenet"]
    assert kills >= 2

    final = subprocess.run(_cmd(root, models, killed), env=fake_zoo.subprocess_env(), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert (killed / "benchmark.csv").read_bytes() == (clean / "benchmark.csv").read_bytes()
    records, _ = _records(killed)
    assert {(r.model, r.benchmark, r.condition) for r in records} == set(by_cell)
    ours = decisions.latest(ResultsStore(killed / "benchmark.csv"))
    theirs = decisions.latest(ResultsStore(clean / "benchmark.csv"))
    assert ours.keys() == theirs.keys() and len(ours) == len(by_cell)
    for key, d in ours.items():  # orphans of killed attempts are ignored; the decisions are the same
        assert np.array_equal(d.pred, theirs[key].pred) and np.array_equal(d.index, theirs[key].index)
    pixels = DecodedCache(val, killed / "cache")
    assert pixels.complete()
    direct = np.stack([decode(val.path(i), val.preprocess).numpy() for i in range(len(val))])
    assert np.array_equal(pixels.read(0, len(val)), direct)


# ----------------------------------------------------------------------------- out of memory

@pytest.fixture(scope="module")
def small(setup):
    root, val, _, _ = setup
    return val, fake_zoo.fitted_tinynet(val, seed=0)


def _behaving(net, **kw):
    return fake_zoo.behaving_class()(net, **kw)


def test_out_of_memory_splits_only_the_failing_step_and_gives_the_same_numbers(tmp_path, small, caplog):
    val, net = small
    opts = dict(device="cpu", num_workers=0, progress=False)
    benches = [ImageNetClean(val), ImageNetReaL(val), Spectral(val, cutoffs=(0.1, 0.5))]
    normal = run(benches, ["m", "n"], ResultsStore(tmp_path / "a.csv"), RunOptions(batch_size=8, **opts),
                 load=lambda name, dev: _behaving(net))
    store = ResultsStore(tmp_path / "b.csv")
    loaded = {}

    def load(name, dev):  # model m runs out of memory above 3 images, n never
        loaded[name] = _behaving(net, oom_above=3 if name == "m" else 0)
        return loaded[name]

    with caplog.at_level(logging.WARNING, logger="biasbench"):
        oom = run(benches, ["m", "n"], store, RunOptions(batch_size=8, **opts), load=load)
    assert oom == normal
    assert len(val) == 4  # one batch; each of m's steps ran as two pieces of 2 images
    n_keys = len({c.transform_key for b in benches for c in b.conditions()})  # one step per transform and model
    assert "CUDA out of memory in %d step(s) of imagenet-val" % n_keys in caplog.text
    assert "smallest 2 images" in caplog.text and "restarting this pass" not in caplog.text
    assert loaded["n"].calls == n_keys  # the other model's steps were never split or redone
    assert loaded["m"].calls == 2 * n_keys
    records = [r for r in store.records() if r.condition != "summary"]
    assert {r.extra["batch_size"] for r in records} == {8}
    assert {r.extra.get("oom_splits", 0) > 0 for r in records} == {True}
    assert {r.device for r in store.records()} == {"cpu"}

    with pytest.raises(UserError, match=r"CUDA out of memory even at batch size 1: use fewer models per pass"):
        run([ImageNetClean(val)], ["m"], ResultsStore(tmp_path / "c.csv"), RunOptions(batch_size=2, **opts),
            load=lambda name, dev: _behaving(net, oom_above=0.5))


def test_out_of_memory_while_loading_models_loads_fewer_at_once(tmp_path, small, caplog):
    val, net = small
    opts = dict(device="cpu", num_workers=0, progress=False)
    normal = run([ImageNetClean(val)], ["a", "b", "c"], ResultsStore(tmp_path / "a.csv"),
                 RunOptions(batch_size=8, **opts), load=lambda name, dev: _behaving(net))
    live: list[str] = []

    def load(name, dev):  # room for two models at once (a simulated GPU)
        if len(live) >= 2:
            live.clear()  # the runner drops what it had loaded before it retries
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test: a third model)")
        live.append(name)
        return _behaving(net)

    with caplog.at_level(logging.WARNING, logger="biasbench"):
        got = run([ImageNetClean(val)], ["a", "b", "c"], ResultsStore(tmp_path / "b.csv"),
                  RunOptions(batch_size=8, **opts), load=load)
    assert got == normal
    assert "CUDA out of memory loading 3 models at once: loading them in two halves" in caplog.text

    def never(name, dev):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")

    with pytest.raises(UserError, match=r"CUDA out of memory while loading model a alone on cpu"):
        run([ImageNetClean(val)], ["a"], ResultsStore(tmp_path / "c.csv"), RunOptions(batch_size=8, **opts),
            load=never)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (a real out-of-memory error)")
def test_real_cuda_out_of_memory_halves_the_batch(tmp_path, small, caplog):
    val, net = small
    free, _ = torch.cuda.mem_get_info()
    per_image = int(free * 0.3)  # a batch of 4 needs 1.2 x the free memory; 2 fit

    class Hungry(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            scratch = torch.empty(len(x) * per_image, dtype=torch.uint8, device=x.device)
            del scratch
            return self.net(x)

    opts = dict(device="cuda", num_workers=0, progress=False)
    normal = run([ImageNetClean(val)], ["m"], ResultsStore(tmp_path / "a.csv"), RunOptions(batch_size=2, **opts),
                 load=lambda name, dev: net)
    with caplog.at_level(logging.WARNING, logger="biasbench"):
        oom = run([ImageNetClean(val)], ["m"], ResultsStore(tmp_path / "b.csv"), RunOptions(batch_size=8, **opts),
                  load=lambda name, dev: Hungry())
    assert oom == normal
    assert "CUDA out of memory in" in caplog.text and "smallest 2 images" in caplog.text


# ----------------------------------------------------------------------------- decoded cache files

def test_a_new_cache_file_appears_once_at_full_size_and_is_never_truncated(tmp_path, setup, monkeypatch):
    import os

    import biasbench.data.decoded_cache as dc

    path = tmp_path / "pixels.u8"
    real_link = os.link

    def racing_link(src, dst):  # another process creates the file and writes into it first
        Path(dst).write_bytes(b"\x07" * 10)
        return real_link(src, dst)

    monkeypatch.setattr(dc.os, "link", racing_link)
    dc._create_once(path, 10)
    assert path.read_bytes() == b"\x07" * 10  # theirs is kept, not replaced by zeros
    monkeypatch.setattr(dc.os, "link", real_link)
    dc._create_once(path, 10)
    assert path.read_bytes() == b"\x07" * 10  # an existing file is left alone
    dc._create_once(tmp_path / "new.u8", 12)
    assert (tmp_path / "new.u8").read_bytes() == bytes(12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.u8", "pixels.u8"]  # no temporary files left

    _, val, _, _ = setup
    cache = DecodedCache(val, tmp_path / "cache")
    cache.open()
    with open(cache.pixels_path, "r+b") as f:
        f.truncate(100)  # damaged (e.g. a full disk)
    with pytest.raises(UserError, match=r"decoded-image cache file .*pixels\.u8 is 100 bytes, expected "
                                        r"602112: it is damaged; delete"):
        DecodedCache(val, tmp_path / "cache").open()
    assert not DecodedCache(val, tmp_path / "cache").is_complete()

"""Sweeps on a real Slurm cluster (slurmctld, slurmd, slurmdbd with MariaDB accounting), started for
the session by tests/cluster/slurm.sh (fixture ``slurm_cluster``; skipped, with the reason, where it
cannot start). Everything goes through ``code/sweep.py``'s ``main`` with ``--executor slurm``; the
job states the tests wait for are read from the scheduler itself (``squeue``), independently of the
code under test.

Data: a synthetic ImageNet val (4 classes x 2 blocky images) and ImageNet-C (2 corruptions x 2
severities x 2 classes x 1). Models: test-zoo TinyNets (tests/fake_zoo.py), slowed down per forward
call where a test has to act while a job runs. Each xdist worker that runs one of these tests starts
its own cluster (own folder, ports and cluster name): two at once work side by side.
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from biasbench import zoo
from biasbench.benchmarks import REGISTRY
from biasbench.cli import main as suite_main
from biasbench.data.imagenet import imagenet_val
from biasbench.data.synsets import imagenet_wnids
from biasbench.results import ResultsStore
from biasbench.sweep import SweepDir, main

import fake_zoo

WNIDS = imagenet_wnids()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurmdata")
    fake_zoo.write_blocky_val(root / "data" / "imagenet", [0, 1, 2, 999], per_class=2)
    rng = np.random.default_rng(0)
    for c in ("fog", "snow"):
        for s in (1, 2):
            for y in (1, 999):
                d = root / "data" / "imagenet-c" / c / str(s) / WNIDS[y]
                d.mkdir(parents=True)
                Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(d / "x.JPEG", quality=90)
    val = imagenet_val(root / "data" / "imagenet", check=False)
    models = [fake_zoo.save_model(fake_zoo.fitted_tinynet(val, seed=s, every=2 + s), root / f"m{s}.pt")
              for s in range(3)]
    return root, models


@pytest.fixture
def cluster(slurm_cluster, monkeypatch):
    """The session's cluster for this process and the jobs it submits; the test zoo in both."""
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster))
    monkeypatch.setattr(zoo, "resolve_models", fake_zoo.resolve_models, raising=False)
    monkeypatch.setattr(zoo, "load_model", fake_zoo.load_model, raising=False)
    for key, value in fake_zoo.subprocess_env().items():  # sbatch passes this environment to the jobs
        monkeypatch.setenv(key, value)
    return slurm_cluster


def _common(root, results, data="data"):
    return ["--data-root", str(root / data), "--check_dataset", "false", "--device", "cpu", "--num_workers", "0",
            "--no-progress", "--batch_size", "4", "--results", str(results)]


def _slurm_args(n_parallel=None):
    return ["--executor", "slurm", "--gpus-per-job", "0", "--time-limit", "10", "--images-per-second", "50",
            *(["--array-parallelism", str(n_parallel)] if n_parallel else [])]


def _squeue(array_id: str) -> dict[str, str]:
    """{job id: state} the controller holds for the array (asked directly, not through the sweep's code)."""
    out = subprocess.run(["squeue", "--noheader", "--array", "--format=%i|%T", f"--jobs={array_id}"],
                         capture_output=True, text=True, check=False)
    return dict(line.split("|") for line in out.stdout.split()) if out.returncode == 0 else {}


def _sacct(job_id: str) -> str:
    out = subprocess.run(["sacct", "--noheader", "--allocations", "--parsable2", "--format=JobID,State",
                          f"--jobs={job_id}"], capture_output=True, text=True, check=False)
    return dict(line.split("|") for line in out.stdout.splitlines()).get(job_id, "")


def _wait(what, until, timeout=120.0, every=0.3):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = until()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _submitted(capsys) -> str:
    out = capsys.readouterr().out
    found = re.search(r"^submitted \d+ job\(s\) \((\d+)[_ ]", out, re.MULTILINE)  # (12_0 ...) or (12 ...)
    assert found, out
    return found.group(1)


def _status(sweep, capsys) -> dict[str, tuple[str, str]]:
    """{job key: (state, note)} as ``sweep.py --status`` prints it; the summary line under "summary"."""
    assert main(["--status", "--sweep-dir", str(sweep.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[1]
    cols = {name: head.index(name) for name in ("state", "job id", "note")}
    rows = {x.split()[0]: (x[cols["state"]:cols["job id"]].strip(), x[cols["note"]:].strip()) for x in lines[2:-1]}
    rows["summary"] = (lines[-1], "")
    return rows


def _cells(results) -> dict[tuple, list[str]]:
    """{(model, condition): [log shard of each record]} of the per-condition records in the log."""
    out: dict[tuple, list[str]] = {}
    for shard in sorted(ResultsStore(results).log_dir.glob("*.jsonl")):
        for line in shard.read_text().splitlines():
            rec = json.loads(line)
            if rec["condition"] != "summary":
                out.setdefault((rec["model"], rec["condition"]), []).append(shard.name)
    return out


def _csv(path):
    lines = Path(path).read_text().splitlines()
    header = lines[0].split(",")
    return {row.split(",")[0]: dict(zip(header[1:], row.split(",")[1:])) for row in lines[1:]}


def test_slurm_array_runs_shows_states_and_a_cancelled_job_is_redone(tmp_path, world, cluster, capsys, monkeypatch):
    root, models = world
    slow = [f"{m}?sleep=0.3" for m in models[:2]]  # 2 batches per job: a job runs for a few seconds
    direct = tmp_path / "direct.csv"
    assert suite_main(list(REGISTRY), ["--model", ",".join(slow), "--benchmarks", "imagenet",
                                       *_common(root, direct)], require_data=False) == 0
    results = tmp_path / "sweep" / "benchmark.csv"
    argv = ["--models", ",".join(slow), "--benchmarks", "imagenet", "--models-per-job", "1", *_slurm_args(1),
            *_common(root, results)]
    assert main(argv) == 0
    array = _submitted(capsys)
    sweep = SweepDir(tmp_path / "sweep" / "sweeps" / "sweep")
    keys = [f"imagenet.m0{k}.s0of1" for k in range(2)]
    assert {k: sweep.submission(k)["job_id"] for k in keys} == {k: f"{array}_{n}" for n, k in enumerate(keys)}

    # --array-parallelism 1: the scheduler holds the other tasks back while one runs
    queue = _wait("a running task", lambda: (q := _squeue(array)) and "RUNNING" in q.values() and q)
    assert sorted(queue.values()) == ["PENDING", "RUNNING"]  # both CPUs free, yet one waits: for the limit
    reasons = subprocess.run(["squeue", "--noheader", "--array", "--states=PENDING", "--format=%r",
                              f"--jobs={array}"], capture_output=True, text=True, check=True).stdout.split()
    assert reasons in (["JobArrayTaskLimit"], [])  # [] if the running one ended meanwhile
    status = _status(sweep, capsys)
    running = [k for k in keys if status[k][0] == "running"]
    assert len(running) == 1 and [status[k][0] for k in keys if k not in running] == ["queued"], status
    victim = sweep.submission(running[0])["job_id"]
    assert queue[victim] == "RUNNING"
    subprocess.run(["scancel", victim], check=True)
    _wait("the cancelled task to leave the queue", lambda: victim not in _squeue(array))
    status = _status(sweep, capsys)  # at once: out of the queue, whatever accounting says yet
    assert status[running[0]][0] == "failed", status
    _wait("accounting to record the cancellation", lambda: _sacct(victim).startswith("CANCELLED"))
    status = _status(sweep, capsys)
    assert status[running[0]][0] == "failed" and status[running[0]][1].startswith("CANCELLED"), status
    # Without accounting (sacct fails, as on a cluster without slurmdbd) the queue alone tells the same
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sacct").write_text("#!/bin/sh\necho 'sacct: error: Slurm accounting storage is disabled' >&2\n"
                                   "exit 1\n")
    (bin_dir / "sacct").chmod(0o755)
    with monkeypatch.context() as m:
        m.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        status = _status(sweep, capsys)
    assert status[running[0]][0] == "failed" and status[running[0]][1].startswith("ended without finishing"), status

    # The same command again submits only the cancelled job (the others are queued, running or done).
    assert main(argv) == 0
    again = _submitted(capsys)
    assert again != array and sweep.submission(running[0])["job_id"] == again
    assert all(sweep.submission(k)["job_id"].startswith(f"{array}_") for k in keys if k != running[0])
    _wait("every job to end", lambda: not (_squeue(array) or _squeue(again)))
    status = _status(sweep, capsys)
    assert status["summary"][0] == "2 jobs: 2 done, 0 running, 0 queued, 0 failed, 0 missing", status
    assert _csv(results) == _csv(direct)  # derived by --status; same numbers as one process
    cells = _cells(results)
    assert sorted(m for m, _ in cells) == sorted(slow)  # one condition per model: all there, once each
    assert all(len(shards) == 1 for shards in cells.values())


def test_slurm_requeue_resumes_from_the_log(tmp_path, world, cluster, capsys):
    """``scontrol requeue`` (what preemption does) of a running job: the job starts again under the
    same id and computes only the conditions its first run did not write."""
    root, models = world
    model = f"{models[0]}?sleep=1"  # 5 conditions of ImageNet-C, one batch each: about 5 s of work
    results = tmp_path / "r.csv"
    argv = ["--models", model, "--benchmarks", "imagenet-c", "--corruptions", "fog,snow", "--severities", "1,2",
            *_slurm_args(), *_common(root, results)]
    assert main(argv) == 0
    array = _submitted(capsys)
    sweep = SweepDir(tmp_path / "sweeps" / "sweep")
    (key,) = [k for k in sweep.submissions()]
    job_id = sweep.submission(key)["job_id"]
    _wait("the job's first results", lambda: _cells(results) or not _squeue(array), every=0.1)
    first = _cells(results)
    assert _squeue(array).get(job_id) == "RUNNING" and len(first) < 5
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    # a requeued job waits ~2 min before it may start again; a site's preemption does the same
    _wait("the requeued job to be pending", lambda: _squeue(array).get(job_id) == "PENDING", timeout=30)
    assert _status(sweep, capsys)[key][0] == "queued"
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
    _wait("the requeued job to end", lambda: not _squeue(array))
    status = _status(sweep, capsys)
    assert status[key][0] == "done" and sweep.submission(key)["job_id"] == job_id
    cells = _cells(results)
    assert len(cells) == 5 and all(len(shards) == 1 for shards in cells.values())  # each condition once
    by_process = {}  # each process writes its own log shard
    for cell, (shard,) in cells.items():
        by_process.setdefault(shard, set()).add(cell)
    (before,) = {shard for v in first.values() for shard in v}
    (after,) = set(by_process) - {before}  # the requeued run: only what the first run had not written
    assert set(first) <= by_process[before] and by_process[after] == set(cells) - by_process[before]
    assert results.exists()  # derived by --status once done


def test_slurm_failures_are_one_line_before_or_after_submission(tmp_path, world, cluster, capsys, monkeypatch):
    root, models = world
    # a job that fails on bad data: its one-line error in --status
    bad = tmp_path / "bad"
    (bad / "imagenet").mkdir(parents=True)
    for src in (root / "data" / "imagenet").rglob("*"):
        dst = bad / "imagenet" / src.relative_to(root / "data" / "imagenet")
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
        else:
            dst.write_bytes(src.read_bytes())
    broken = sorted((bad / "imagenet").rglob("*.JPEG"))[3]
    broken.write_bytes(b"not a JPEG")
    argv = ["--models", models[0], "--benchmarks", "imagenet", *_slurm_args(),
            *_common(tmp_path, tmp_path / "b.csv", data="bad")]
    assert main(argv) == 0
    array = _submitted(capsys)
    _wait("the job to end", lambda: not _squeue(array))
    sweep = SweepDir(tmp_path / "sweeps" / "sweep")
    (key,) = sweep.submissions()
    status = _status(sweep, capsys)
    message = (f"cannot read image {broken}: cannot identify image file '{broken}' "
               "(pass --skip_unreadable to leave unreadable files out and count them)")
    assert status[key] == ("failed", message), status

    # a time limit too short for one condition: refused before anything is submitted
    assert main(["--models", models[0], "--benchmarks", "imagenet", "--executor", "slurm", "--time-limit", "0.01",
                 "--images-per-second", "1", "--name", "short", *_common(root, tmp_path / "c.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than 80% of --time-limit" in err
    assert not (tmp_path / "sweeps" / "short").exists()  # no plan written, nothing submitted

    # auto picks Slurm when sbatch is here ...
    assert main(["--models", models[0], "--benchmarks", "imagenet", "--dry-run", "--name", "auto",
                 *_common(root, tmp_path / "c.csv")]) == 0
    assert "1 to submit (slurm)" in capsys.readouterr().out
    # ... and a controller that does not answer is one line, at once
    dead = tmp_path / "dead.conf"
    dead.write_text("".join("SlurmctldPort=1\n" if x.startswith("SlurmctldPort=") else x + "\n"
                            for x in Path(cluster).read_text().splitlines()))
    monkeypatch.setenv("SLURM_CONF", str(dead))
    t0 = time.monotonic()
    assert main(["--models", models[0], "--benchmarks", "imagenet", "--name", "auto",
                 *_common(root, tmp_path / "c.csv")]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - t0 < 20
    assert err.count("\n") == 1 and err.startswith("error: the Slurm controller does not answer (scontrol ping: "
                                                   "Slurmctld(primary) at ") and f"SLURM_CONF ({dead})" in err, err

"""Sweeps: job sizes computed by hand, job states from every source, a real sweep through
submitit's local executor equal to a direct run, resubmission of only what failed, and the
Slurm path against stand-in sbatch / squeue / sacct commands (tests/test_sweep_slurm.py runs it on a
real cluster).

Models are test-zoo models (tests/fake_zoo.py: TinyNet state dicts named tinynet://PATH); the
jobs of the local executor are real subprocesses that load them through tests/fake_site.
"""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from biasbench import zoo
from biasbench.benchmarks import REGISTRY
from biasbench.benchmarks.adversarial import attack_cost
from biasbench.benchmarks.base import Benchmark, Condition
from biasbench.cli import main as suite_main
from biasbench.data.imagelist import AS_IS, RESIZE_CROP, ImageList
from biasbench.data.imagenet import imagenet_val
from biasbench.data.synsets import imagenet_wnids
from biasbench.errors import ConfigError
from biasbench.results import Record, ResultsStore
from biasbench.results.setup import Setup
from biasbench.sweep import Job, SweepDir, forward_equivalents, job_statuses, main, make_plan

import fake_zoo

WNIDS = imagenet_wnids()


# ----------------------------------------------------------------------------- planning

class _Bench(Benchmark):
    def __init__(self, name, sizes, attack=None, preprocess=AS_IS):
        self.name, self.sizes, self.attack, self.preprocess = name, sizes, attack, preprocess

    def conditions(self):
        out = []
        for k, n in enumerate(self.sizes):
            images = ImageList(f"{self.name}-{k}", Path("/nonexistent"), tuple(f"f{i}.png" for i in range(n)),
                               np.zeros(n, dtype=np.int64), self.preprocess)
            kind, _, steps = (self.attack or "").partition("-")  # "PGD-40": PGD with 40 steps
            cost = attack_cost(kind, int(steps or 40)) if self.attack else 1.0
            out.append(Condition(f"c{k}", images, attack=(lambda *a: None) if self.attack else None, cost=cost))
        return out

    def columns(self, condition, result):
        return {}


def _fp(images):
    return images.name  # a stand-in fingerprint: the list's name


def test_plan_uses_the_fewest_shards_that_fit_the_limit():
    # 5 conditions x 100 images at 10 images/s = 10 s per condition and model; 3 models.
    # Limit 2 min x 0.8 = 96 s: all 5 conditions for 3 models = 150 s > 96; 2 shards: conditions
    # {0,2,4} = 90 s and {1,3} = 60 s, both fit. So one models chunk, shards 0/2 and 1/2.
    jobs = make_plan([_Bench("b", [100] * 5)], ["m1", "m2", "m3"], limit_s=120, images_per_second=10, fingerprint=_fp)
    assert [j.key for j in jobs] == ["b.m00.s0of2", "b.m00.s1of2"]
    assert [j.seconds for j in jobs] == [90.0, 60.0]
    assert jobs[0].cells == (("c0", "b-0"), ("c2", "b-2"), ("c4", "b-4")) and jobs[0].models == ("m1", "m2", "m3")
    assert jobs[1].argv() == ["--model", "m1,m2,m3", "--benchmarks", "b", "--shard", "1/2"]
    assert jobs[0].decoded_lists == ()  # AS_IS lists never use the decoded cache


def test_plan_splits_models_when_one_condition_is_too_long_for_all_of_them():
    # one condition of 300 images at 10/s = 30 s per model; budget 60 x 0.8 = 48 s: one model per job
    # (two would take 60 s), 3 models -> 3 jobs; with --models-per-job the cap holds too.
    jobs = make_plan([_Bench("b", [300], preprocess=RESIZE_CROP)], ["a", "b", "c"], limit_s=60, images_per_second=10,
                     fingerprint=_fp)
    assert [(j.key, j.models, j.seconds) for j in jobs] == [
        ("b.m00.s0of1", ("a",), 30.0), ("b.m01.s0of1", ("b",), 30.0), ("b.m02.s0of1", ("c",), 30.0)]
    assert jobs[0].decoded_lists == ("b-0",) and jobs[0].argv() == ["--model", "a", "--benchmarks", "b"]
    capped = make_plan([_Bench("b", [10])], list("abcde"), limit_s=600, images_per_second=10, fingerprint=_fp,
                       models_per_job=2)
    assert [j.models for j in capped] == [("a", "b"), ("c", "d"), ("e",)]


def test_attack_conditions_cost_their_steps():
    pgd = _Bench("adv", [100], attack="PGD-40").conditions()[0]
    assert forward_equivalents(pgd) == 121  # 40 x (forward + backward = 3 forwards) + the final forward
    assert forward_equivalents(_Bench("f", [1], attack="FGSM").conditions()[0]) == 4
    assert forward_equivalents(_Bench("c", [1]).conditions()[0]) == 1
    # 100 images x 121 / 1000 per s = 12.1 s per model
    (job,) = make_plan([_Bench("adv", [100], attack="PGD-40")], ["m"], limit_s=60, images_per_second=1000,
                       fingerprint=_fp)
    assert job.seconds == pytest.approx(12.1)


def test_plan_refuses_a_condition_longer_than_the_limit():
    with pytest.raises(ConfigError, match=r"condition c1 of b takes about 2\.5 min per model \(1,500 images at "
                                          r"--images-per-second 10\), more than 80% of --time-limit 2 min"):
        make_plan([_Bench("b", [10, 1500])], ["m"], limit_s=120, images_per_second=10, fingerprint=_fp)
    with pytest.raises(ConfigError, match="--images-per-second -1: expected a positive number"):
        make_plan([_Bench("b", [10])], ["m"], limit_s=120, images_per_second=-1, fingerprint=_fp)
    with pytest.raises(ConfigError, match="--time-limit 0: expected a positive number of minutes"):
        make_plan([_Bench("b", [10])], ["m"], limit_s=0, images_per_second=1, fingerprint=_fp)


# ----------------------------------------------------------------------------- job states

def _job(key, models=("m",), cells=(("c", "ab"),)):
    return Job(key, "b", tuple(models), (0, 1), tuple(cells), 1.0)


def _record(model, condition="c", fp="ab", precision="fp32", **setup):
    return Record(model, "b", condition, {"x": 1.0}, 1, fp, precision=precision, **setup)


def test_job_states_from_the_log_the_job_and_the_executor(tmp_path):
    sweep = SweepDir(tmp_path / "s")
    jobs = {k: _job(k, models=(k,)) for k in ("done", "missing", "run", "queue", "failed_job", "failed_slurm",
                                              "killed", "unknown", "other_plan", "finished_but_lost", "local_died")}
    for key in set(jobs) - {"missing"}:
        sub_job = _job(key, models=("someone-else",)) if key == "other_plan" else jobs[key]
        sweep.write_submission(sub_job, "slurm", f"7_{key}")
    sweep.write_run("failed_job", "7_failed_job", "failed", "model x gave NaN/inf logits on batch 3 of imagenet-val")
    sweep.write_run("run", "7_run", "running")
    sweep.write_run("killed", "7_killed", "running")
    sweep.write_run("unknown", "6_old_attempt", "failed", "an earlier attempt's error")  # not this job id
    sweep.write_run("finished_but_lost", "7_finished_but_lost", "finished")
    sweep.write_run("local_died", "7_local_died", "running")  # e.g. SIGKILLed: it never wrote "failed"
    raw = {"run": "RUNNING", "queue": "PENDING", "failed_job": "FAILED", "failed_slurm": "OUT_OF_MEMORY",
           "killed": "CANCELLED by 1234", "unknown": "UNKNOWN", "other_plan": "COMPLETED",
           "finished_but_lost": "COMPLETED", "local_died": "ENDED"}
    asked = []
    done = {("done", "b", "c", "ab"), ("run", "b", "c", "other-fingerprint")}
    statuses = job_statuses(jobs.values(), sweep, done, lambda subs: asked.append(set(subs)) or raw)
    got = {st.job.key: (st.state, st.note) for st in statuses}
    assert asked == [set(jobs) - {"done", "missing"}]  # done jobs are never asked about
    assert got["done"] == ("done", "") and got["missing"] == ("missing", "")
    assert got["run"] == ("running", "") and got["queue"] == ("queued", "")
    assert got["failed_job"] == ("failed", "model x gave NaN/inf logits on batch 3 of imagenet-val")
    assert got["failed_slurm"][0] == "failed" and got["failed_slurm"][1].startswith("OUT_OF_MEMORY; log: ")
    assert got["killed"][0] == "failed" and got["killed"][1].startswith("CANCELLED")
    assert got["unknown"] == ("queued", "state unknown")
    assert got["other_plan"] == ("missing", "")  # ended, and it was another plan's job: submit this one
    assert got["finished_but_lost"][0] == "failed" and "not in the results log" in got["finished_but_lost"][1]
    assert got["local_died"][0] == "failed" and got["local_died"][1].startswith("ended without finishing; log: ")


def test_local_jobs_are_running_while_their_controller_process_lives(tmp_path):
    import socket
    import subprocess
    import sys
    import time

    from biasbench.sweep.executors import raw_states

    here = socket.gethostname()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "submitit-controller"])
    try:
        subs = {"j": {"executor": "local", "host": here, "job_id": str(proc.pid)}}
        assert raw_states(subs) == {"j": "RUNNING"}
        assert raw_states({"j": {**subs["j"], "host": "elsewhere"}}) == {"j": "UNKNOWN"}
        proc.kill()
        time.sleep(0.2)  # a zombie until reaped: ended
        assert raw_states(subs) == {"j": "ENDED"}
    finally:
        proc.kill()
        proc.wait()
    assert raw_states(subs) == {"j": "ENDED"}
    # a live process that is not a submitit controller (the pid was reused) is not the job
    assert raw_states({"j": {"executor": "local", "host": here, "job_id": str(os.getpid())}}) == {"j": "ENDED"}
    assert raw_states({"j": {"executor": "debug", "job_id": "debug-1-0"}}) == {"j": "ENDED"}


def test_done_means_every_model_and_cell_under_the_sweep_setup(tmp_path):
    from biasbench.sweep.state import done_cells as done_in_store
    from biasbench.sweep.state import is_done

    job = _job("j", models=("a", "b"), cells=(("c1", "f1"), ("c2", "f2")))
    stores = iter(range(100))

    def done_cells(records, setups):  # the job's cells a results log holding just ``records`` has
        store = ResultsStore(tmp_path / f"{next(stores)}.csv")
        store.append(records)
        return done_in_store(store, [job], setups)

    recs = [_record("a", "c1", "f1"), _record("a", "c2", "f2"), _record("b", "c1", "f1")]
    ref = {"b": Setup(seed=None)}  # an unseeded benchmark at the reference setup
    assert not is_done(job, done_cells(recs, ref))
    assert not is_done(job, done_cells(recs + [_record("b", "c2", "f2", precision="bf16")], ref))
    assert is_done(job, done_cells(recs + [_record("b", "c2", "f2")], ref))  # its seed 0 made no difference
    # Results of another --n_samples, or of another seed for a seeded benchmark, are not this sweep's.
    assert not is_done(job, done_cells(recs + [_record("b", "c2", "f2")], {"b": Setup(n_samples=4, seed=None)}))
    seeded = [_record(m, c, f, seed=0) for m, c, f in [("a", "c1", "f1"), ("a", "c2", "f2"), ("b", "c1", "f1"),
                                                        ("b", "c2", "f2")]]
    assert is_done(job, done_cells(seeded, {"b": Setup(seed=0)}))
    assert not is_done(job, done_cells(seeded, {"b": Setup(seed=1)}))
    assert not is_done(job, done_cells(seeded, {"other": Setup(seed=0)}))


# ----------------------------------------------------------------------------- end to end

def _write_c(root, corruptions, severities, classes, seed=0):
    rng = np.random.default_rng(seed)
    for c in corruptions:
        for s in severities:
            for y in classes:
                d = root / c / str(s) / WNIDS[y]
                d.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(d / "x.JPEG", quality=90)
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """ImageNet val (4 classes x 2), ImageNet-C (fog, snow x severities 1, 2 x 2 classes x 1), three models."""
    root = tmp_path_factory.mktemp("sweepdata")
    fake_zoo.write_blocky_val(root / "data" / "imagenet", [0, 1, 2, 999], per_class=2)
    _write_c(root / "data" / "imagenet-c", ["fog", "snow"], [1, 2], [1, 999])
    val = imagenet_val(root / "data" / "imagenet", check=False)
    models = [fake_zoo.save_model(fake_zoo.fitted_tinynet(val, seed=s, every=2 + s), root / f"m{s}.pt")
              for s in range(3)]
    return root, models


@pytest.fixture
def test_zoo(monkeypatch):
    monkeypatch.setattr(zoo, "resolve_models", fake_zoo.resolve_models, raising=False)
    monkeypatch.setattr(zoo, "load_model", fake_zoo.load_model, raising=False)
    for key, value in fake_zoo.subprocess_env().items():  # for the jobs' processes; restored afterwards
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)


def _common(root, results):
    return ["--data-root", str(root / "data"), "--check_dataset", "false", "--device", "cpu", "--num_workers", "0",
            "--no-progress", "--batch_size", "3", "--results", str(results),
            "--corruptions", "fog,snow", "--severities", "1,2"]


def _csv(path):
    lines = Path(path).read_text().splitlines()
    header = lines[0].split(",")
    return header, {row.split(",")[0]: dict(zip(header[1:], row.split(",")[1:])) for row in lines[1:]}


@pytest.fixture(scope="module")
def synth_world(tmp_path_factory):
    """The synthetic ImageNet val (4 classes x 2) and ImageNet-C (2 corruptions x 5 severities x 4
    classes x 1), and three small timm checkpoints for the model zoo's file:// loading."""
    from biasbench.synthetic import write_datasets

    root = tmp_path_factory.mktemp("synth")
    write_datasets(root / "data", which=["imagenet", "imagenet-c"], classes=(2, 10, 15, 100), per_class=2,
                   corrupt_per_class=1, c_corruptions=("gaussian_noise", "gaussian_blur"))
    val = imagenet_val(root / "data" / "imagenet", check=False)
    specs = [fake_zoo.fitted_timm_checkpoint(val, root / f"m{s}.pth", seed=s, every=2 + s) for s in range(3)]
    return root, specs


def test_local_sweep_equals_a_direct_run_and_reruns_submit_nothing(tmp_path, synth_world, capsys, monkeypatch):
    """Jobs are real processes (submitit's local executor) loading real file:// checkpoints."""
    root, specs = synth_world
    monkeypatch.setenv("PYTHONPATH", str(fake_zoo.REPO / "code"))  # the jobs import this checkout
    common = ["--data-root", str(root / "data"), "--check_dataset", "false", "--device", "cpu", "--num_workers",
              "0", "--no-progress", "--batch_size", "4", "--corruptions", "gaussian_noise,gaussian_blur",
              "--severities", "1,2"]
    # Direct run of the suite (one process, no sweep) as the reference.
    assert suite_main(list(REGISTRY), ["--model", ",".join(specs), "--benchmarks", "imagenet,imagenet-c",
                                       "--results", str(tmp_path / "direct.csv"), *common], require_data=False) == 0
    # Costs at 0.12 images/s: imagenet 8 images x 3 models = 200 s (fits 10 min x 0.8 = 480 s);
    # imagenet-c = 4 cells (4 images each) + clean (8) = 24 images x 3 = 600 s: two shards,
    # {2 cells, clean} = 400 s and {2 cells} = 200 s. So 3 jobs.
    argv = ["--models", ",".join(specs), "--benchmarks", "imagenet,imagenet-c", "--executor", "local",
            "--array-parallelism", "2", "--time-limit", "10", "--images-per-second", "0.12",
            "--results", str(tmp_path / "sweep" / "benchmark.csv"), *common]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "3 jobs: 3 done, 0 running, 0 queued, 0 failed, 0 missing" in out
    sweep = SweepDir(tmp_path / "sweep" / "sweeps" / "sweep")
    plan = json.loads(sweep.plan_path.read_text())
    assert [j["key"] for j in plan["jobs"]] == ["imagenet.m00.s0of1", "imagenet-c.m00.s0of2", "imagenet-c.m00.s1of2"]
    # conditions in ImageNet-C's order, then clean; every other one per shard
    assert [c for c, _ in plan["jobs"][1]["cells"]] == ["gaussian_noise/1", "gaussian_blur/1", "clean"]
    assert [c for c, _ in plan["jobs"][2]["cells"]] == ["gaussian_noise/2", "gaussian_blur/2"]
    assert plan["models"] == ["m0", "m1", "m2"] and plan["jobs"][0]["specs"] == specs

    header, rows = _csv(tmp_path / "sweep" / "benchmark.csv")
    expected = {"top1_acc/imagenet", "top5_acc/imagenet"} | {
        f"top{k}_acc/{c}_{s}" for k in (1, 5) for c in ("gaussian_noise", "gaussian_blur") for s in (1, 2)}
    assert len(header) == len(set(header)) and set(header) == {"model"} | expected  # every column exactly once
    assert set(rows) == {"m0", "m1", "m2"} and all(v != "" for row in rows.values() for v in row.values())
    _, direct = _csv(tmp_path / "direct.csv")
    assert rows == direct  # same numbers, to the last digit
    accs = {float(direct[m]["top1_acc/imagenet"]) for m in direct}
    assert len(accs) > 1 and all(0 < a < 100 for a in accs)  # the models differ, neither all right nor all wrong

    subs = {k: v["job_id"] for k, v in sweep.submissions().items()}
    assert main(argv) == 0  # the same sweep again: nothing is missing
    assert "nothing to submit: every job is done" in capsys.readouterr().out
    assert {k: v["job_id"] for k, v in sweep.submissions().items()} == subs
    assert main(["--status", "--sweep-dir", str(sweep.path)]) == 0
    assert "3 jobs: 3 done" in capsys.readouterr().out
    # The same sweep on a subset (--n_samples) is another setup: none of its jobs is done yet.
    assert main(argv + ["--n_samples", "2", "--dry-run"]) == 0
    assert "2 jobs: 0 done, 0 running, 0 queued, 0 failed, 2 missing" in capsys.readouterr().out  # fewer images
    assert {name: Setup(**s) for name, s in plan["setups"].items()} == {"imagenet": Setup(seed=None),
                                                                        "imagenet-c": Setup(seed=None)}


def test_debug_sweep_resubmits_only_the_failed_job(tmp_path, world, test_zoo, capsys):
    import torch

    from helpers import TinyNet

    root, models = world
    broken = TinyNet(5)
    with torch.no_grad():
        broken.fc.bias[7] = float("nan")
    bad = fake_zoo.save_model(broken, tmp_path / "bad.pt")
    argv = ["--models", f"{models[0]},{bad}", "--benchmarks", "imagenet", "--executor", "debug", "--models-per-job",
            "1", *_common(root, tmp_path / "b.csv")]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "2 jobs: 1 done, 0 running, 0 queued, 1 failed, 0 missing" in out
    assert f"model {bad} gave NaN/inf logits on batch 0 of imagenet-val" in out
    sweep = SweepDir(tmp_path / "sweeps" / "sweep")
    first = {k: v["job_id"] for k, v in sweep.submissions().items()}
    assert main(["--status", "--sweep-dir", str(sweep.path)]) == 0
    assert "1 failed" in capsys.readouterr().out
    assert not (tmp_path / "b.csv").exists()  # the CSV is derived once everything is done

    torch.save(fake_zoo.fitted_tinynet(imagenet_val(root / "data" / "imagenet", check=False), 5).state_dict(),
               tmp_path / "bad.pt")  # the checkpoint is fixed
    assert main(argv) == 0
    assert "2 jobs: 2 done" in capsys.readouterr().out
    again = {k: v["job_id"] for k, v in sweep.submissions().items()}
    assert again["imagenet.m00.s0of1"] == first["imagenet.m00.s0of1"]  # the done job was not run again
    assert again["imagenet.m01.s0of1"] != first["imagenet.m01.s0of1"]
    _, rows = _csv(tmp_path / "b.csv")
    assert set(rows) == {models[0], bad}


def test_sweep_flags_with_clear_errors(tmp_path, world, test_zoo, capsys):
    root, models = world
    base = ["--models", models[0], "--executor", "debug", *_common(root, tmp_path / "b.csv")]
    cases = [
        (["--category", "adversarial_trainin"] + base[2:], "--category 'adversarial_trainin' is not a model category "
                                                           "(did you mean adversarial_training?)"),
        (base + ["--shard", "0/2"], "--shard is not a sweep flag: the sweep picks the shards"),
        (base + ["--overwrite"], "--overwrite is not a sweep flag"),
        (base + ["--benchmarks", "imagenet,spectal"], "--benchmarks: unknown benchmark 'spectal' (did you mean "
                                                      "spectral?)"),
        (base + ["--benchmarks", "imagenet-sketch"], "imagenet-sketch needs its data: pass --imagenet-sketch"),
        (base + ["--images-per-second", "0"], "--images-per-second 0: expected a positive number"),
        (base + ["--slurm-extra", "account"], "--slurm-extra 'account': expected KEY=VALUE"),
        (base + ["--name", "a/b"], "--name 'a/b': expected a plain name"),
        (base + ["--preprocess", "model"], "--preprocess model is not supported by sweeps yet"),
        (["--status", "--sweep-dir", str(tmp_path / "none")], "no sweep in"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, (argv, err)


# ----------------------------------------------------------------------------- Slurm, with stand-in commands

def _script(path: Path, text: str) -> None:
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_slurm_sweep_submits_an_array_and_reads_squeue_and_sacct(tmp_path, world, test_zoo, monkeypatch, capsys):
    root, models = world
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # sbatch: keep the script, answer with the next job id; sacct: print the states the test wrote.
    _script(bin_dir / "sbatch", f'n=$(cat {tmp_path}/next 2>/dev/null || echo 700)\necho $((n+1)) > {tmp_path}/next\n'
                                f'cp "$1" {tmp_path}/sbatch.$n\necho "Submitted batch job $n"\n')
    _script(bin_dir / "srun", "exit 1\n")  # never run here: submitit only looks for it
    _script(bin_dir / "sacct", f'cat {tmp_path}/states 2>/dev/null\n')
    _script(bin_dir / "squeue", f'cat {tmp_path}/queue 2>/dev/null\n')
    _script(bin_dir / "scontrol", 'echo "Slurmctld(primary) at stand-in is UP"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    argv = ["--models", ",".join(models), "--benchmarks", "imagenet", "--models-per-job", "1", "--partition", "gpu",
            "--gpus-per-job", "2", "--cpus-per-job", "12", "--time-limit", "30", "--array-parallelism", "2",
            "--slurm-extra", "account=abc", "--slurm-setup", "module load cuda", *_common(root, tmp_path / "b.csv")]
    assert main(argv) == 0  # --executor auto finds sbatch
    assert "submitted 3 job(s) (700_0 ...)" in capsys.readouterr().out
    script = (tmp_path / "sbatch.700").read_text()
    for line in ["#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=2", "#SBATCH --cpus-per-task=12",
                 "#SBATCH --time=30", "#SBATCH --array=0-2%2", "#SBATCH --account=abc", "module load cuda"]:
        assert line in script, line
    sweep = SweepDir(tmp_path / "sweeps" / "sweep")
    subs = sweep.submissions()
    assert {k: v["job_id"] for k, v in subs.items()} == {
        "imagenet.m00.s0of1": "700_0", "imagenet.m01.s0of1": "700_1", "imagenet.m02.s0of1": "700_2"}

    # Job 0 ran (its results are in the log), job 1 is running, job 2 hit a node failure; accounting
    # lags behind the queue for job 1 (squeue's word wins while the controller holds a job).
    (tmp_path / "states").write_text("700_0|COMPLETED\n700_1|PENDING\n700_2|NODE_FAIL\n")
    (tmp_path / "queue").write_text("700_1|RUNNING\n")
    assert suite_main(list(REGISTRY), ["--model", models[0], "--benchmarks", "imagenet",
                                       *_common(root, tmp_path / "b.csv")], require_data=False) == 0
    assert main(["--status", "--sweep-dir", str(sweep.path)]) == 0
    out = capsys.readouterr().out
    assert "3 jobs: 1 done, 1 running, 0 queued, 1 failed, 0 missing" in out and "NODE_FAIL" in out
    assert main(argv) == 0  # resubmits only the failed job
    assert "submitted 1 job(s) (701 ...)" in capsys.readouterr().out  # one job: no array
    assert sweep.submission("imagenet.m02.s0of1")["job_id"] == "701"
    assert sweep.submission("imagenet.m01.s0of1")["job_id"] == "700_1"


def test_summaries_missed_by_concurrent_shards_are_added_when_all_are_done(tmp_path, world, test_zoo, capsys,
                                                                           monkeypatch, caplog):
    """Shards that finish at the same moment (on a network file system, each may not see the other's
    results yet) can both skip the benchmark's summary; the sweep adds it once every job is done."""
    from unittest import mock

    from biasbench import runner
    from biasbench.sweep.job import SweepJob

    root, models = world
    real_call = SweepJob.__call__

    def without_summaries(self, job_id=None):
        with mock.patch.object(runner, "add_summaries", lambda *a, **k: []):
            return real_call(self, job_id)

    monkeypatch.setattr(SweepJob, "__call__", without_summaries)
    common = _common(root, tmp_path / "s.csv") + ["--n_samples", "2"]
    argv = ["--models", models[1], "--benchmarks", "spectral", "--executor", "debug", "--time-limit", "0.5",
            "--images-per-second", "1"]  # 23 conditions x 2 images = 46 s > 24 s: 2 shards of 24 and 22 s
    with caplog.at_level("INFO", logger="biasbench"):
        assert main(argv + common) == 0
    assert "2 jobs: 2 done" in capsys.readouterr().out
    assert "every job is done (1 summary record(s) added)" in caplog.text
    assert suite_main(list(REGISTRY), ["--model", models[1], "--benchmarks", "spectral",
                                       *_common(root, tmp_path / "d.csv"), "--n_samples", "2"],
                      require_data=False) == 0
    header, rows = _csv(tmp_path / "s.csv")
    _, direct = _csv(tmp_path / "d.csv")
    assert "metric/bandpass/LPP" in header and "metric/bandpass/HFC/0.5" in header
    assert rows == direct


def test_a_second_sweep_on_the_same_state_folder_stops_with_one_line(tmp_path, world, test_zoo, capsys, monkeypatch):
    """The second submission starts while the first runs its jobs (the debug executor runs them in this
    process): it sees the first one's plan and stops, submitting nothing."""
    from biasbench.sweep import executors

    root, models = world
    argv = ["--models", f"{models[0]},{models[1]}", "--benchmarks", "imagenet", "--executor", "debug",
            "--models-per-job", "1", *_common(root, tmp_path / "b.csv")]
    real_run_debug, second = executors.run_debug, {}

    def first_runs(work, sweep):
        if "rc" in second:  # the second submission got this far: it runs its jobs too
            return real_run_debug(work, sweep)
        second["rc"] = -1
        second["rc"] = main(argv)  # started while the first holds the state folder
        second["err"] = capsys.readouterr().err
        second["subs"] = dict(sweep.submissions())
        real_run_debug(work, sweep)

    monkeypatch.setattr(executors, "run_debug", first_runs)
    assert main(argv) == 0
    assert second["rc"] == 2 and second["subs"] == {}, second
    err = second["err"]
    assert err.count("\n") == 1 and err.startswith("error: sweep 'sweep' ") and "another process" in err
    assert "its plan of 2 job(s)" in err
    assert "2 jobs: 2 done" in capsys.readouterr().out
    sweep = SweepDir(tmp_path / "sweeps" / "sweep")
    assert len(sweep.submissions()) == 2  # the jobs of one plan, once
    assert main(argv) == 0 and "nothing to submit" in capsys.readouterr().out  # the lock is released


def test_slurm_states_prefer_the_queue_then_accounting(tmp_path, monkeypatch):
    """A job the controller holds has the queue's state; one it no longer holds has accounting's final
    state, or ENDED where accounting has none yet (lag) or at all; UNKNOWN only when squeue fails."""
    from biasbench.sweep.executors import raw_states

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("squeue", "sacct"):  # print the file ``name`` (to stderr when it failed), exit with name_rc
        _script(bin_dir / name, f'rc=$(cat {tmp_path}/{name}_rc)\nif [ "$rc" = 0 ]; then cat {tmp_path}/{name}; '
                                f'else cat {tmp_path}/{name} >&2; fi\nexit $rc\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    subs = {k: {"executor": "slurm", "job_id": k} for k in ("9_0", "9_1", "9_2", "9_3", "9_4", "12")}
    (tmp_path / "squeue").write_text("9_0|RUNNING\n9_1|PENDING\n")
    (tmp_path / "squeue_rc").write_text("0")
    # accounting lags: 9_0 still PENDING there, 9_3 RUNNING though it left the queue; 9_4 only in a range
    (tmp_path / "sacct").write_text("9_0|PENDING\n9_2|CANCELLED by 0\n9_3|RUNNING\n9_[1-4%2]|PENDING\n12|COMPLETED\n")
    (tmp_path / "sacct_rc").write_text("0")
    assert raw_states(subs) == {"9_0": "RUNNING", "9_1": "PENDING", "9_2": "CANCELLED by 0",
                                          "9_3": "ENDED", "9_4": "ENDED", "12": "COMPLETED"}
    (tmp_path / "sacct").write_text("sacct: error: Slurm accounting storage is disabled\n")  # no accounting
    (tmp_path / "sacct_rc").write_text("1")
    assert raw_states(subs) == {"9_0": "RUNNING", "9_1": "PENDING", "9_2": "ENDED", "9_3": "ENDED",
                                          "9_4": "ENDED", "12": "ENDED"}
    (tmp_path / "squeue").write_text("slurm_load_jobs error: Invalid job id specified\n")  # none in the queue
    (tmp_path / "squeue_rc").write_text("1")
    assert set(raw_states(subs).values()) == {"ENDED"}
    (tmp_path / "squeue").write_text("slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n")
    assert set(raw_states(subs).values()) == {"UNKNOWN"}

"""Where the jobs of a sweep run: Slurm (submitit job arrays), this machine (submitit's local
executor, a few jobs at a time), or this process (debug: one after another, no submitit).
Also how a submitted job's state is asked for afterwards, from any process (docs/sweeps.md, "A session
on a Slurm cluster")."""

from __future__ import annotations

import logging
import math
import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..flags import comma_list
from .job import SweepJob
from .plan import Job
from .state import SLURM_QUEUED, SLURM_RUNNING, SweepDir

log = logging.getLogger("biasbench")

EXECUTORS = ("auto", "slurm", "local", "debug")
SLURM_ALIVE = SLURM_QUEUED | SLURM_RUNNING
SLURM_TIMEOUT_S = 30.0  # a Slurm command that takes longer is taken as no answer


@dataclass
class ExecutorOptions:
    kind: str = "auto"
    time_limit_min: float = 240.0
    gpus_per_job: int = 1
    cpus_per_job: int | None = None
    mem: str | None = None
    partition: str | None = None
    array_parallelism: int | None = None  # default: Slurm 64; local: the GPUs this machine has / gpus_per_job
    slurm_extra: dict[str, str] = field(default_factory=dict)
    slurm_setup: list[str] = field(default_factory=list)
    poll_s: float = 1.0

    def resolved_kind(self) -> str:
        if self.kind not in EXECUTORS:
            raise ConfigError(f"--executor {self.kind!r}: expected one of {', '.join(EXECUTORS)}")
        if self.kind == "auto":
            return "slurm" if shutil.which("sbatch") and shutil.which("srun") else "local"
        return self.kind


# ----------------------------------------------------------------------------- states

def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) submitit controller on this host."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            return False
        return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X") and b"submitit" in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def raw_states(subs: dict[str, dict]) -> dict[str, str]:
    """Each submitted job's executor state: Slurm's (squeue, then sacct) for Slurm jobs; RUNNING / ENDED
    for local jobs started on this host (UNKNOWN on another); ENDED for debug jobs."""
    out: dict[str, str] = {}
    slurm = {k: s for k, s in subs.items() if s.get("executor") == "slurm"}
    if slurm:
        out.update(_slurm_states(slurm))
    here = socket.gethostname()
    for key, sub in subs.items():
        kind = sub.get("executor")
        if kind == "local":
            if sub.get("host") != here:
                out[key] = "UNKNOWN"
            else:
                try:
                    out[key] = "RUNNING" if _pid_alive(int(sub["job_id"])) else "ENDED"
                except (KeyError, ValueError):
                    out[key] = "ENDED"
        elif kind != "slurm":
            out[key] = "ENDED"
    return out


def _slurm_states(subs: dict[str, dict]) -> dict[str, str]:
    """Each Slurm job's state: the queue's (``squeue``) while the controller holds it, else accounting's
    (``sacct``); a job neither queued nor running and unknown to accounting (none on this cluster, or
    not written yet) has ENDED. UNKNOWN only where the controller cannot be asked."""
    ids = {key: str(sub.get("job_id", "")) for key, sub in subs.items()}
    queue = _squeue(set(ids.values()))
    acct = _sacct(set(ids.values()))
    out = {}
    for key, job_id in ids.items():
        if queue is not None and job_id in queue:
            out[key] = queue[job_id]
        elif acct is not None and acct.get(job_id, "UNKNOWN").split()[0] not in SLURM_ALIVE | {"UNKNOWN"}:
            out[key] = acct[job_id]  # how it ended: COMPLETED, FAILED, CANCELLED by 0, TIMEOUT ...
        else:  # out of the queue: ended (accounting lags, or has none); unknown if the queue cannot be asked
            out[key] = "ENDED" if queue is not None else "UNKNOWN"
    return out


def _slurm_command(argv: list[str], timeout_s: float = SLURM_TIMEOUT_S) -> subprocess.CompletedProcess | str:
    """``argv``'s result, or why it could not run (one line)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        return f"{argv[0]} not found"
    except subprocess.TimeoutExpired:
        return f"`{' '.join(argv[:2])}` did not answer within {timeout_s:g} s"


def _array_ids(job_ids: set[str]) -> str:
    return ",".join(sorted({j.split("_")[0] for j in job_ids if j}))


def _squeue(job_ids: set[str]) -> dict[str, str] | None:
    """{job id: state} of the jobs the controller holds (array tasks one by one: 700_1); None when
    the controller cannot be asked."""
    res = _slurm_command(["squeue", "--noheader", "--array", "--format=%i|%T", f"--jobs={_array_ids(job_ids)}"])
    if isinstance(res, str) or res.returncode != 0:
        why = res if isinstance(res, str) else " ".join(res.stderr.split())
        if "Invalid job id" in why:  # none of them is in the queue any more
            return {}
        log.warning("could not ask Slurm for job states (squeue: %s): they show as unknown", why[:300])
        return None
    out = {}
    for line in res.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        if state:
            out[job_id] = state.strip()
    return out


def _sacct(job_ids: set[str]) -> dict[str, str] | None:
    """{job id: state} from accounting (array tasks one by one; a task named only in a pending range
    such as 700_[2-5%1] is PENDING); None without accounting."""
    res = _slurm_command(["sacct", "--noheader", "--allocations", "--parsable2", "--format=JobID,State",
                          f"--jobs={_array_ids(job_ids)}"])
    if isinstance(res, str) or res.returncode != 0:
        return None
    exact, ranged = {}, {}
    for line in res.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        main, sep, tasks = job_id.partition("_[")
        if not sep:
            exact[job_id] = state
            continue
        for part in comma_list(tasks.split("%")[0].rstrip("]")):
            lo, _, hi = part.partition("-")
            if lo.isdigit():
                for k in range(int(lo), int(hi or lo) + 1):
                    ranged[f"{main}_{k}"] = state
    return {**ranged, **exact}


def check_slurm(timeout_s: float = SLURM_TIMEOUT_S) -> None:
    """ConfigError (one line) unless this machine can submit to a Slurm controller that answers."""
    missing = [c for c in ("sbatch", "srun", "squeue", "scontrol") if not shutil.which(c)]
    if missing:
        raise ConfigError(f"--executor slurm: {', '.join(missing)} not found; run the sweep on a Slurm login node, "
                          "or use --executor local")
    res = _slurm_command(["scontrol", "ping"], timeout_s)
    if isinstance(res, str) or res.returncode != 0 or " is UP" not in res.stdout:
        said = res if isinstance(res, str) else next(
            (line.strip() for line in (res.stdout + res.stderr).splitlines() if line.strip()), f"exit {res.returncode}")
        conf = os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")
        raise ConfigError(f"the Slurm controller does not answer (scontrol ping: {said[:300]}); check that slurmctld "
                          f"runs and SLURM_CONF ({conf}) names it, or pass --executor local")


# ----------------------------------------------------------------------------- submission

def submit_slurm(work: Sequence[tuple[Job, SweepJob]], sweep: SweepDir, opts: ExecutorOptions) -> list[str]:
    """Submit ``work`` as one Slurm job array; returns the job ids."""
    import submitit

    executor = submitit.SlurmExecutor(folder=sweep.logs)
    params = dict(time=max(1, math.ceil(opts.time_limit_min)), nodes=1, ntasks_per_node=1,
                  array_parallelism=opts.array_parallelism or 64, job_name="biasbench-sweep")
    if opts.gpus_per_job:  # --gpus-per-job 0: CPU nodes (no --gpus-per-node, which some sites refuse)
        params["gpus_per_node"] = opts.gpus_per_job
    if opts.partition:
        params["partition"] = opts.partition
    if opts.cpus_per_job:
        params["cpus_per_task"] = opts.cpus_per_job
    if opts.mem:
        params["mem"] = opts.mem
    if opts.slurm_setup:
        params["setup"] = list(opts.slurm_setup)
    if opts.slurm_extra:
        params["additional_parameters"] = dict(opts.slurm_extra)
    executor.update_parameters(**params)
    try:
        with executor.batch():
            handles = [executor.submit(sj) for _, sj in work]
    except Exception as err:  # noqa: BLE001 - sbatch refused (bad partition, limits ...): its own words
        msg = " ".join(str(err).split())
        raise ConfigError(f"sbatch refused the sweep's job array: {msg[:500]}") from None
    ids = []
    for (job, _), handle in zip(work, handles):
        sweep.write_submission(job, "slurm", handle.job_id)
        ids.append(handle.job_id)
    return ids


def _local_gpu_slots(gpus_per_job: int) -> list[tuple[int, ...]]:
    """GPU indices of each parallel slot on this machine (one empty slot without GPUs)."""
    try:
        import torch

        n = torch.cuda.device_count()
    except Exception:  # noqa: BLE001
        n = 0
    if n == 0 or gpus_per_job == 0:
        return [()]
    if gpus_per_job > n:
        raise ConfigError(f"--gpus-per-job {gpus_per_job}: this machine has {n} GPU(s)")
    return [tuple(range(k * gpus_per_job, (k + 1) * gpus_per_job)) for k in range(n // gpus_per_job)]


def _job_visible_devices(gpus: tuple[int, ...]) -> str | None:
    """The CUDA_VISIBLE_DEVICES of a local job on slot ``gpus`` (indices among the GPUs this process
    sees): the parent's own entries (indices, UUIDs or MIG names) when it has the variable set, since
    submitit would write the bare indices, which then name other GPUs; None when it is not set."""
    parent = os.environ.get("CUDA_VISIBLE_DEVICES")
    if parent is None or not gpus:
        return None
    entries = comma_list(parent)
    return ",".join(entries[i] for i in gpus)


def run_local(work: Sequence[tuple[Job, SweepJob]], sweep: SweepDir, opts: ExecutorOptions) -> None:
    """Run ``work`` on this machine through submitit's local executor, ``array_parallelism`` jobs at a
    time (default: one per ``gpus_per_job`` GPUs), each in its own process; returns when all ended."""
    import submitit

    slots = _local_gpu_slots(opts.gpus_per_job)
    parallel = opts.array_parallelism or len(slots)
    executor = submitit.LocalExecutor(folder=sweep.logs)
    pending = list(work)
    running: dict[int, tuple[Job, object]] = {}  # slot -> (job, submitit job)
    try:
        while pending or running:
            for slot in [s for s in range(parallel) if s not in running]:
                if not pending:
                    break
                job, sj = pending.pop(0)
                gpus = slots[slot % len(slots)]
                mapped = _job_visible_devices(gpus)
                executor.update_parameters(timeout_min=opts.time_limit_min, gpus_per_node=len(gpus),
                                           visible_gpus=gpus, setup=[f"export CUDA_VISIBLE_DEVICES={shlex.quote(mapped)}"]
                                           if mapped else [])
                handle = executor.submit(sj)
                sweep.write_submission(job, "local", handle.job_id)
                log.info("started %s (local job %s)", job.key, handle.job_id)
                running[slot] = (job, handle)
            time.sleep(opts.poll_s)
            for slot, (job, handle) in list(running.items()):
                if handle.done():
                    del running[slot]
                    log.info("ended %s (local job %s)", job.key, handle.job_id)
    except KeyboardInterrupt:
        log.warning("%d started job(s) keep running; %d not started", len(running), len(pending))
        raise


def run_debug(work: Sequence[tuple[Job, SweepJob]], sweep: SweepDir) -> None:
    """Run ``work`` in this process, one job after another (a failing job does not stop the rest)."""
    for n, (job, sj) in enumerate(work):
        job_id = f"debug-{os.getpid()}-{n}"
        sweep.write_submission(job, "debug", job_id)
        try:
            sj(job_id=job_id)
        except Exception as err:  # noqa: BLE001 - recorded by the job; the status shows it
            log.error("job %s failed: %s", job.key, str(err).splitlines()[0] if str(err) else type(err).__name__)

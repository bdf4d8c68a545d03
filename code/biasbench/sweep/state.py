"""The sweep folder: the plan, what was submitted, what each job reported, and the status of each job.

Layout of ``<sweep dir>`` (default ``<results folder>/sweeps/<name>/``)::

    plan.json               the jobs of the last submission (written by the submitting process)
    jobs/<key>.sub.json     the latest submission of a job: executor, job id, host, time, the job itself
    jobs/<key>.run.json     written by the job: running / finished / failed (with the error), job id
    logs/                   submitit's pickles and the jobs' stdout/stderr

Every file has one writer at a time and is replaced atomically (temporary file + rename), which
network file systems honour; nothing is locked. A job is *done* when the results log holds every
(model, condition, dataset fingerprint) of it measured under the sweep's setup (precision,
--n_samples, seed, preprocessing: docs/results.md), whatever its job said.
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import files
from ..errors import ConfigError, InputWarning
from ..results import ResultsStore
from ..results.keys import cell_key
from ..results.setup import Setup
from .plan import Job

STATES = ("done", "running", "queued", "failed", "missing")

# Slurm job states (sacct), by what they mean for a job of the sweep.
SLURM_RUNNING = {"RUNNING", "COMPLETING"}
SLURM_QUEUED = {"PENDING", "REQUEUED", "CONFIGURING", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED",
                "RESV_DEL_HOLD", "SIGNALING", "STAGE_OUT"}
SLURM_FAILED = {"FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL",
                "DEADLINE", "REVOKED", "SPECIAL_EXIT"}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_json(path: Path, data: dict) -> None:
    """``files.atomic_write_json`` with the sweep's error message."""
    files.atomic_write_json(path, data, what="sweep state ", error=ConfigError,
                            hint="expected a writable folder (pass --sweep-dir)")


class SweepDir:
    """Reads and writes the state files of one sweep."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser().resolve()
        self.jobs = self.path / "jobs"
        self.logs = self.path / "logs"
        self.plan_path = self.path / "plan.json"

    def _read(self, path: Path) -> dict | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            warnings.warn(f"ignoring damaged sweep state file {path} ({err}); the job counts as never submitted",
                          InputWarning, stacklevel=3)
            return None
        return data if isinstance(data, dict) else None

    def read_plan(self) -> dict | None:
        if not self.plan_path.exists():
            return None
        data = self._read(self.plan_path)
        if data is None or not isinstance(data.get("jobs"), list):
            raise ConfigError(f"sweep plan {self.plan_path} is damaged: submit the sweep again (same flags) "
                              "to rewrite it")
        return data

    def write_plan(self, plan: dict) -> None:
        atomic_write_json(self.plan_path, plan)

    def submission(self, key: str) -> dict | None:
        return self._read(self.jobs / f"{key}.sub.json")

    def submissions(self) -> dict[str, dict]:
        """Every job ever submitted into this folder, by key."""
        if not self.jobs.is_dir():
            return {}
        out = {}
        for p in sorted(self.jobs.glob("*.sub.json")):
            sub = self._read(p)
            if sub is not None:
                out[p.name[:-len(".sub.json")]] = sub
        return out

    def write_submission(self, job: Job, executor: str, job_id: str) -> None:
        atomic_write_json(self.jobs / f"{job.key}.sub.json", {
            "job_id": job_id, "executor": executor, "host": socket.gethostname(), "time": now(),
            "job": job.to_dict()})

    def run_record(self, key: str) -> dict | None:
        return self._read(self.jobs / f"{key}.run.json")

    def write_run(self, key: str, job_id: str, state: str, message: str = "") -> None:
        atomic_write_json(self.jobs / f"{key}.run.json", {
            "job_id": job_id, "state": state, "message": message, "host": socket.gethostname(),
            "pid": os.getpid(), "time": now()})


def done_cells(store: ResultsStore, jobs: Iterable[Job], setups: Mapping[str, Setup]) -> set[tuple[str, str, str, str]]:
    """(model, benchmark, condition, fingerprint) of every cell of ``jobs`` the log holds a result of
    measured under its benchmark's setup in ``setups`` ({benchmark: Setup.of_run(...)}, seed None for
    unseeded ones); a job of a benchmark not in ``setups`` has none."""
    keys = [cell_key(m, job.benchmark, cond, fp, setups[job.benchmark])
            for job in jobs if job.benchmark in setups for m in job.models for cond, fp in job.cells]
    return {(k.model, k.benchmark, k.condition, k.fingerprint) for k in store.newest(keys)}


def plan_setups(plan: dict) -> dict[str, Setup]:
    """{benchmark: setup} a written plan was submitted under."""
    if not isinstance(plan.get("setups"), dict):
        raise ConfigError("sweep plan predates per-setup results (no 'setups'): submit the sweep again "
                          "(same flags) to rewrite it; only the jobs not done are submitted")
    return {name: Setup(**fields) for name, fields in plan["setups"].items()}


def is_done(job: Job, done: set[tuple[str, str, str, str]]) -> bool:
    return all((m, job.benchmark, cond, fp) in done for m in job.models for cond, fp in job.cells)


@dataclass
class JobStatus:
    job: Job
    state: str  # one of STATES
    job_id: str = ""
    note: str = ""


def job_state(sub: dict, run: dict | None, raw: str, log_hint: str = "") -> tuple[str, str]:
    """(state, note) of a submitted job that is not done, from its run record and its executor state."""
    run = run if run and run.get("job_id") == sub.get("job_id") else None
    raw = (raw or "UNKNOWN").split()[0].upper()  # "CANCELLED by 123" -> CANCELLED
    if run and run.get("state") == "failed":
        return "failed", run.get("message") or "failed"
    if raw in SLURM_RUNNING:
        return "running", ""
    if raw in SLURM_QUEUED:
        return "queued", raw.lower() if raw != "PENDING" else ""
    if raw in SLURM_FAILED:
        return "failed", f"{raw}{log_hint}"
    if run and run.get("state") == "finished":
        return "failed", "finished, but some of its results are not in the results log (another --results?)"
    if raw == "UNKNOWN":  # e.g. not in sacct yet, or a local job started on another host
        return ("running", "state unknown") if run else ("queued", "state unknown")
    return "failed", f"ended without finishing{log_hint}"


def job_statuses(jobs: Iterable[Job], sweep: SweepDir, done: set, executor_state: Callable[[dict], Mapping[str, str]],
                 ) -> list[JobStatus]:
    """The status of every job of a plan. ``executor_state({key: submission})`` gives each submitted
    job's raw executor state (Slurm names, or RUNNING / ENDED / UNKNOWN)."""
    jobs = list(jobs)
    subs = {j.key: sweep.submission(j.key) for j in jobs if not is_done(j, done)}
    subs = {k: s for k, s in subs.items() if s is not None}
    raw = executor_state(subs) if subs else {}
    out = []
    for job in jobs:
        if is_done(job, done):
            sub = sweep.submission(job.key)
            out.append(JobStatus(job, "done", (sub or {}).get("job_id", "")))
            continue
        sub = subs.get(job.key)
        if sub is None:
            out.append(JobStatus(job, "missing"))
            continue
        hint = f"; log: {sweep.logs / (str(sub.get('job_id')) + '_0_log.err')}"
        state, note = job_state(sub, sweep.run_record(job.key), raw.get(job.key, "UNKNOWN"), hint)
        if Job.from_dict(sub["job"]) != job:  # submitted by a plan with other models or shards
            if state in ("running", "queued"):
                note = "submitted by an earlier plan of this sweep"
            else:
                state, note = "missing", ""
        out.append(JobStatus(job, state, str(sub.get("job_id", "")), note))
    return out


def summary_line(statuses: list[JobStatus]) -> str:
    counts = {s: 0 for s in STATES}
    for st in statuses:
        counts[st.state] += 1
    return f"{len(statuses)} jobs: " + ", ".join(f"{counts[s]} {s}" for s in STATES)


def format_table(statuses: list[JobStatus]) -> str:
    rows = [("job", "models", "cells", "estimate", "state", "job id", "note")]
    for st in statuses:
        j = st.job
        models = j.models[0] if len(j.models) == 1 else f"{len(j.models)} models"
        rows.append((j.key, models, str(len(j.cells)), f"{j.seconds / 60:.1f} min", st.state, st.job_id, st.note))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows).rstrip()

"""Sweeps: models x benchmarks as jobs on a Slurm cluster (submitit) or on this machine.

    plan.make_plan(benchmarks, models, limit_s=..., images_per_second=..., fingerprint=...) -> [Job]
    main.main(argv) -> exit status               (code/sweep.py)
    state.SweepDir(path), state.job_statuses(...) -> [JobStatus]

A job is (models chunk, benchmark, condition shard i/n) and runs the suite's own command line
in-process; results go to the shared append-only log (one shard file per process), so jobs
need no lock. The sweep folder holds the plan and each job's submission and outcome.
"""

from .job import SweepJob
from .main import main
from .plan import Job, forward_equivalents, make_plan, plan_benchmark
from .state import STATES, JobStatus, SweepDir, job_statuses

__all__ = ["STATES", "Job", "JobStatus", "SweepDir", "SweepJob", "forward_equivalents", "job_statuses", "main",
           "make_plan", "plan_benchmark"]

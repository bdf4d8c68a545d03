"""What runs inside one job of a sweep: the suite's own command line, in-process.

A ``SweepJob`` is pickled by submitit and called on the compute node (or called directly by the
debug executor). It runs the front door (``suite.evaluate``) on its ``Request``: the user's flags plus
the job's models, benchmark and shard, made into a request when the sweep was submitted (``argv``
keeps them as text, for the log), appending to the shared results log (one shard file per process, no
lock) without deriving the CSV, and reports running / finished / failed in the sweep folder.
On a Slurm time-out or preemption submitit calls ``checkpoint`` and requeues the job; the runner
then skips what the log already holds.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from .. import suite
from ..errors import UserError
from .state import SweepDir


class JobFailed(Exception):
    """A job stopped on a user error (its message is the suite's one-line error)."""


def _current_job_id() -> str:
    try:
        import submitit

        return str(submitit.JobEnvironment().job_id)
    except RuntimeError:  # not inside a submitit job
        return f"direct-{os.getpid()}"


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}" if not isinstance(err, UserError) else " ".join(text)


@dataclass
class SweepJob:
    sweep_dir: str
    key: str
    cwd: str  # where the sweep was submitted: relative paths in argv are relative to it
    argv: list[str] = field(default_factory=list)  # the suite's flags for exactly this job, as text
    request: suite.Request | None = None  # the same, as the front door takes them

    def __call__(self, job_id: str | None = None) -> str:
        job_id = job_id or _current_job_id()
        self._requeued = False
        sweep = SweepDir(self.sweep_dir)
        sweep.write_run(self.key, job_id, "running")
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        logging.getLogger("biasbench").setLevel(logging.INFO)  # also when submitit configured logging first
        logging.getLogger("biasbench").info("sweep job %s (%s): %s", self.key, job_id, " ".join(self.argv))
        try:
            os.chdir(self.cwd)
            suite.evaluate(self.request)
        except UserError as err:
            sweep.write_run(self.key, job_id, "failed", _one_line(err))
            raise JobFailed(f"{self.key}: {err}") from None
        except BaseException as err:  # noqa: BLE001 - recorded, then re-raised for submitit's log
            if not (isinstance(err, SystemExit) and getattr(self, "_requeued", False)):
                sweep.write_run(self.key, job_id, "failed", _one_line(err))
            raise
        sweep.write_run(self.key, job_id, "finished")
        return "finished"

    def checkpoint(self, *args, **kwargs):
        """Called by submitit before a time-out or preemption: requeue the same job (it resumes)."""
        from submitit.helpers import DelayedSubmission

        self._requeued = True  # the exit that follows is not a failure
        SweepDir(self.sweep_dir).write_run(self.key, _current_job_id(), "requeued")
        return DelayedSubmission(self)

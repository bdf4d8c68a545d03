"""``code/sweep.py``: models x benchmarks as jobs on Slurm or on this machine, and their status.

    python code/sweep.py --category adversarial_training --benchmarks imagenet,imagenet-c \\
        --data-root /data --executor slurm --partition gpu --time-limit 120 --images-per-second 800
    python code/sweep.py --status            # done / running / queued / failed / missing per job
    python code/sweep.py ...same flags...    # submits only what is missing or failed

Every flag of ``run_suite.py`` (data, batch size, precision, --results ...) is passed to the jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .. import suite
from ..benchmarks import REGISTRY
from ..cli import make_parser, to_request
from ..data.decoded_cache import DecodedCache
from ..data.imagelist import ImageList
from ..errors import ConfigError, UserError, did_you_mean, exit_status
from ..flags import OneLineErrors
from ..results import ResultsStore
from ..results.setup import Setup
from ..runner import Fingerprints, RunOptions, finish
from . import executors as ex
from .job import SweepJob
from .plan import Job, make_plan
from .state import (
    SweepDir,
    atomic_write_json,
    done_cells,
    format_table,
    job_state,
    job_statuses,
    now,
    plan_setups,
    summary_line,
)

log = logging.getLogger("biasbench")

# Flags of the suite that the sweep sets itself for each job.
_OWN_FLAGS = {"--shard": "the sweep picks the shards",
              "--overwrite": "a sweep never redoes what the log holds; write to a new --results instead",
              "--no-csv": "jobs never write the CSV; the sweep derives it",
              "--decoded-cache-readonly": "the sweep decides which job fills the decoded cache"}


def _parser(prog: str = "biasbench sweep") -> argparse.ArgumentParser:
    p = OneLineErrors(
        prog=prog, allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Any other flag is a flag of run_suite.py (see python code/run_suite.py --help) and goes to every job.")
    which = p.add_argument_group("what to run")
    pick = which.add_mutually_exclusive_group()
    pick.add_argument("--models", "--model", help="model names, comma-separated (registry names, categories, file://PATH)")
    pick.add_argument("--category", help="every model of one category (e.g. adversarial_training)")
    pick.add_argument("--all", action="store_true", help="every model of the registry")
    which.add_argument("--benchmarks", help=f"comma-separated subset of: {', '.join(REGISTRY)} "
                                            "(default: every benchmark whose data is given)")
    which.add_argument("--name", default="sweep", help="name of the sweep (its state folder)")
    which.add_argument("--sweep-dir", help="state folder (default: <results folder>/sweeps/<name>)")
    which.add_argument("--status", action="store_true", help="show what is done, running, failed and missing")
    which.add_argument("--dry-run", action="store_true", help="show the jobs that would be submitted, submit nothing")
    size = p.add_argument_group("job sizes")
    size.add_argument("--time-limit", type=float, default=240.0, help="minutes per job (Slurm --time)")
    size.add_argument("--images-per-second", type=float, default=400.0,
                      help="one model's throughput on one job's GPU (forward passes of single images per second; "
                           "the runner logs it); job lengths are estimated from it")
    size.add_argument("--models-per-job", type=int, default=None,
                      help="at most this many models per job (default: as many as fit the time limit)")
    size.add_argument("--headroom", type=float, default=0.8, help="plan jobs to this share of --time-limit")
    where = p.add_argument_group("where jobs run")
    where.add_argument("--executor", default="auto", choices=ex.EXECUTORS,
                       help="slurm (job arrays through submitit), local (this machine, submitit's local executor), "
                            "debug (this process, one job after another); auto: slurm when sbatch exists")
    where.add_argument("--partition", help="Slurm partition")
    where.add_argument("--gpus-per-job", type=int, default=1)
    where.add_argument("--cpus-per-job", type=int, default=None, help="Slurm --cpus-per-task (decode workers)")
    where.add_argument("--mem", default=None, help="Slurm --mem, e.g. 64G")
    where.add_argument("--array-parallelism", type=int, default=None,
                       help="jobs running at once (Slurm default 64; local default: GPUs / --gpus-per-job)")
    where.add_argument("--slurm-extra", action="append", default=[], metavar="KEY=VALUE",
                       help="any other sbatch option, e.g. account=abc or qos=high (repeatable)")
    where.add_argument("--slurm-setup", action="append", default=[], metavar="LINE",
                       help="shell line run before each job, e.g. 'module load cuda' (repeatable)")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "biasbench sweep") -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sargs, rest = _parser(prog).parse_known_args(argv)
    try:
        for token in rest:
            flag = token.split("=", 1)[0]
            if flag in _OWN_FLAGS or flag.replace("_", "-") in _OWN_FLAGS:
                raise ConfigError(f"{flag} is not a sweep flag: {_OWN_FLAGS.get(flag.replace('_', '-'))}")
        return status(sargs, rest) if sargs.status else submit(sargs, rest)
    except UserError as err:
        return exit_status(err)
    except KeyboardInterrupt:
        print("interrupted: jobs already started keep running; run the same command again to start the rest",
              file=sys.stderr)
        return 130


# ----------------------------------------------------------------------------- helpers

def _resolve_models(sargs) -> tuple[list[str], dict[str, str]]:
    """The models named by --models, --category or --all, and how a job names each on its command line:
    a local checkpoint by its file:// spec (its recorded name, the file's stem, means nothing to another
    process), every other model by its name."""
    from .. import zoo
    from ..zoo.paper_models import PAPER_CATEGORIES

    local = zoo.LocalModels()
    if sargs.category:
        if sargs.category not in PAPER_CATEGORIES:
            hint = did_you_mean(sargs.category, PAPER_CATEGORIES)
            raise ConfigError(f"--category {sargs.category!r} is not a model category{hint}; "
                              f"categories: {', '.join(PAPER_CATEGORIES)}")
        models = zoo.resolve_models(sargs.category, local)
    elif sargs.models:
        models = zoo.resolve_models(sargs.models, local)
    elif sargs.all:
        models = zoo.resolve_models("all", local)
    else:
        raise ConfigError("name the models: --models NAMES, --category C or --all")
    return models, {m: local.spec_of(m) for m in models}


def _request(rest: list[str], models: Sequence[str], benchmarks: str | None, explicit: bool) -> suite.Request:
    """The suite's request of ``rest`` (run_suite.py's flags) for ``models`` on ``benchmarks`` (default:
    every benchmark whose data is given; ``explicit``: those must have it)."""
    extra = ["--model", ",".join(models)] + (["--benchmarks", benchmarks] if benchmarks else [])
    return _parse_request(list(rest) + extra, require_data=explicit)


def _parse_request(argv: list[str], require_data: bool) -> suite.Request:
    parser = make_parser(list(REGISTRY), require_data=False, prog="sweep.py (run_suite.py flags)")
    return to_request(parser.parse_args(argv), list(REGISTRY), require_data=require_data)


def _sweep_dir(sargs, results: str) -> SweepDir:
    if sargs.sweep_dir:
        return SweepDir(sargs.sweep_dir)
    if any(c in sargs.name for c in "/\\") or sargs.name in ("", ".", ".."):
        raise ConfigError(f"--name {sargs.name!r}: expected a plain name (letters, digits, - and _)")
    return SweepDir(Path(results).expanduser().resolve().parent / "sweeps" / sargs.name)


def _executor_options(sargs) -> ex.ExecutorOptions:
    extra = {}
    for item in sargs.slurm_extra:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--slurm-extra {item!r}: expected KEY=VALUE, e.g. account=abc")
        extra[key.strip().replace("-", "_")] = value
    if sargs.gpus_per_job < 0 or (sargs.array_parallelism is not None and sargs.array_parallelism < 1):
        raise ConfigError("--gpus-per-job must be >= 0 and --array-parallelism >= 1")
    if not 0 < sargs.headroom <= 1:
        raise ConfigError(f"--headroom {sargs.headroom:g}: expected a share in (0, 1]")
    return ex.ExecutorOptions(kind=sargs.executor, time_limit_min=sargs.time_limit, gpus_per_job=sargs.gpus_per_job,
                              cpus_per_job=sargs.cpus_per_job, mem=sargs.mem, partition=sargs.partition,
                              array_parallelism=sargs.array_parallelism, slurm_extra=extra,
                              slurm_setup=list(sargs.slurm_setup))


def _export_code_path() -> None:
    """Jobs unpickle their work by importing biasbench: let them import this very copy."""
    import biasbench

    code = str(Path(biasbench.__file__).resolve().parents[1])
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if code not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([code, *parts])


def _statuses(jobs: list[Job], sweep: SweepDir, store, setups: dict[str, Setup]):
    done = done_cells(store, jobs, setups)
    return job_statuses(jobs, sweep, done, ex.raw_states)


def _log_signature(store) -> list:
    try:
        return sorted([e.name, e.stat().st_size] for e in os.scandir(store.log_dir) if e.name.endswith(".jsonl"))
    except FileNotFoundError:
        return []


def _finalize(sweep: SweepDir, built: list, models: Sequence[str], store, opts) -> None:
    """Once every job is done, what the end of a run does (``runner.finish``): add summaries a
    concurrent finish may have missed, derive the CSV (jobs never do), the benchmarks' other outputs.
    Once per state of the log."""
    marker = sweep.path / "finalized.json"
    signature = _log_signature(store)
    try:
        if json.loads(marker.read_text()).get("log") == signature and store.csv_path.exists():
            return
    except (OSError, ValueError, AttributeError):
        pass
    added = finish(built, models, store, replace(opts, write_csv=True))
    atomic_write_json(marker, {"time": now(), "log": _log_signature(store)})
    log.info("every job is done%s; results: %s", f" ({len(added)} summary record(s) added)" if added else "",
             store.csv_path.resolve())


def _cache_roles(work: list[Job], running: list[Job], built: list, opts, kind: str, fingerprint) -> dict[str, bool]:
    """Which jobs may write the decoded cache: on Slurm one job per incomplete cache (a memory-mapped
    file must not be filled from several machines at once); the others read it only once complete."""
    if kind != "slurm" or not opts.decoded_cache:
        return {}
    lists: dict[str, ImageList] = {}
    for bench in built:
        for cond in bench.conditions():
            lists.setdefault(fingerprint(cond.images), cond.images)
    busy = {fp for job in running for fp in job.decoded_lists}
    filler: dict[str, str] = {}
    for job in work:
        for fp in job.decoded_lists:
            if fp not in filler and fp not in busy and fp in lists \
                    and not DecodedCache(lists[fp], opts.decoded_cache).is_complete():
                filler[fp] = job.key
    fills = set(filler.values())
    return {job.key: job.key in fills for job in work}


# ----------------------------------------------------------------------------- submitting

@dataclass
class _Submission:
    """What one submission of a sweep works from: its flags, the benchmarks built from the suite's
    flags, the planned jobs, the sweep folder and the results store."""

    sargs: argparse.Namespace
    rest: list[str]  # the suite's flags, passed to every job
    models: list[str]
    request: suite.Request  # the suite's flags as a request
    opts: RunOptions
    built: list
    exec_opts: ex.ExecutorOptions
    kind: str  # the executor: slurm, local or debug
    fingerprint: Fingerprints  # shared by the planner and the decoded-cache roles
    jobs: list[Job]
    sweep: SweepDir
    store: ResultsStore
    setups: dict[str, Setup]  # {benchmark: the setup its results are measured under}

    def statuses(self) -> list:
        return _statuses(self.jobs, self.sweep, self.store, self.setups)


def _plan(sargs, rest: list[str]) -> _Submission:
    """The models, the benchmarks and the jobs of this submission (nothing is written)."""
    models, specs = _resolve_models(sargs)
    request = _request(rest, models, sargs.benchmarks, explicit=bool(sargs.benchmarks))
    exec_opts = _executor_options(sargs)
    kind = exec_opts.resolved_kind()
    if kind == "slurm":  # before anything asks the scheduler: a dead controller is one line, not a hang
        ex.check_slurm()
    built = suite.build_benchmarks(request)
    opts = request.options
    if opts.preprocess != "paper":  # the plan and its done check read the paper's image lists only
        raise ConfigError("--preprocess model is not supported by sweeps yet (each model has its own image lists); "
                          "run run_suite.py --preprocess model")
    fingerprint = Fingerprints()
    jobs = make_plan(built, models, limit_s=sargs.time_limit * 60, images_per_second=sargs.images_per_second,
                     fingerprint=fingerprint, models_per_job=sargs.models_per_job, headroom=sargs.headroom,
                     specs=specs)
    sweep = _sweep_dir(sargs, request.results)
    return _Submission(sargs, list(rest), models, request, opts, built, exec_opts, kind, fingerprint, jobs, sweep,
                       ResultsStore(request.results), {b.name: Setup.of_run(opts, b.seeded) for b in built})


def _check_no_earlier_plan_running(sub: _Submission, statuses: list) -> None:
    """ConfigError while jobs of an earlier plan of this sweep, which split the work differently, are
    still running or queued (their results would be planned twice)."""
    keys = {j.key for j in sub.jobs}
    stray = {k: s for k, s in sub.sweep.submissions().items() if k not in keys}
    stray_raw = ex.raw_states(stray) if stray else {}
    busy_stray = [k for k, s in stray.items()
                  if job_state(s, sub.sweep.run_record(k), stray_raw.get(k, "UNKNOWN"))[0] in ("running", "queued")]
    busy_old = [st.job.key for st in statuses if st.note == "submitted by an earlier plan of this sweep"]
    if busy_stray or busy_old:
        raise ConfigError(
            f"sweep {sub.sargs.name!r} ({sub.sweep.path}) still has job(s) of an earlier plan running or queued "
            f"(e.g. {(busy_stray + busy_old)[0]}), and this plan splits the work differently: wait for them "
            "(sweep.py --status), cancel them, or pass another --name")


def _write_plan(sub: _Submission) -> None:
    sargs = sub.sargs
    sub.sweep.write_plan({
        "version": 1, "name": sargs.name, "time": now(), "cwd": os.getcwd(), "argv": sub.rest,
        "results": str(Path(sub.request.results).expanduser().resolve()), "precision": sub.opts.precision,
        "setups": {name: asdict(setup) for name, setup in sub.setups.items()}, "models": list(sub.models),
        "benchmarks": [b.name for b in sub.built], "executor": sub.kind,
        "time_limit_min": sargs.time_limit, "images_per_second": sargs.images_per_second,
        "jobs": [j.to_dict() for j in sub.jobs]})


def _submit_jobs(sub: _Submission, work: list[Job], running: list[Job]) -> int:
    """Start ``work`` on the executor; Slurm returns at once, local and debug jobs are waited for."""
    fills = _cache_roles(work, running, sub.built, sub.opts, sub.kind, sub.fingerprint)
    pairs = []
    for job in work:
        argv = sub.rest + job.argv() + ["--no-csv"]
        if fills and not fills[job.key]:
            argv.append("--decoded-cache-readonly")
        job_request = _parse_request(argv, require_data=False)  # what the job runs, checked here
        pairs.append((job, SweepJob(str(sub.sweep.path), job.key, os.getcwd(), argv, job_request)))
    _export_code_path()
    if sub.kind == "slurm":
        ids = ex.submit_slurm(pairs, sub.sweep, sub.exec_opts)
        print(f"submitted {len(ids)} job(s) ({ids[0]} ...); follow them with: python code/sweep.py --status "
              f"--sweep-dir {sub.sweep.path}")
        return 0
    if sub.kind == "local":
        ex.run_local(pairs, sub.sweep, sub.exec_opts)
    else:
        ex.run_debug(pairs, sub.sweep)
    return _after_jobs_ended(sub)


def _after_jobs_ended(sub: _Submission) -> int:
    """The status of every job once the local or debug jobs ended; the sweep finalised when all are done."""
    statuses = sub.statuses()
    print(format_table(statuses))
    print(summary_line(statuses))
    if all(st.state == "done" for st in statuses):
        _finalize(sub.sweep, sub.built, sub.models, sub.store, sub.opts)
        return 0
    print("some jobs did not finish: fix what their notes say and run the same command again")
    return 1


# ----------------------------------------------------------------------------- commands

@contextlib.contextmanager
def _only_submitter(sub: _Submission):
    """Held while this process writes the plan and submits (and, for local and debug jobs, waits for them):
    a second submission into the same state folder stops with one line naming the first one's plan, instead
    of planning the same work again (docs/troubleshooting.md)."""
    from filelock import FileLock, Timeout

    sub.sweep.path.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(sub.sweep.path / ".submit.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        plan = sub.sweep.read_plan() or {}
        what = (f"its plan of {len(plan['jobs'])} job(s) written {plan.get('time', '?')}" if plan.get("jobs")
                else "its plan is not written yet")
        raise ConfigError(f"sweep {sub.sargs.name!r} ({sub.sweep.path}) is being submitted by another process "
                          f"({what}): follow it with sweep.py --status --sweep-dir {sub.sweep.path} and run this "
                          "command again once it has returned, or pass another --name") from None
    try:
        yield
    finally:
        lock.release()


def submit(sargs, rest: list[str]) -> int:
    """Plan the jobs and check them against earlier plans; then show them (--dry-run), or write the
    plan and submit what is missing or failed; finalise the sweep once every job is done."""
    sub = _plan(sargs, rest)
    if sargs.dry_run:
        return _submit(sub)
    with _only_submitter(sub):
        return _submit(sub)


def _submit(sub: _Submission) -> int:
    sargs = sub.sargs
    statuses = sub.statuses()
    _check_no_earlier_plan_running(sub, statuses)
    work = [st.job for st in statuses if st.state in ("missing", "failed")]
    running = [st.job for st in statuses if st.state in ("running", "queued")]
    print(f"sweep {sargs.name!r}: {len(sub.models)} model(s) x {len(sub.built)} benchmark(s) -> "
          f"{summary_line(statuses)}; {len(work)} to submit ({sub.kind})")
    if sargs.dry_run:  # the plan, nothing written
        print(format_table(statuses))
        return 0
    _write_plan(sub)
    if not work:
        if not running:
            _finalize(sub.sweep, sub.built, sub.models, sub.store, sub.opts)
        print("nothing to submit" + (f": {len(running)} job(s) still running or queued" if running else
                                     ": every job is done"))
        return 0
    return _submit_jobs(sub, work, running)


def status(sargs, rest: list[str]) -> int:
    sweep = SweepDir(sargs.sweep_dir) if sargs.sweep_dir else None
    if sweep is None:
        sweep = _sweep_dir(sargs, _request(rest, ["-"], None, explicit=False).results)
    plan = sweep.read_plan()
    if plan is None:
        raise ConfigError(f"no sweep in {sweep.path} (no plan.json): submit it first, or pass its --name / "
                          "--sweep-dir (and --results when it is not raw-data/benchmark.csv)")
    jobs = [Job.from_dict(j) for j in plan["jobs"]]
    store = ResultsStore(plan["results"])
    statuses = _statuses(jobs, sweep, store, plan_setups(plan))
    print(f"sweep {plan['name']!r} ({sweep.path}), submitted {plan['time']} to {plan['executor']}")
    print(format_table(statuses))
    print(summary_line(statuses))
    if statuses and all(st.state == "done" for st in statuses):
        _finalize_from_plan(plan, sweep, store)
    return 0


def _finalize_from_plan(plan: dict, sweep: SweepDir, store) -> None:
    here = os.getcwd()
    try:
        os.chdir(plan["cwd"])  # the stored flags hold paths relative to where the sweep was submitted
        request = _request(plan["argv"], plan["models"], ",".join(plan["benchmarks"]), explicit=True)
        _finalize(sweep, suite.build_benchmarks(request), plan["models"], store, request.options)
    finally:
        os.chdir(here)

"""The ``biasbench`` command (installed by pip; also ``python -m biasbench``): every user task is a
subcommand, each one line in ``SUBCOMMANDS`` naming the function it calls (docs/running.md).

    biasbench run spectral --model tv_resnet50 --imagenet /data/imagenet   # one benchmark (= code/eval_*.py)
    biasbench suite --model paper48 --data-root /data                      # every benchmark with data
    biasbench <sub> --help                                                 # the flags of one subcommand
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from .benchmarks import REGISTRY


@dataclass(frozen=True)
class Subcommand:
    name: str
    target: str  # module:function, called as function(argv, prog=...) -> exit status
    summary: str
    script: str = ""  # the code/ script that is the same command, for the authors' command lines

    def __call__(self, argv: Sequence[str]) -> int:
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)(list(argv), prog=f"biasbench {self.name}")


SUBCOMMANDS: dict[str, Subcommand] = {s.name: s for s in [
    Subcommand("run", "biasbench.command:run", "one benchmark: run BENCHMARK --model M [flags]", "eval_*.py"),
    Subcommand("suite", "biasbench.command:run_suite", "every benchmark whose data is given, in one run",
               "run_suite.py"),
    Subcommand("prepare", "biasbench.prepare.run:main", "download, verify, arrange and check the datasets",
               "prepare_data.py"),
    Subcommand("prefetch", "biasbench.zoo.prefetch:main", "fill the checkpoint cache ahead of time", "prefetch.py"),
    Subcommand("sweep", "biasbench.sweep.main:main", "models x benchmarks as jobs on Slurm or this machine",
               "sweep.py"),
    Subcommand("results", "biasbench.results.__main__:main",
               "rebuild the results table from its log, show it, export per-image decisions"),
    Subcommand("analyze", "biasbench.analysis.cli:main", "correlations, ranks and the paper's figures",
               "analyze.py"),
    Subcommand("intervals", "biasbench.analysis.image_bootstrap:main",
               "confidence intervals over images from the stored decisions"),
    Subcommand("consistency", "biasbench.analysis.error_consistency:main",
               "error consistency between models from the stored decisions"),
    Subcommand("benchmarks", "biasbench.benchmarks.listing:main", "each benchmark's data, flags and columns"),
    Subcommand("models", "biasbench.command:models", "the model registry, cached or not"),
    Subcommand("demo", "biasbench.demo:main", "synthetic data, a demo model, every benchmark (make demo)",
               "demo.py"),
    Subcommand("synthetic", "biasbench.synthetic.datasets:main", "write small synthetic datasets in the real layouts"),
]}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [__doc__.split("\n\n", 1)[1].rstrip(), "", "subcommands:"]
    for s in SUBCOMMANDS.values():
        lines.append(f"  {s.name.ljust(width)}  {s.summary}" + (f" (= code/{s.script})" if s.script else ""))
    return "\n".join(lines)


def run(argv: Sequence[str], prog: str = "biasbench run") -> int:
    """``biasbench run BENCHMARK [flags]``: one benchmark, the same as its ``code/eval_*.py``."""
    from .cli import main as cli_main

    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: {prog} BENCHMARK --model M [flags]   ({prog} BENCHMARK --help: its flags)\n"
              f"benchmarks: {', '.join(REGISTRY)}")
        return 0
    if not argv or argv[0] not in REGISTRY:
        got = repr(argv[0]) if argv else "nothing"
        print(f"error: biasbench run takes a benchmark first, one of {', '.join(REGISTRY)}; got {got}",
              file=sys.stderr)
        return 2
    return cli_main([argv[0]], argv[1:], description=f"biasbench run {argv[0]}", prog=f"{prog} {argv[0]}")


def run_suite(argv: Sequence[str], prog: str = "biasbench suite") -> int:
    """``biasbench suite [flags]``: every benchmark whose data is given (``--benchmarks`` narrows it)."""
    from .cli import main as cli_main

    return cli_main(list(REGISTRY), argv, description="every benchmark whose data is given", require_data=False,
                    prog=prog)


def models_table(category: str | None = None, cache_dir=None) -> list[tuple[str, str, str]]:
    """(name, category, cached) of each registry model; cached is yes, no, partly (some of several files) or - (nothing to download)."""
    from .zoo import download, list_models
    from .zoo.loader import get_entry

    root = download.cache_root(cache_dir)
    rows = []
    for name in list_models(category):
        files = [s for s in get_entry(name).sources if s.has_file]
        have = sum((root / download.relpath(s)).is_file() for s in files)
        state = "-" if not files else "yes" if have == len(files) else "partly" if have else "no"
        rows.append((name, get_entry(name).category, state))
    return rows


def models(argv: Sequence[str], prog: str = "biasbench models") -> int:
    """``biasbench models [--category C] [--cache-dir DIR]``: the registry, each model cached or not."""
    from .errors import UserError, exit_status
    from .flags import OneLineErrors

    p = OneLineErrors(prog=prog, description="the model registry (checkpoints.md)")
    p.add_argument("--category", default=None)
    p.add_argument("--cache-dir", "--cache_dir", default=None)
    args = p.parse_args(argv)
    try:
        rows = models_table(args.category, args.cache_dir)
    except UserError as e:
        return exit_status(e)
    _print([("model", "category", "cached"), *rows])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    sub = SUBCOMMANDS.get(argv[0])
    if sub is None:
        print(f"error: unknown subcommand {argv[0]!r}; expected one of {', '.join(SUBCOMMANDS)} (biasbench --help)",
              file=sys.stderr)
        return 2
    return sub(argv[1:])


def _print(rows) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())

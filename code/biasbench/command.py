"""The ``biasbench`` command (installed by pip; also ``python -m biasbench``), thin over ``cli``:

    biasbench run spectral --model tv_resnet50 --imagenet /data/imagenet   # one benchmark (= code/eval_*.py)
    biasbench suite --model paper48 --data-root /data                      # every benchmark with data
    biasbench analyze --results raw-data/benchmark.csv --paper-results     # = code/analyze.py
    biasbench models [--category C] [--cache-dir DIR]                      # the registry, cached or not
    biasbench benchmarks                                                   # each benchmark's data and columns
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .benchmarks import REGISTRY
from .cli import OneLineErrors, main as cli_main

USAGE = __doc__.split("\n\n", 1)[1]


def models_table(category: str | None = None, cache_dir=None) -> list[tuple[str, str, str]]:
    """(name, category, cached) of each registry model and open_clip tag; cached is yes, no, partly (some of several files) or - (nothing to download)."""
    from .zoo import download, list_models, open_clip_models
    from .zoo.loader import get_entry

    root = download.cache_root(cache_dir)
    rows = []
    for name in ([] if category == open_clip_models.CATEGORY else list_models(category)):
        files = [s for s in get_entry(name).sources if s.has_file]
        have = sum((root / download.relpath(s)).is_file() for s in files)
        state = "-" if not files else "yes" if have == len(files) else "partly" if have else "no"
        rows.append((name, get_entry(name).category, state))
    if category in (None, open_clip_models.CATEGORY):  # the open_clip tags this open_clip version knows
        rows += [(name, open_clip_models.CATEGORY, "yes" if any((root / download.relpath(s)).is_file() for s in files)
                  else "no") for name, files in open_clip_models.listing()]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        if not rest or rest[0] not in REGISTRY:
            got = repr(rest[0]) if rest else "nothing"
            print(f"error: biasbench run takes a benchmark first, one of {', '.join(REGISTRY)}; got {got}",
                  file=sys.stderr)
            return 2
        return cli_main([rest[0]], rest[1:], description=f"biasbench run {rest[0]}")
    if cmd == "suite":
        return cli_main(list(REGISTRY), rest, description="every benchmark whose data is given", require_data=False)
    if cmd == "analyze":
        from .analysis.cli import main as analyze_main

        return analyze_main(rest, prog="biasbench analyze")
    if cmd == "models":
        p = OneLineErrors(prog="biasbench models", description="the model registry (checkpoints.md)")
        p.add_argument("--category", default=None)
        p.add_argument("--cache-dir", "--cache_dir", default=None)
        args = p.parse_args(rest)
        from .errors import UserError, exit_status

        try:
            rows = models_table(args.category, args.cache_dir)
        except UserError as e:
            return exit_status(e)
        _print([("model", "category", "cached"), *rows])
        return 0
    if cmd == "benchmarks":
        from .benchmarks.listing import main as listing_main

        return listing_main(rest, prog="biasbench benchmarks")
    print(f"error: unknown subcommand {cmd!r}; expected run, suite, analyze, models or benchmarks (biasbench --help)",
          file=sys.stderr)
    return 2


def _print(rows) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())

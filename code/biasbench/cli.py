"""The command line of an evaluation: the argparse parser and the flags-to-request conversion; the
work is ``biasbench.suite``'s (docs/architecture.md "The front door").

Flags keep the reference scripts' names (``--model --device --batch_size
--imagenet --num_workers --wandb --seed``); dashed spellings are accepted too. The benchmarks'
own flags come from their declared options (``OPTIONS`` of each benchmark module).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence

from . import flag_conventions, suite
from .benchmarks import options_of
from .device import PRECISIONS
from .errors import UserError, exit_status, one_line_warnings
from .flags import OneLineErrors, bool_flag, parse_shard, str2bool

log = logging.getLogger("biasbench")

MODEL_HELP = ("model name(s), comma-separated: registry names (see checkpoints.md), a category "
              "(e.g. adversarial_training), 'paper48' for the paper's 48, or file://PATH.pth for a local "
              "ResNet-50 state dict, timm:<name>[.<tag>] for a pretrained timm model, hf-hub:<org>/<repo> for a "
              "Hugging Face repo timm can build, "
              "torchvision:<builder>.<WEIGHTS> (e.g. torchvision:resnet50.IMAGENET1K_V2), open_clip:<ARCH>/<PRETRAINED> or "
              "open_clip:hf-hub:<org>/<repo> for a zero-shot image-text model. Several models share "
              "every data pass.")

# Every flag of the reference scripts (docs/running.md "The authors' command lines"). A script that does not
# use one still accepts it, so the authors' command lines run unchanged, and says it has no effect there.
REFERENCE_FLAGS = ("--model", "--device", "--batch_size", "--imagenet", "--dataset_path", "--num_workers",
                   "--wandb", "--wandb_resume", "--seed", "--n_samples", "--fgsm", "--pgd", "--aa", "--eps",
                   "--corruptions", "--severities")
REFERENCE_BOOLEANS = ("--wandb", "--wandb_resume", "--fgsm", "--pgd", "--aa")
# Those every evaluation's parser has (build_parser); the others are benchmark options.
RUN_REFERENCE_FLAGS = ("--model", "--device", "--batch_size", "--num_workers", "--wandb", "--wandb_resume", "--seed",
                       "--n_samples")


class SuiteParser(OneLineErrors):
    """The parser of the evaluation entry points: timm's spellings are resolved as part of parsing
    (``flag_conventions.resolve``), so every caller of ``parse_args`` sees the suite's flags."""

    def parse_known_args(self, args=None, namespace=None):
        parsed, rest = super().parse_known_args(args, namespace)
        return flag_conventions.resolve(parsed, self), rest


def default_workers() -> int:
    """Decode workers: the reference's 4, at most the CPUs this process may use (torch warns above that)."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, cpus)


def build_parser(benchmarks: Sequence[str], description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The run's own flags, then every option the benchmarks ``benchmarks`` declare, then timm's spellings."""
    p = SuiteParser(prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                    epilog="Also accepted, so the reference scripts' command lines run unchanged: "
                           + ", ".join(REFERENCE_FLAGS) + " (a flag a script does not use is noted as having no "
                           "effect). timm's -b, -j/--workers, --results-file, --amp, --pretrained and --checkpoint "
                           "mean what they mean there (docs/running.md).")
    spell = flag_conventions.SPELLINGS
    p.add_argument("--model", *spell["--model"], default=None, help=MODEL_HELP)
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--batch_size", "--batch-size", *spell["--batch_size"], type=int, default=64)
    p.add_argument("--num_workers", "--num-workers", *spell["--num_workers"], type=int, default=default_workers(),
                   help="DataLoader decode workers (default: 4, at most this machine's CPUs)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random transform and attack")
    p.add_argument("--results", *spell["--results"], default="raw-data/benchmark.csv",
                   help="results table; its append-only log lives beside it in <name>.log/")
    p.add_argument("--check_dataset", "--check-dataset", type=str2bool, default=True,
                   help="check class and image counts of each dataset; false for deliberate subsets")
    p.add_argument("--n_samples", "--n-samples", type=int, default=None,
                   help="evaluate a deterministic class-balanced subset of N images")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 is the paper's protocol; the others are faster, with measured deviations (docs/devices.md)")
    p.add_argument("--preprocess", choices=("paper", "model"), default="paper",
                   help="paper: every model fed 224x224 after Resize(256)/CenterCrop(224), bilinear (the paper's "
                        "protocol); model: each timm/torchvision model its own resize, crop and interpolation "
                        "(recorded as another setup; docs/models.md)")
    p.add_argument("--prompts", default=None, metavar="openai|simple|FILE",
                   help="zero-shot (open_clip:) models' prompt templates: openai (OpenAI's 80, the default), simple "
                        "('a photo of a {}.') or a file with one template per line, each with {} (recorded as "
                        "another setup; docs/models.md)")
    p.add_argument("--classnames", default=None, metavar="FILE",
                   help="zero-shot models' class names: a file of 1000 lines in ImageNet class order (default: "
                        "open_clip's)")
    p.add_argument("--channels_last", "--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile every model")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic kernels (no cuDNN autotuning): repeatable GPU runs and attacks, slower")
    p.add_argument("--models_per_pass", "--models-per-pass", type=int, default=None,
                   help="models loaded at once per data pass (default: all requested)")
    p.add_argument("--overwrite", action="store_true", help="re-evaluate conditions the results log already holds")
    p.add_argument("--skip_unreadable", "--skip-unreadable", action="store_true",
                   help="leave unreadable images out (counted and reported) instead of stopping")
    p.add_argument("--shard", type=parse_shard, default=None, help="i/n: evaluate every n-th condition from i")
    p.add_argument("--data-root", "--data_root", default=None,
                   help="folder holding the datasets under their default names (see docs/datasets.md)")
    p.add_argument("--decoded_cache", "--decoded-cache", default="auto",
                   help="where ImageNet-style datasets are kept decoded (uint8, 7.5 GB for ImageNet val), shared "
                        "by every benchmark, model and run: auto = <cache-dir>/decoded, a folder, or off")
    p.add_argument("--cache-dir", "--cache_dir", default=None, help="checkpoint cache (default $BIASBENCH_CACHE)")
    p.add_argument("--offline", action="store_true", help="never touch the network; fail naming missing files")
    p.add_argument("--trust-checkpoint", "--trust_checkpoint", action="store_true",
                   help="allow checkpoints whose pickles hold objects beyond the safe allow-list")
    bool_flag(p.add_argument, "--wandb", help="also log results to Weights & Biases (pip install wandb)")
    bool_flag(p.add_argument, "--wandb_resume", "--wandb-resume",
              help="accepted for the reference's command lines; each model's values are logged as a new W&B run")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--decoded-cache-readonly", "--decoded_cache_readonly", action="store_true",
                   help="use the decoded cache only when it is complete and never write it (for jobs on several "
                        "machines sharing one cache folder)")
    p.add_argument("--no-csv", "--no_csv", dest="write_csv", action="store_false",
                   help="append results to the log only; derive the CSV later (biasbench results rebuild)")
    for option in options_of(benchmarks):
        option.add_to(p)
    flag_conventions.add_timm_flags(p)
    return p


def make_parser(benchmarks: Sequence[str], description: str = "", *, require_data: bool = True,
                aliases: Mapping[str, str] | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of an entry point over ``benchmarks`` (``--benchmarks`` too unless ``require_data``).

    ``aliases`` maps extra flag names of one entry point to suite flags (e.g. the reference
    script's ``--dataset_path`` to ``--imagenet-c``)."""
    parser = build_parser(benchmarks, description, prog)
    options = options_of(benchmarks)
    for alias, flag in (aliases or {}).items():
        target = next(o for o in options if flag in o.flags)
        parser.add_argument(alias, dest=target.dest, metavar=target.metavar, default=argparse.SUPPRESS,
                            help=f"same as {flag}")
    present = set(RUN_REFERENCE_FLAGS) | set(aliases or ()) | {f for o in options for f in (*o.flags, *o.switches)}
    for flag in REFERENCE_FLAGS:
        if flag not in present:
            kind = dict(type=str2bool, nargs="?", const=True) if flag in REFERENCE_BOOLEANS else {}
            # accepted so the reference's command lines run unchanged; named in the epilog, not listed as options
            parser.add_argument(flag, dest=f"unused_{flag.lstrip('-')}", default=None, **kind, help=argparse.SUPPRESS)
    if require_data:
        parser.set_defaults(benchmarks=None)  # a script's own benchmarks, all of them
    else:
        parser.add_argument("--benchmarks", default=None,
                            help=f"comma-separated subset of: {', '.join(benchmarks)} (default: all with data)")
    return parser


def main(benchmarks: Sequence[str], argv: Sequence[str] | None = None, *, description: str = "",
         require_data: bool = True, aliases: Mapping[str, str] | None = None, prog: str | None = None) -> int:
    """Parse flags, build ``benchmarks`` from them, run, print the results. Exit status 2 on user errors."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = make_parser(benchmarks, description, require_data=require_data, aliases=aliases, prog=prog)
    args = parser.parse_args(argv)
    if args.pretrained:
        log.info("note: --pretrained has no effect: every model is evaluated with its released weights")
    for name, value in sorted(vars(args).items()):
        if name.startswith("unused_") and value not in (None, False):
            log.info("note: --%s has no effect in this script (accepted for the reference's command lines)",
                     name[len("unused_"):])
    try:
        with one_line_warnings():  # a damaged log line: "warning: ...", as in `python -m biasbench.results`
            return execute(args, benchmarks, require_data)
    except UserError as e:
        return exit_status(e)
    except KeyboardInterrupt:
        print("interrupted: every finished pass is in the results log; rerun the same command to resume",
              file=sys.stderr)
        return 130


def to_request(args: argparse.Namespace, benchmarks: Sequence[str], require_data: bool) -> suite.Request:
    """The request that parsed flags ``args`` make: ``benchmarks`` narrowed by ``--benchmarks``; named
    benchmarks (a script's own, or --benchmarks) must find their data, the rest are skipped without."""
    names = list(benchmarks)
    if args.benchmarks:
        names = suite.select_benchmarks(args.benchmarks, names)
    settings = {k: v for k, v in vars(args).items() if not k.startswith("unused_")}
    return suite.make_request(args.model, names, settings, require_data=require_data,
                              explicit=bool(args.benchmarks))


def execute(args: argparse.Namespace, benchmarks: Sequence[str], require_data: bool) -> int:
    """Run what parsed ``args`` ask for (``suite.evaluate``). Raises UserError (``main`` prints it)."""
    return suite.evaluate(to_request(args, benchmarks, require_data))

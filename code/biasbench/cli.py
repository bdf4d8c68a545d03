"""Command-line flags shared by every entry point, and the one ``main`` they all call.

Flags keep the reference scripts' names (``--model --device --batch_size
--imagenet --num_workers --wandb --seed``); dashed spellings are accepted too.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

from .benchmarks import REGISTRY, Config, Datasets
from .errors import ConfigError, UserError, did_you_mean, exit_status
from .runner import PRECISIONS, RunOptions, run

log = logging.getLogger("biasbench")

MODEL_HELP = ("model name(s), comma-separated: registry names (see checkpoints.md), a category "
              "(e.g. adversarial_training), 'paper48' for the paper's 48, or file://PATH.pth for a local "
              "ResNet-50 state dict, timm:<name>[.<tag>] for a pretrained timm model, hf-hub:<org>/<repo> for a "
              "Hugging Face repo timm can build, "
              "torchvision:<builder>.<WEIGHTS> (e.g. torchvision:resnet50.IMAGENET1K_V2), open_clip:<ARCH>/<PRETRAINED> or "
              "open_clip:hf-hub:<org>/<repo> for a zero-shot image-text model. Several models share "
              "every data pass.")


def str2bool(text: str) -> bool:
    """The reference scripts' string booleans (yes/true/t/y/1, no/false/f/n/0, any case), plus on/off."""
    low = str(text).lower()
    if low in ("1", "true", "t", "yes", "y", "on"):
        return True
    if low in ("0", "false", "f", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def bool_flag(add, *names: str, help: str) -> None:
    """A boolean flag taken bare (``--pgd``) or with the reference's string value (``--pgd True``)."""
    add(*names, type=str2bool, nargs="?", const=True, default=False, metavar="BOOL", help=help)


# Every flag of the reference scripts (README "Running on real data"). A script that does not use one
# still accepts it, so the authors' command lines run unchanged, and says it has no effect there.
REFERENCE_FLAGS = ("--model", "--device", "--batch_size", "--imagenet", "--dataset_path", "--num_workers",
                   "--wandb", "--wandb_resume", "--seed", "--n_samples", "--fgsm", "--pgd", "--aa", "--eps",
                   "--corruptions", "--severities")
REFERENCE_BOOLEANS = ("--wandb", "--wandb_resume", "--fgsm", "--pgd", "--aa")


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/n such as 0/4, got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"--shard {text}: need 0 <= i < n")
    return i, n


class _Flags:
    """Adds each flag once (several benchmarks share --imagenet) and remembers the
    folder name under --data-root where a dataset flag's default lives."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser
        self.seen: set[str] = set()
        self.subdirs: dict[str, str] = {}

    def __call__(self, *names: str, subdir: str | None = None, **kwargs) -> None:
        if names[0] in self.seen:
            return
        self.seen.add(names[0])
        action = self.parser.add_argument(*names, **kwargs)
        if subdir:
            self.subdirs[action.dest] = subdir


class OneLineErrors(argparse.ArgumentParser):
    """A flag error is one line, not the usage of every flag (that is what --help is for)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser(benchmarks: Sequence[str], description: str) -> tuple[argparse.ArgumentParser, _Flags]:
    p = OneLineErrors(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--batch_size", "--batch-size", type=int, default=64)
    p.add_argument("--num_workers", "--num-workers", type=int, default=4, help="DataLoader decode workers")
    p.add_argument("--seed", type=int, default=0, help="seed of every random transform and attack")
    p.add_argument("--results", default="raw-data/benchmark.csv",
                   help="results table; its append-only log lives beside it in <name>.log/")
    p.add_argument("--check_dataset", "--check-dataset", type=str2bool, default=True,
                   help="check class and image counts of each dataset; false for deliberate subsets")
    p.add_argument("--n_samples", "--n-samples", type=int, default=None,
                   help="evaluate a deterministic class-balanced subset of N images")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 is the paper's protocol; the others are faster, with measured deviations (README)")
    p.add_argument("--preprocess", choices=("paper", "model"), default="paper",
                   help="paper: every model fed 224x224 after Resize(256)/CenterCrop(224), bilinear (the paper's "
                        "protocol); model: each timm/torchvision model its own resize, crop and interpolation "
                        "(recorded as another setup; README 'Any model')")
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
                   help="folder holding the datasets under their default names (see README)")
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
                   help="append results to the log only; derive the CSV later (python -m biasbench.results rebuild)")
    flags = _Flags(p)
    for name in benchmarks:
        REGISTRY[name].load().add_arguments(p, flags)
    return p, flags


def _data_folders(args, flags: _Flags) -> dict[str, str]:
    """Each dataset flag's folder: as given, else its default folder under --data-root where that exists."""
    given = {dest: vars(args)[dest] for dest in flags.subdirs}
    if not args.data_root:
        return given
    root = Path(args.data_root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"--data-root {root} is not a folder")
    return {dest: str(root / flags.subdirs[dest]) if value is None and (root / flags.subdirs[dest]).exists()
            else value for dest, value in given.items()}


def make_parser(benchmarks: Sequence[str], description: str = "", *, require_data: bool = True,
                aliases: Mapping[str, str] | None = None) -> tuple[argparse.ArgumentParser, _Flags]:
    """The parser of an entry point over ``benchmarks`` (``--benchmarks`` too unless ``require_data``).

    ``aliases`` maps extra flag names of one entry point to suite flags (e.g. the reference
    script's ``--dataset_path`` to ``--imagenet-c``)."""
    parser, flags = build_parser(benchmarks, description)
    for alias, flag in (aliases or {}).items():
        target = parser._option_string_actions[flag]
        parser.add_argument(alias, dest=target.dest, metavar=target.metavar, default=argparse.SUPPRESS,
                            help=f"same as {flag}")
    for flag in REFERENCE_FLAGS:
        if flag not in parser._option_string_actions:
            kind = dict(type=str2bool, nargs="?", const=True) if flag in REFERENCE_BOOLEANS else {}
            parser.add_argument(flag, dest=f"unused_{flag.lstrip('-')}", default=None, **kind,
                                help="a reference-script flag that has no effect in this script (accepted so its "
                                     "command lines run unchanged)")
    if require_data:
        parser.set_defaults(benchmarks=None)  # a script's own benchmarks, all of them
    else:
        parser.add_argument("--benchmarks", default=None,
                            help=f"comma-separated subset of: {', '.join(benchmarks)} (default: all with data)")
    return parser, flags


def main(benchmarks: Sequence[str], argv: Sequence[str] | None = None, *, description: str = "",
         require_data: bool = True, aliases: Mapping[str, str] | None = None) -> int:
    """Parse flags, build ``benchmarks`` from them, run, print the results. Exit status 2 on user errors."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser, flags = make_parser(benchmarks, description, require_data=require_data, aliases=aliases)
    args = parser.parse_args(argv)
    for name, value in sorted(vars(args).items()):
        if name.startswith("unused_") and value not in (None, False):
            log.info("note: --%s has no effect in this script (accepted for the reference's command lines)",
                     name[len("unused_"):])
    try:
        return execute(args, flags, benchmarks, require_data)
    except UserError as e:
        return exit_status(e)
    except KeyboardInterrupt:
        print("interrupted: every finished pass is in the results log; rerun the same command to resume",
              file=sys.stderr)
        return 130


def execute(args, flags: _Flags, benchmarks: Sequence[str], require_data: bool) -> int:
    """Run what parsed ``args`` ask for: resolve the models (a misspelt name is found before any
    dataset is read), build the benchmarks, run them, report. Raises UserError (``main`` prints it)."""
    from . import zoo
    from .results import ResultsStore
    from .zoo.open_clip_models import check_input_size

    start = time.perf_counter()
    local = zoo.LocalModels()  # the file:// checkpoints --model names
    models = zoo.resolve_models(args.model, local)
    prompts = prompt_set_of(args, models)
    check_input_size(models, args.preprocess)
    built = build_benchmarks(args, flags, benchmarks, require_data)
    store = ResultsStore(args.results)
    load = partial(_load_model, local=local, cache_dir=args.cache_dir, offline=args.offline or None,
                   trust_checkpoint=args.trust_checkpoint, prompts=prompts)
    written = run(built, models, store, run_options(args), load=load, shard=args.shard)
    _report(written, store, args, time.perf_counter() - start)
    return 0


def prompt_set_of(args, models: Sequence[str], zero_shot: Sequence[str] | None = None):
    """The zero-shot models' ``PromptSet`` from ``--prompts``/``--classnames`` (read and checked now, before any
    data); a non-default set with a model that is not zero-shot (``zero_shot``: the names that are; default the
    ``open_clip:`` ones) is an error, since its results would be recorded under a prompt set it never used."""
    from .zoo.open_clip_models import is_open_clip
    from .zoo.zero_shot import prompt_set

    prompts = prompt_set(args.prompts, args.classnames)
    if prompts.label is not None:
        zero_shot = [m for m in models if is_open_clip(m)] if zero_shot is None else zero_shot
        others = [m for m in models if m not in zero_shot]
        if others:
            raise ConfigError(f"--prompts/--classnames set the prompts of zero-shot models (open_clip:...); "
                              f"{', '.join(others[:3])} is not one: run it in a command of its own")
    return prompts


def select_benchmarks(text: str, available: Sequence[str]) -> list[str]:
    chosen = [b.strip() for b in text.split(",") if b.strip()]
    for b in chosen:
        if b not in available:
            hint = did_you_mean(b, available) or f"; available: {', '.join(available)}"
            raise ConfigError(f"--benchmarks: unknown benchmark {b!r}{hint}")
    return chosen


def benchmark_config(args, flags: _Flags, names: Sequence[str], require_data: bool) -> Config:
    """The typed config the benchmarks are built from, made once from parsed flags (``args`` is not changed)."""
    if args.batch_size < 1 or args.num_workers < 0:
        raise ConfigError("--batch_size must be >= 1 and --num_workers >= 0")
    if args.n_samples is not None and args.n_samples < 1:
        raise ConfigError(f"--n_samples {args.n_samples}: expected a positive number of images")
    # Named benchmarks (a script's own, or --benchmarks) must find their data; the rest are skipped without.
    asked = names if require_data or args.benchmarks else ()
    return Config.from_flags(vars(args) | _data_folders(args, flags), asked=asked)


def build_benchmarks(args, flags: _Flags, names: Sequence[str], require_data: bool) -> list:
    """The benchmarks ``names`` (narrowed by ``--benchmarks``) built from parsed flags (reads and checks
    their datasets); a benchmark without its data is an error when ``require_data``, else skipped."""
    if args.benchmarks:
        names = select_benchmarks(args.benchmarks, names)
    config = benchmark_config(args, flags, names, require_data)
    datasets = Datasets(config)
    built = []
    for name in names:
        spec = REGISTRY[name]
        bench = spec.build(config, datasets)
        if bench is None:
            if require_data:
                raise ConfigError(f"{name} needs its data: pass {spec.data_flag} (or --data-root)")
            log.info("skipping %s: no data given (%s)", name, spec.data_flag)
            continue
        built.append(bench)
    if not built:
        raise ConfigError("no benchmark has its data: pass the dataset flags or --data-root (see --help)")
    return built


def run_options(args) -> RunOptions:
    """The runner's options from parsed flags."""
    return RunOptions(
        device=args.device, batch_size=args.batch_size, num_workers=args.num_workers, precision=args.precision,
        channels_last=args.channels_last, compile=args.compile, seed=args.seed, n_samples=args.n_samples,
        overwrite=args.overwrite, preprocess=args.preprocess, prompts=_prompts_label(args),
        models_per_pass=args.models_per_pass, skip_unreadable=args.skip_unreadable, progress=args.progress,
        decoded_cache=_decoded_cache_dir(args), decoded_cache_readonly=args.decoded_cache_readonly,
        write_csv=args.write_csv, deterministic=args.deterministic,
    )


def _prompts_label(args) -> str | None:
    """The setup's prompt-set label (None: the default; the files are read only when given)."""
    if args.prompts in (None, "", "openai") and not args.classnames:
        return None
    from .zoo.zero_shot import prompt_set

    return prompt_set(args.prompts, args.classnames).label


def _decoded_cache_dir(args) -> str | None:
    from .paths import cache_dir

    if args.decoded_cache in ("off", "none", ""):
        return None
    if args.decoded_cache == "auto":
        return str(cache_dir(args.cache_dir) / "decoded")
    return args.decoded_cache


def _load_model(name, device, *, local, cache_dir, offline, trust_checkpoint, prompts=None):
    from . import zoo

    return zoo.load_model(name, device, local=local, cache_dir=cache_dir, offline=offline,
                          trust_checkpoint=trust_checkpoint, prompts=prompts)


def headline_columns() -> list[str]:
    """The paper's headline columns: the generalization aggregates' inputs and the bias scores."""
    from .analysis.aggregates import AGGREGATES, BIASES
    from .benchmarks.spectral import PREFERENCES, preference_column

    # the bias scores as the benchmarks write them: LPP/HPP are their own columns there
    biases = [c for b, cols in BIASES.items() for c in ((preference_column(b),) if b in PREFERENCES else cols)]
    return [c for cols in AGGREGATES.values() for c in cols] + biases


def _report(written: dict[str, dict[str, float]], store, args, seconds: float | None = None) -> None:
    """A short summary: each model's headline columns written by this run, where the full table is, the time."""
    headline = headline_columns()
    for model, values in written.items():
        shown = [c for c in headline if c in values]
        more = len(values) - len(shown)
        print(f"{model}: " + (", ".join(f"{c} = {values[c]:.4g}" for c in shown) or "no headline column")
              + (f" (+{more} more column(s) in the table)" if more else ""))
    if args.wandb:
        try:
            import wandb
        except ImportError:
            raise ConfigError("--wandb needs the wandb package: pip install wandb") from None
        for model, values in written.items():
            with wandb.init(project="biasbench", name=model, config=vars(args) | {"model": model}, reinit=True) as r:
                r.log(values)
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    print(f"done{took}; full table: {Path(store.csv_path).resolve()} "
          f"(`python -m biasbench.results show --results {store.csv_path}` lists every model and setup)")

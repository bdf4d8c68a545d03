"""The front door: select and build benchmarks, load models, run, report, from one typed ``Request``.

Everything that evaluates goes through here: the command line (``biasbench.cli`` turns flags into a
``Request``), ``biasbench.evaluate`` (keywords into a ``Request``) and the jobs of a sweep (which
carry their ``Request``). No argparse below this line (docs/architecture.md "The front door").

A ``Request`` holds the benchmarks' ``Config`` and the runner's ``RunOptions``, made together by
``make_request`` from one mapping of settings, so the values both carry (the seed and the subset
size: ``Config`` reads them to build datasets and noise, ``RunOptions`` labels the records with
them) have one source; a request whose two disagree is refused.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .benchmarks import REGISTRY, Config, Datasets, options_of
from .benchmarks.config import CORE
from .errors import ConfigError, did_you_mean
from .flags import comma_list, flag_dest
from .runner import RunOptions
from .runner import run as run_benchmarks

log = logging.getLogger("biasbench")

DEFAULT_RESULTS = "raw-data/benchmark.csv"
# Settings of a request beyond the Config and RunOptions fields, with their defaults.
EXTRA_SETTINGS = {"results": DEFAULT_RESULTS, "shard": None, "trust_checkpoint": False, "wandb": False,
                  "wandb_resume": False, "decoded_cache": "auto", "classnames": None}


@dataclass(frozen=True)
class Request:
    """One evaluation: which models on which benchmarks, built from ``config``, run with ``options``."""

    models: str  # names, categories, paper48 or file:// specs, comma-separated (zoo.resolve_models)
    benchmarks: tuple[str, ...]
    config: Config
    options: RunOptions
    results: str = DEFAULT_RESULTS
    require_data: bool = True  # a benchmark without its data is an error (else skipped)
    shard: tuple[int, int] | None = None
    trust_checkpoint: bool = False
    wandb: bool = False
    prompts: str | None = None  # zero-shot models' templates as given: openai, simple or a file (docs/models.md)
    classnames: str | None = None  # zero-shot models' class-name file (default: open_clip's)

    def __post_init__(self):
        for name in ("seed", "n_samples"):
            if getattr(self.config, name) != getattr(self.options, name):
                raise ConfigError(f"request: Config.{name} = {getattr(self.config, name)!r} but RunOptions.{name} = "
                                  f"{getattr(self.options, name)!r}; build both with biasbench.suite.make_request")

    def settings(self) -> dict[str, Any]:
        """Every setting of the request by name (what W&B records with each run)."""
        return {**dataclasses.asdict(self.config), **dataclasses.asdict(self.options), "models": self.models,
                "benchmarks": list(self.benchmarks), "results": self.results, "shard": self.shard}


def setting_names(benchmarks: Iterable[str] | None = None) -> dict[str, str]:
    """Every name a setting answers to as a Python keyword (``batch_size``, ``imagenet_c``, ``pgd``, ...)
    -> the name it is looked up by; the declared options of ``benchmarks`` (default: all) included."""
    names = {f.name: f.name for f in dataclasses.fields(RunOptions)}
    names |= {name: name for name, _, _ in CORE if name != "asked"} | {k: k for k in EXTRA_SETTINGS}
    for option in options_of(benchmarks):
        names |= {n: n if n in {flag_dest(f) for f in option.switches} else option.dest for n in option.names()}
    return names


def select_benchmarks(chosen: str | Sequence[str], available: Sequence[str]) -> list[str]:
    """``chosen`` (a comma list or names), each checked against ``available``."""
    names = comma_list(chosen)
    for b in names:
        if b not in available:
            hint = did_you_mean(b, available) or f"; available: {', '.join(available)}"
            raise ConfigError(f"--benchmarks: unknown benchmark {b!r}{hint}")
    return names


def _decoded_cache_dir(value: str | None, cache_dir: str | None) -> str | None:
    from .paths import cache_dir as default_cache_dir

    if value in (None, "off", "none", ""):
        return None
    if value == "auto":
        return str(default_cache_dir(cache_dir) / "decoded")
    return str(value)


def make_request(models: str, benchmarks: Sequence[str], settings: Mapping[str, Any], *, require_data: bool = True,
                 explicit: bool = False) -> Request:
    """The request of ``models`` on ``benchmarks`` from ``settings`` (parsed flags by destination, or
    Python keywords; absent or None: the default), Config and RunOptions from the same values.

    ``require_data``: every benchmark must find its data; else those without are skipped, except
    when ``explicit`` (the user named them with --benchmarks)."""
    values = {**EXTRA_SETTINGS, **{k: v for k, v in settings.items() if v is not None}}
    run_fields = {f.name for f in dataclasses.fields(RunOptions)}
    options = RunOptions(**{k: v for k, v in values.items() if k in run_fields and k not in ("decoded_cache", "prompts")},
                         decoded_cache=_decoded_cache_dir(values["decoded_cache"], values.get("cache_dir")),
                         prompts=_prompts_label(values.get("prompts"), values["classnames"]))
    asked = benchmarks if require_data or explicit else ()
    config = Config.from_values({**values, "seed": options.seed, "n_samples": options.n_samples,
                                 "progress": options.progress}, asked=asked)
    return Request(models=models, benchmarks=tuple(benchmarks), config=config, options=options,
                   results=str(values["results"]), require_data=require_data, shard=values["shard"],
                   trust_checkpoint=bool(values["trust_checkpoint"]), wandb=bool(values["wandb"]),
                   prompts=values.get("prompts"), classnames=values["classnames"])


def _prompts_label(prompts: str | None, classnames: str | None) -> str | None:
    """The setup's prompt-set label (None: the default; the files are read only when given)."""
    if prompts in (None, "", "openai") and not classnames:
        return None
    from .zoo.zero_shot import prompt_set

    return prompt_set(prompts, classnames).label


def prompt_set_of(request: Request, models: Sequence[str], zero_shot: Sequence[str] | None = None):
    """The zero-shot models' ``PromptSet`` from ``--prompts``/``--classnames`` (read and checked now, before any
    data); a non-default set with a model that is not zero-shot (``zero_shot``: the names that are; default the
    ``open_clip:`` ones) is an error, since its results would be recorded under a prompt set it never used."""
    from .zoo.open_clip_models import is_open_clip
    from .zoo.zero_shot import prompt_set

    prompts = prompt_set(request.prompts, request.classnames)
    if prompts.label is not None:
        zero_shot = [m for m in models if is_open_clip(m)] if zero_shot is None else zero_shot
        others = [m for m in models if m not in zero_shot]
        if others:
            raise ConfigError(f"--prompts/--classnames set the prompts of zero-shot models (open_clip:...); "
                              f"{', '.join(others[:3])} is not one: run it in a command of its own")
    return prompts


def _check(request: Request) -> None:
    opts, config = request.options, request.config
    if opts.batch_size < 1 or opts.num_workers < 0:
        raise ConfigError("--batch_size must be >= 1 and --num_workers >= 0")
    if opts.n_samples is not None and opts.n_samples < 1:
        raise ConfigError(f"--n_samples {opts.n_samples}: expected a positive number of images")
    if opts.models_per_pass is not None and opts.models_per_pass < 1:
        raise ConfigError(f"--models_per_pass {opts.models_per_pass}: expected a number of models >= 1 (leave it "
                          "out to share every pass among all models)")
    if config.data_root is not None and not config.data_root.is_dir():
        raise ConfigError(f"--data-root {config.data_root} is not a folder")


def build_benchmarks(request: Request) -> list:
    """The requested benchmarks, their datasets read and checked; a benchmark without its data is an
    error when ``request.require_data`` or it was named explicitly, else skipped."""
    _check(request)
    datasets = Datasets(request.config)
    built = []
    for name in request.benchmarks:
        spec = REGISTRY[name]
        bench = spec.build(request.config, datasets)
        if bench is None:
            if request.require_data:
                raise ConfigError(f"{name} needs its data: pass {spec.data_flag} (or --data-root)")
            log.info("skipping %s: no data given (%s)", name, spec.data_flag)
            continue
        built.append(bench)
    if not built:
        raise ConfigError("no benchmark has its data: pass the dataset flags or --data-root (see --help)")
    return built


def load_models(request: Request):
    """The requested model names (a misspelt one is a ModelError, found before any dataset is read) and
    the loader the runner calls with each name and device."""
    from . import zoo
    from .zoo.open_clip_models import check_input_size

    local = zoo.LocalModels()  # the file:// checkpoints the request names
    config = request.config
    offline = config.offline or None
    names = zoo.resolve_models(request.models, local, cache_dir=config.cache_dir, offline=offline)
    prompts = prompt_set_of(request, names)
    check_input_size(names, request.options.preprocess)
    load = partial(zoo.load_model, local=local, cache_dir=config.cache_dir, offline=offline,
                   trust_checkpoint=request.trust_checkpoint, prompts=prompts)
    return names, Loader(lambda name, device: load(name, device), local)


@dataclass(frozen=True)
class Loader:
    """Loads a model by name onto a device (what the runner calls), and the ``LocalModels`` its
    file:// names live in (the run record reads their checksums from there)."""

    load: Callable
    local: Any = None

    def __call__(self, name: str, device):
        return self.load(name, device)


@dataclass
class Outcome:
    """What a run wrote ({model: {column: value}}), where, the benchmarks it built and its run record."""

    written: dict[str, dict[str, float]]
    store: Any
    benchmarks: list
    record: Path | None = None


def data_folders(config: Config) -> dict[str, str]:
    """The dataset folders (and label files) a config was given, by setting name."""
    return {f.name: str(v) for f in dataclasses.fields(config) if isinstance(v := getattr(config, f.name), Path)}


def run(request: Request, models: Sequence[str], load: Callable, *, built: list | None = None,
        model_info: Mapping[str, dict] | None = None, **runner_kwargs) -> Outcome:
    """Build the benchmarks (unless ``built``) and run ``models`` through the one runner into the store
    at ``request.results``; ``runner_kwargs`` go to ``runner.run`` (e.g. ``input_config``). Writes the
    run record beside the table (docs/results.md "Run records"); ``model_info`` describes models the
    zoo does not load."""
    from datetime import datetime, timezone

    from .results.run_record import RecordingStore, write_run_record
    from .runner import zoo_input_config

    config = request.config
    start, started = time.perf_counter(), datetime.now(timezone.utc)
    built = build_benchmarks(request) if built is None else built
    store = RecordingStore(request.results)
    runner_kwargs.setdefault("input_config", partial(zoo_input_config, cache_dir=config.cache_dir,
                                                     offline=config.offline or None))
    written = run_benchmarks(built, models, store, request.options, load=load, shard=request.shard,
                             **runner_kwargs)
    if model_info is None:
        from .zoo.sources import model_sources

        model_info = model_sources(models, getattr(load, "local", None), config.cache_dir)
    record = write_run_record(store, config=request.settings(), options=request.options,
                              device=request.options.resolved_device(),
                              folders=data_folders(config), written=written, started=started,
                              seconds=time.perf_counter() - start, model_info=model_info)
    return Outcome(written, store, built, record)


def evaluate(request: Request) -> int:
    """Everything a command-line run does: resolve the models, build the benchmarks, run, report.
    Raises UserError (the command line prints it as one line)."""
    start = time.perf_counter()
    models, load = load_models(request)
    outcome = run(request, models, load)
    report(outcome.written, outcome.store, request, time.perf_counter() - start, outcome.record)
    return 0


def headline_columns() -> list[str]:
    """The paper's headline columns: the generalization aggregates' inputs and the bias scores."""
    from .analysis.aggregates import AGGREGATES, BIASES
    from .benchmarks.spectral import PREFERENCES, preference_column

    # the bias scores as the benchmarks write them: LPP/HPP are their own columns there
    biases = [c for b, cols in BIASES.items() for c in ((preference_column(b),) if b in PREFERENCES else cols)]
    return [c for cols in AGGREGATES.values() for c in cols] + biases


def missing_headline_reasons(values: Mapping[str, float]) -> list[str]:
    """Why a headline column a run measured the inputs of is absent: LPP/HPP are ratios to the clean
    accuracy on the spectral images, undefined (and not written) when that accuracy is 0."""
    from .benchmarks.spectral import CLEAN, PREFERENCES, accuracy_column, preference_column

    clean = accuracy_column(CLEAN)
    if values.get(clean) == 0 and not any(preference_column(p) in values for p in PREFERENCES):
        return [f"{'/'.join(PREFERENCES)} not written: {clean} is 0 (no clean spectral image classified right), "
                "so the filtered/clean accuracy ratios they average are undefined"]
    return []


def report(written: dict[str, dict[str, float]], store, request: Request | None, seconds: float | None = None,
           record: Path | None = None) -> None:
    """A short summary: each model's headline columns written by this run, where the full table is, the time."""
    headline = headline_columns()
    for model, values in written.items():
        shown = [c for c in headline if c in values]
        more = len(values) - len(shown)
        print(f"{model}: " + (", ".join(f"{c} = {values[c]:.4g}" for c in shown) or "no headline column")
              + (f" (+{more} more column(s) in the table)" if more else ""))
        for why in missing_headline_reasons(values):
            print(f"  {why}")
    if request is not None and request.wandb:
        try:
            import wandb
        except ImportError:
            raise ConfigError("--wandb needs the wandb package: pip install wandb") from None
        for model, values in written.items():
            with wandb.init(project="biasbench", name=model, config=request.settings() | {"model": model},
                            reinit=True) as r:
                r.log(values)
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    print(f"done{took}; full table: {Path(store.csv_path).resolve()} "
          f"(`biasbench results show --results {store.csv_path}` lists every model and setup)")
    if record is not None:
        print(f"run record (command, versions, device, model checksums, dataset fingerprints): {record}")

"""The one evaluation loop: models x batches x conditions.

Every benchmark runs through ``run``. It finds the work the results log does not
hold yet, groups the conditions of all requested benchmarks by the images they
read, and makes one pass over each image list: every batch is decoded once,
moved to the device once, transformed once per distinct transform, and fed to
every model. Results are appended to the store after each pass, summaries once
a model has every condition of a benchmark, and the wide CSV is re-derived.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .data import model_input as mi
from .data.decoded_cache import DecodedCache
from .data.imagelist import RESIZE_CROP, ImageList
from .data.loader import Batch, UnreadableCounter, batches
from .device import (
    SplitOnOOM,
    compile_limits,
    device_name,
    forward,
    free_cuda_memory,
    global_flags,
    precision_context,
    prepare_model,
)
from .errors import ConfigError, UserError
from .progress import RunProgress
from .results import Record, ResultKey, ResultsStore, decisions
from .results.keys import SUMMARY, cell_key, summary_key
from .results.setup import Setup

if TYPE_CHECKING:  # the runner drives benchmarks through their interface only; it sits below them
    from .benchmarks.base import Benchmark, Condition

log = logging.getLogger("biasbench")


@dataclass(frozen=True)
class RunOptions:
    device: str | None = None  # default: cuda when available
    batch_size: int = 64
    num_workers: int = 4
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    seed: int = 0
    n_samples: int | None = None  # the --n_samples subset size the datasets were read with (part of the setup)
    # "paper": every model fed the paper's 224x224 after Resize(256)/CenterCrop(224); "model": each model its
    # own library's preprocessing (data/model_input.py). Part of the setup.
    preprocess: str = mi.PAPER
    # The label of the zero-shot models' prompt set (zoo/zero_shot.py; None: the default). Part of the setup.
    prompts: str | None = None
    overwrite: bool = False
    models_per_pass: int | None = None  # None: all requested models share every pass
    skip_unreadable: bool = False
    progress: bool = True
    # Folder of decoded-image caches for Resize/Crop datasets (None: decode on every pass).
    decoded_cache: str | None = None
    # Read a decoded cache only when it is complete and never write it: for jobs on several machines,
    # which must not fill one memory-mapped file at once over a network file system.
    decoded_cache_readonly: bool = False
    # Deterministic kernels (torch.use_deterministic_algorithms, no cuDNN autotuning): bit-for-bit
    # repeatable runs and attacks on one GPU, at some speed (docs/devices.md).
    deterministic: bool = False
    # Grow the last, smaller batch to full size (the copies count nowhere): one batch shape, so a
    # compiled model is not compiled again for it. Always on with --compile.
    pad_last_batch: bool = False
    # Derive benchmark.csv at the end (False: append to the log only, e.g. in cluster jobs; the CSV
    # is derived later by `biasbench results rebuild` or the sweep).
    write_csv: bool = True

    def resolved_device(self) -> torch.device:
        if self.device in (None, "", "auto"):
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(self.device)
        except RuntimeError:
            raise ConfigError(f"--device {self.device!r} is not a torch device (expected cpu, cuda, cuda:1, ...)") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"--device {self.device}: CUDA is not available on this machine (use --device cpu)")
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {self.device}: this machine has {torch.cuda.device_count()} visible GPU(s), "
                              f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return dev


ModelLoader = Callable[[str, torch.device], torch.nn.Module]
InputConfig = Callable[[str], "mi.ModelInput | None"]


def _default_loader(name: str, device: torch.device) -> torch.nn.Module:
    from . import zoo

    return zoo.load_model(name, device)


def zoo_input_config(name: str, cache_dir=None, offline: bool | None = None) -> mi.ModelInput | None:
    """The zoo model ``name``'s own input preprocessing (``zoo.external.input_config``, read through the cache
    under ``cache_dir``); None for a name the zoo does not know (a model a custom loader supplies) or one
    without a config of its own."""
    from .errors import ModelError
    from .zoo import get_entry
    from .zoo.external import input_config

    try:
        entry = get_entry(name, cache_dir=cache_dir, offline=offline)
    except ModelError:
        return None
    return input_config(entry, cache_dir, offline)


@dataclass
class _Work:
    benchmark: Benchmark
    condition: Condition
    fingerprint: str
    models: list[str]  # models still missing this condition
    images: ImageList  # the condition's images as these models are fed them (``--preprocess``)


class Fingerprints:
    """Dataset fingerprints, computed once per ImageList (they stat every file); the runner's and
    the sweep planner's."""

    def __init__(self):
        self._cache: dict[int, tuple[ImageList, str]] = {}

    def __call__(self, images: ImageList) -> str:
        hit = self._cache.get(id(images))
        if hit is None or hit[0] is not images:
            hit = (images, images.fingerprint())
            self._cache[id(images)] = hit
        return hit[1]


def _load_chunk(chunk: list[str], load: ModelLoader, device: torch.device, opts: RunOptions):
    """The models of ``chunk`` loaded and prepared; None when they do not fit in GPU memory together."""
    loaded = {}
    if opts.compile:
        compile_limits(len(chunk))
    try:
        for m in chunk:
            loaded[m] = prepare_model(load(m, device), device, channels_last=opts.channels_last, compile=opts.compile)
        return loaded
    except torch.cuda.OutOfMemoryError:
        if len(chunk) == 1:
            raise UserError(f"CUDA out of memory while loading model {chunk[0]} alone on {device}: "
                            "it needs a GPU with more memory (or --device cpu)") from None
        loaded.clear()
        free_cuda_memory()
        log.warning("CUDA out of memory loading %d models at once: loading them in two halves", len(chunk))
        return None


def _chunks(items: Sequence[str], size: int | None) -> list[list[str]]:
    size = size or len(items) or 1
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _shard(conditions: list[Condition], shard: tuple[int, int] | None) -> list[Condition]:
    if shard is None:
        return conditions
    i, n = shard
    return conditions[i::n]


def run(benchmarks: Sequence[Benchmark], models: Sequence[str], store: ResultsStore, opts: RunOptions, *,
        load: ModelLoader = _default_loader, shard: tuple[int, int] | None = None,
        input_config: InputConfig = zoo_input_config) -> dict[str, dict[str, float]]:
    """Evaluate ``models`` on every condition of ``benchmarks`` that the store lacks.

    Returns {model: {column: value}} of everything written by this call.
    ``shard=(i, n)`` evaluates only every n-th condition of each benchmark, starting
    at i, so independent jobs can split a benchmark; the store merges them.
    ``input_config`` gives each model's own preprocessing (None: none of its own), which
    ``opts.preprocess == "model"`` feeds it and the paper's protocol names where it differs.
    """
    device = opts.resolved_device()
    autocast = precision_context(opts.precision, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # so nothing opens a context on GPU 0 behind our back
    with global_flags(opts.precision, opts.deterministic):
        return _run(benchmarks, models, store, opts, load, shard, device, autocast, input_config)


class ModelImages:
    """Each model's image lists under a run's ``--preprocess``: the condition's own list, or the model's
    (``data.model_input.images_for``), made once per (list, preprocessing) so equal lists stay one object."""

    def __init__(self, models: Sequence[str], opts: RunOptions, input_config: InputConfig):
        if opts.preprocess not in mi.CHOICES:
            raise ConfigError(f"--preprocess {opts.preprocess!r}: expected one of {', '.join(mi.CHOICES)}")
        self.mode = opts.preprocess
        self.configs = {m: input_config(m) for m in models}
        self._inputs = self.configs if self.mode == mi.MODEL else dict.fromkeys(models)
        self._lists: dict[tuple, tuple[ImageList, ImageList]] = {}

    def announce(self) -> None:
        """One line per model whose input the run should name (``data.model_input.note``)."""
        for m, config in self.configs.items():
            line = mi.note(m, config, self.mode)
            if line:  # a warning under the paper's protocol: the model is fed other than its config asks
                log.log(logging.WARNING if self.mode == mi.PAPER else logging.INFO, "%s", line)

    def __call__(self, images: ImageList, model: str) -> ImageList:
        config = self._inputs.get(model)
        if config is None:
            return images
        key = (id(images), config)
        if key not in self._lists or self._lists[key][0] is not images:
            self._lists[key] = (images, mi.images_for(images, config))
        return self._lists[key][1]


def model_images(models: Sequence[str], opts: RunOptions) -> ModelImages:
    """The image lists of a run's tail without the run (a sweep's finalisation, a benchmark's ``after_run``
    called alone): the zoo's preprocessing configs, asked only under ``--preprocess model``."""
    return ModelImages(models, opts, zoo_input_config if opts.preprocess == mi.MODEL else lambda _name: None)


def _run(benchmarks, models, store, opts, load, shard, device, autocast, input_config) -> dict[str, dict[str, float]]:
    fingerprint = Fingerprints()
    images_of = ModelImages(models, opts, input_config)
    images_of.announce()
    written: dict[str, dict[str, float]] = defaultdict(dict)

    # 1. What is missing, grouped by the images it reads. A result counts as done only for
    #    the same images and the same setup (a bf16 or seed-1 result never stands in for the reference).
    #    Models fed the same list (same preprocessing) share its pass.
    cells = [(bench, cond, Setup.of_run(opts, bench.seeded)) for bench in benchmarks
             for cond in _shard(bench.conditions(), shard)]
    lists = {}  # each model's image list of each condition, with its fingerprint
    for bench, cond, _setup in cells:
        for m in models:
            images = images_of(cond.images, m)
            lists[bench.name, cond.name, m] = images, fingerprint(images)
    keys = {(bench.name, cond.name, m): cell_key(m, bench.name, cond.name, lists[bench.name, cond.name, m][1], setup)
            for bench, cond, setup in cells for m in models}
    done = {} if opts.overwrite else store.newest(keys.values())
    passes: dict[str, list[_Work]] = defaultdict(list)
    for bench, cond, _setup in cells:
        by_list: dict[str, tuple[ImageList, list[str]]] = {}
        for m in models:
            images, fp = lists[bench.name, cond.name, m]
            if keys[bench.name, cond.name, m] not in done:
                by_list.setdefault(fp, (images, []))[1].append(m)
        for fp, (images, todo) in by_list.items():
            passes[fp].append(_Work(bench, cond, fp, todo, images))
    if not passes:
        log.info("nothing to do: the results log already holds every requested condition (use --overwrite to redo)")

    # 2. One pass per image list, several models per pass; one progress display for them all.
    needed = [m for m in models if any(m in w.models for ws in passes.values() for w in ws)]
    chunks = _chunks(needed, opts.models_per_pass)
    work = sum(len(w.images) * w.condition.cost * len(w.models) for ws in passes.values() for w in ws)
    with RunProgress(work, enabled=opts.progress) as progress:
        _passes(chunks, passes, load, device, autocast, opts, store, written, progress)

    # 3. Summaries for models that now have every condition of a benchmark, the table, other outputs.
    for r in finish(benchmarks, models, store, opts, appended=bool(written), fingerprint=fingerprint,
                    images_of=images_of):
        written[r.model].update(r.values)
    return dict(written)


def _passes(chunks, passes, load, device, autocast, opts, store, written, progress) -> None:
    while chunks:
        chunk = chunks.pop(0)
        loaded = _load_chunk(chunk, load, device, opts)
        if loaded is None:  # out of memory while loading: the same models in two smaller chunks
            chunks[:0] = [chunk[:len(chunk) // 2], chunk[len(chunk) // 2:]]
            continue
        for _fp, works in passes.items():
            works = [w for w in works if set(w.models) & set(chunk)]
            if works:
                # Each record's per-image decisions are on disk before the log line naming them.
                records = [record if per_image is None else decisions.write(store.log_dir, record, *per_image)
                           for record, per_image in _one_pass(works, loaded, device, autocast, opts, progress)]
                store.append(records)
                for r in records:
                    written[r.model].update(r.values)
        del loaded


def finish(benchmarks: Sequence[Benchmark], models: Sequence[str], store: ResultsStore, opts: RunOptions, *,
           appended: bool = True, fingerprint: Fingerprints | None = None,
           images_of: ModelImages | None = None) -> list[Record]:
    """The end of a run, and of a sweep once its jobs are done: the summaries the log lacks
    (``add_summaries``), ``benchmark.csv`` re-derived when ``opts.write_csv`` and the log changed
    (``appended``, or summaries were added) or the table is missing, then every benchmark's
    ``after_run``. Returns the summary records added."""
    images_of = images_of or model_images(models, opts)
    summaries = add_summaries(benchmarks, models, store, opts, fingerprint, images_of)
    if opts.write_csv and (appended or summaries or not store.csv_path.exists()):  # a deleted table is re-derived too
        store.write_csv()
    for bench in benchmarks:
        bench.after_run(store, models, opts, images_of)
    return summaries


def add_summaries(benchmarks: Sequence[Benchmark], models: Sequence[str], store: ResultsStore, opts: RunOptions,
                  fingerprint: Fingerprints | None = None, images_of: ModelImages | None = None) -> list[Record]:
    """Append the summary records of every model that has every condition of a benchmark in the
    log but not its current summary (no model is loaded); returns them."""
    images_of = images_of or model_images(models, opts)
    summaries = _summaries(benchmarks, models, store, fingerprint or Fingerprints(), opts, images_of)
    if summaries:
        store.append(summaries)
    return summaries


def _one_pass(works: list[_Work], models: dict[str, torch.nn.Module], device: torch.device, autocast,
              opts: RunOptions, progress: RunProgress) -> list[tuple[Record, tuple | None]]:
    """Feed every image of one list once through every (condition, model) of ``works``; returns each
    record with its accumulator's per-image decisions (None if it keeps none)."""
    images = works[0].images
    batch_size = opts.batch_size
    while True:
        try:
            return _pass_at(works, models, images, device, autocast, opts, batch_size, progress)
        except torch.cuda.OutOfMemoryError:
            progress.restart_pass()
            if batch_size == 1:
                raise UserError("CUDA out of memory even at batch size 1: use fewer models per pass "
                                "(--models_per_pass) or a GPU with more memory") from None
            batch_size = max(1, batch_size // 2)
            torch.cuda.empty_cache()
            log.warning("CUDA out of memory: restarting this pass with batch size %d", batch_size)


def _pass_at(works, models, images: ImageList, device, autocast, opts: RunOptions,
             batch_size: int, progress: RunProgress) -> list[tuple[Record, tuple | None]]:
    acc = {(id(w), m): w.condition.metric() for w in works for m in w.models if m in models}
    by_key: dict[str, list[_Work]] = defaultdict(list)
    for w in works:
        by_key[w.condition.transform_key].append(w)
    unreadable = UnreadableCounter()
    # Progress counts work, not images: image x (condition, model) evaluations, an attack weighted by its
    # forward-pass equivalents (PGD-40: 121), so it moves within a batch and its rate and ETA mean something.
    cost = {id(w): w.condition.cost for w in works}
    evals_per_image = sum(cost[id(w)] for w in works for m in w.models if m in models)
    conditions = sorted({w.condition.name for w in works})
    progress.begin_pass(f"{images.name} ({conditions[0] if len(conditions) == 1 else f'{len(conditions)} conditions'}"
                        f" x {len(models)} model(s))")
    split = SplitOnOOM()
    start = time.perf_counter()
    cache = (DecodedCache(images, opts.decoded_cache, works[0].fingerprint)
             if opts.decoded_cache and images.preprocess == RESIZE_CROP else None)
    if cache is not None and opts.decoded_cache_readonly and not cache.is_complete():
        cache = None
    for bi, batch in enumerate(batches(images, batch_size, opts.num_workers, skip_unreadable=opts.skip_unreadable,
                                       unreadable=unreadable, pin_memory=device.type == "cuda", cache=cache)):
        n_real = len(batch.indices)
        if (opts.compile or opts.pad_last_batch) and n_real < batch_size:
            batch = _padded(batch, batch_size)
        x0 = batch.images.to(device, non_blocking=True).float().div_(255.0)
        if opts.channels_last:
            x0 = x0.contiguous(memory_format=torch.channels_last)
        y = batch.labels.to(device, non_blocking=True)
        idx = batch.indices
        valid = batch.valid.to(device, non_blocking=True)
        finite: list[tuple[str, str, torch.Tensor]] = []  # checked once per batch: one sync, not one per model
        shared: dict = {}  # this batch's shared first steps of transforms (e.g. the spectral filters' FFT)
        for key_works in by_key.values():
            x = _transformed(key_works[0].condition.transform, x0, idx, shared, split)
            logits_cache: dict[str, torch.Tensor] = {}
            for w in key_works:
                for m in w.models:
                    if m not in models:
                        continue
                    if w.condition.attack is not None:
                        step = functools.partial(_attacked_forward, models[m], w.condition.attack, autocast)
                        logits = split(step, x, y, idx)
                        finite.append((m, w.condition.name, torch.isfinite(logits).all()))
                    else:
                        if m not in logits_cache:
                            logits_cache[m] = split(functools.partial(forward, models[m], autocast=autocast), x)
                            finite.append((m, w.condition.name, torch.isfinite(logits_cache[m]).all()))
                        logits = logits_cache[m]
                        _extra_heads(acc[(id(w), m)], models[m], autocast, split, x, y, idx, valid)
                    acc[(id(w), m)].update(logits, y, idx, valid)
                    # images count in step with the work, so images/s moves within a (long) batch too
                    progress.update(n_real * cost[id(w)], images=n_real * cost[id(w)] / evals_per_image)
        if finite and not bool(torch.stack([f for _, _, f in finite]).all()):
            m, cond = next((m, c) for m, c, f in finite if not bool(f))
            raise UserError(
                f"model {m} gave NaN/inf logits on batch {bi} of {images.name} "
                f"(condition {cond}, precision {opts.precision}); "
                + ("at full precision, so the checkpoint itself is at fault: check its weights and normalisation"
                   if opts.precision == "fp32" else "try --precision fp32 or check the checkpoint"))
    seconds = time.perf_counter() - start
    if split.splits:
        log.warning("CUDA out of memory in %d step(s) of %s: those steps ran in smaller pieces (smallest %d images)",
                    split.splits, images.name, split.smallest)
    if unreadable.files:
        log.warning("%d unreadable file(s) left out of %s, e.g. %s", len(unreadable.files), images.name,
                    unreadable.files[0])
    records = []
    for w in works:
        for m in w.models:
            if m not in models:
                continue
            accumulator = acc[(id(w), m)]
            result = accumulator.result()
            per_image = accumulator.per_image() if hasattr(accumulator, "per_image") else None
            records.append((Record(
                model=m, benchmark=w.benchmark.name, condition=w.condition.name,
                values=w.benchmark.columns(w.condition, result), n_images=int(result.get("n", len(images))),
                fingerprint=w.fingerprint, seed=opts.seed if w.benchmark.seeded else None,
                precision=opts.precision, n_samples=opts.n_samples, preprocess=opts.preprocess,
                prompts=opts.prompts, device=device_name(device),
                extra={"result": result, "unreadable": len(unreadable.files), "pass_seconds": round(seconds, 3),
                       "batch_size": batch_size, **({"oom_splits": split.splits} if split.splits else {}),
                       **({"deterministic": True} if opts.deterministic else {}), **w.condition.params, **w.condition.provenance},
            ), per_image))
    return records


def _extra_heads(accumulator, model, autocast, split, x, y, idx, valid) -> None:
    """Feed an accumulator that asks for extra model outputs (``heads``, e.g. the 16-class sets' ``sixteen``)
    those the model has (a zero-shot model's 16-category head; ``zoo.wrapper.NormalizedModel.head``)."""
    for name in getattr(accumulator, "heads", ()):
        head = getattr(getattr(model, "_orig_mod", model), "head", None)  # the compiled module's original
        fn = head(name) if callable(head) else None
        if fn is not None:
            accumulator.update_head(name, split(functools.partial(forward, fn, autocast=autocast), x), y, idx, valid)


def _transformed(transform, x0: torch.Tensor, idx: torch.Tensor, shared: dict, split: SplitOnOOM) -> torch.Tensor:
    """The batch ``x0`` under ``transform``. A transform with a ``shared_step`` (a function of the batch,
    e.g. the spectral filters' FFT) gets that step's output as a third argument, computed once per batch
    (kept in ``shared``) for every transform that names the same step."""
    if transform is None:
        return x0
    step = getattr(transform, "shared_step", None)
    if step is None:
        return split(transform, x0, idx)
    if step not in shared:
        shared[step] = split(step, x0)
    return split(transform, x0, idx, shared[step])


def _padded(batch: Batch, size: int) -> Batch:
    """``batch`` grown to ``size`` images by repeating its last image, the copies marked not valid
    (every accumulator leaves invalid images out, as it does unreadable files)."""
    extra = size - len(batch.indices)
    last = torch.full((extra,), len(batch.indices) - 1, dtype=torch.long)
    order = torch.cat([torch.arange(len(batch.indices)), last])
    valid = torch.cat([batch.valid.to(torch.bool), torch.zeros(extra, dtype=torch.bool)])
    return Batch(images=batch.images[order], labels=batch.labels[order], indices=batch.indices[order], valid=valid)


def _attacked_forward(model, attack, autocast, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Logits of the attacked images. The attack runs under the run's precision too (its
    gradients are only used through their sign: no loss scaling, docs/devices.md "Precision")."""
    with autocast():
        x_adv = attack(model, x, y, idx)
    return forward(model, x_adv, autocast)


def _summaries(benchmarks, models, store: ResultsStore, fingerprint: Fingerprints, opts: RunOptions,
               images_of: ModelImages) -> list[Record]:
    out = []
    for bench in benchmarks:
        setup = Setup.of_run(opts, bench.seeded)
        conds = bench.conditions()
        keys: dict[str, list[ResultKey]] = {}
        summaries: dict[str, ResultKey] = {}
        for m in models:  # each model's own image lists (``--preprocess``)
            fps = [fingerprint(images_of(c.images, m)) for c in conds]
            keys[m] = [cell_key(m, bench.name, c.name, fp, setup) for c, fp in zip(conds, fps)]
            summaries[m] = summary_key(m, bench.name, fps, setup)
        newest = store.newest([k for m in models for k in (*keys[m], summaries[m])])
        for m in models:
            if any(k not in newest for k in keys[m]):
                continue
            values = {k.condition: newest[k].values for k in keys[m]}
            on = {newest[k].device for k in keys[m]}
            if len(on) > 1:  # never one summary over results of different devices
                log.warning("no %s summary for %s: its conditions ran on different devices (%s); rerun them on one "
                            "device with --overwrite", bench.name, m, ", ".join(sorted(d or "unrecorded" for d in on)))
                continue
            summary = bench.summarize(values)
            previous = newest.get(summaries[m])
            if summary and (opts.overwrite or previous is None or previous.values != summary):
                out.append(Record(model=m, benchmark=bench.name, condition=SUMMARY, values=summary,
                                  n_images=0, fingerprint=summaries[m].fingerprint, seed=setup.seed,
                                  precision=opts.precision, n_samples=opts.n_samples, preprocess=opts.preprocess,
                                  prompts=opts.prompts, device=on.pop()))
    return out

"""The run record: one JSON file per run beside the results table, the way lm-evaluation-harness's
``--output_path`` keeps one per evaluation (docs/results.md, "Run records").

``<results folder>/<table stem>.runs/<UTC start>-<host>-<pid>.json`` holds what the run was asked
(the command, the resolved flags), how it ran (setup, versions of the suite, Python, torch, timm and
CUDA, the device), what it read (each model's sources with their SHA-256, each benchmark's dataset
folder and fingerprints), how long it took and the values it wrote. Written once, atomically
(``biasbench.files``), never overwritten; ``python -m biasbench.results show --run latest`` prints one.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ResultsError
from ..files import atomic_write_json
from .record import Record, code_version
from .store import ResultsStore

FORMAT = "biasbench-run/1"


class RecordingStore(ResultsStore):
    """A ``ResultsStore`` that also keeps the records this process appended (what the run record lists)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.appended: list[Record] = []

    def append(self, records: Iterable[Record]) -> None:
        records = list(records)
        super().append(records)
        self.appended.extend(records)


def runs_dir(csv_path: str | os.PathLike) -> Path:
    """The folder of a results table's run records: ``<stem>.runs/`` beside it."""
    path = Path(csv_path)
    return path.with_name(f"{path.stem}.runs")


def versions() -> dict[str, str | None]:
    """The versions a result depends on: the suite (with its git commit), Python, torch, torchvision, timm,
    numpy, CUDA and cuDNN as torch was built with them (None where absent)."""
    import numpy
    import timm
    import torch
    import torchvision

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"biasbench": code_version(), "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "timm": timm.__version__, "numpy": numpy.__version__,
            "cuda": torch.version.cuda, "cudnn": str(cudnn) if cudnn else None}


def device_info(device) -> dict:
    """The device a run used: its torch name, and for a GPU its model, memory and driver-visible count."""
    import torch

    info = {"device": str(device), "host": socket.gethostname(), "platform": platform.platform(),
            "cpus": os.cpu_count()}
    if getattr(device, "type", str(device)) == "cuda" and torch.cuda.is_available():
        index = device.index if getattr(device, "index", None) is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                 "gpus_visible": torch.cuda.device_count()}
    return info


def datasets(records: Iterable[Record], folders: Mapping[str, str | None]) -> dict:
    """The dataset folders the run was given, and the fingerprint(s) and images of each benchmark it read."""
    seen: dict[str, dict] = {}
    for r in records:
        b = seen.setdefault(r.benchmark, {"fingerprints": set(), "images": 0})
        b["fingerprints"].add(r.fingerprint)
        b["images"] = max(b["images"], r.n_images)
    return {"folders": {k: v for k, v in folders.items() if v},
            "benchmarks": {k: {"fingerprints": sorted(v["fingerprints"]), "images_per_condition": v["images"]}
                           for k, v in sorted(seen.items())}}


def _plain(value):
    """A JSON-safe copy of a flag value (tuples as lists, paths and other objects as strings)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def write_run_record(store: RecordingStore, *, config: Mapping, options, device,
                     folders: Mapping[str, str | None], written: Mapping[str, Mapping[str, float]],
                     started: datetime, seconds: float,
                     argv: list[str] | None = None, model_info: Mapping[str, dict] | None = None) -> Path:
    """Write this run's record beside ``store``'s table and return its path. ``model_info``: each model's
    architecture, normalisation and sources with their SHA-256 (``zoo.sources.model_sources``; for an
    ``nn.Module`` given to ``biasbench.evaluate``, what it is)."""
    from dataclasses import asdict

    from .setup import Setup

    appended = store.appended
    setups = sorted({Setup.of_record(r).label() for r in appended})
    record = {
        "format": FORMAT,
        "command": [sys.executable, *(sys.argv if argv is None else argv)],
        "cwd": os.getcwd(),
        "config": {k: _plain(v) for k, v in sorted(dict(config).items())},
        "run_options": _plain(asdict(options)),
        "setups": [s or "reference" for s in setups] or None,
        "versions": versions(),
        "device": device_info(device),
        "devices_recorded": sorted({r.device for r in appended if r.device}),
        "models": dict(model_info or {}),
        "datasets": datasets(appended, folders),
        "timing": {"start": started.isoformat(timespec="seconds"),
                   "end": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seconds": round(seconds, 3)},
        "records_written": len(appended),
        "values": {m: dict(sorted(v.items())) for m, v in written.items()},
        "results": {"table": str(Path(store.csv_path).resolve()), "log": str(Path(store.log_dir).resolve())},
    }
    folder = runs_dir(store.csv_path)
    path = folder / f"{started.strftime('%Y%m%dT%H%M%S.%fZ')}-{socket.gethostname()}-{os.getpid()}.json"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, record, what="run record ", error=ResultsError)
    return path


def find(csv_path: str | os.PathLike, which: str = "latest") -> Path:
    """The run record ``which`` names: ``latest`` (newest by its start time), a file name in the runs
    folder, or a path."""
    folder = runs_dir(csv_path)
    if which != "latest":
        for candidate in (Path(which), folder / which):
            if candidate.is_file():
                return candidate
        raise ResultsError(f"--run {which}: no such run record (expected 'latest', a file in {folder} or a path)")
    runs = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not runs:
        raise ResultsError(f"no run records in {folder} (each run of this suite writes one beside {csv_path})")
    return runs[-1]


def load(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: not a readable run record ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ResultsError(f"{path}: not a biasbench run record (expected \"format\": \"{FORMAT}\")")
    return data


def describe(data: Mapping) -> str:
    """A run record as a few readable lines (``python -m biasbench.results show --run``)."""
    v, d, t = data["versions"], data["device"], data["timing"]
    lines = [f"command: {' '.join(data['command'])}",
             f"  in {data['cwd']}, {t['start']} to {t['end']} ({t['seconds']:.1f} s)",
             "versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
             f"device: {d['device']}" + (f" ({d['gpu']}, {d['gpu_memory_gib']} GiB)" if d.get("gpu") else "")
             + f" on {d['host']}",
             f"setup: {', '.join(data['setups'] or ['(nothing new written)'])}"]
    for name, m in data["models"].items():
        srcs = m.get("sources")
        lines.append(f"model {name}: " + (m.get("source") or f"{m['architecture']}, "
                     + "; ".join(f"{s['describe']} sha256={(s['sha256'] or '-')[:16]}" for s in srcs)))
    for bench, info in data["datasets"]["benchmarks"].items():
        lines.append(f"dataset of {bench}: fingerprint {', '.join(f[:16] for f in info['fingerprints'])}, "
                     f"{info['images_per_condition']} images per condition")
    lines.append(f"wrote {data['records_written']} records:")
    for model, values in data["values"].items():
        for column, value in values.items():
            lines.append(f"  {model}  {column} = {value:.6g}")
    return "\n".join(lines)

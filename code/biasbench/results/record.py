"""One result record: the values of one (model, benchmark, condition) run and their provenance, and
``ResultKey``, the identity of a result."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import numbers
import re
import socket
import subprocess
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from biasbench.errors import ResultsError
from biasbench.results.setup import Setup
from biasbench.version import __version__

_HEX = re.compile(r"[0-9a-fA-F]+")
# Every line ends in a checksum of the rest of the line, so a damaged digit is never read as a value.
_CHECK = re.compile(rb',"check":"([0-9a-f]{16})"\}\s*$')


def _line_check(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """``biasbench.__version__``, plus ``+g<short sha>`` (and ``-dirty``) in a git checkout.

    Only changes under ``code/`` count as dirty: the results files themselves
    (raw-data/) change with every run. Computed once per process.
    """
    version = __version__
    repo = Path(__file__).resolve().parents[3]  # <repo>/code/biasbench/results/record.py
    if not ((repo / ".git").exists() and (repo / "pyproject.toml").is_file()):
        return version  # an installed copy: no git provenance to add
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        sha = git("rev-parse", "--short", "HEAD")
        dirty = bool(git("status", "--porcelain", "--", "code"))
    except (OSError, subprocess.SubprocessError):
        return version  # git missing or not usable here
    return f"{version}+g{sha}" + ("-dirty" if dirty else "")


@dataclass(frozen=True)
class ResultKey:
    """The identity of a result: which model, which benchmark condition, on which dataset (its
    fingerprint) and under which setup (docs/results.md). Records of one key are the same result
    measured again, the newest counts; a result of any other key never stands in for it.
    ``setup.seed`` is None for a benchmark that draws no random numbers: the seed a record of it
    carries makes no difference (``Setup.of_result``)."""

    model: str
    benchmark: str
    condition: str
    fingerprint: str
    setup: Setup

    def matches(self, record: Record) -> bool:
        return (record.model, record.benchmark, record.condition, record.fingerprint) == \
            (self.model, self.benchmark, self.condition, self.fingerprint) \
            and Setup.of_result(record, self.setup.seed is not None) == self.setup


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class Record:
    """The values one run produced, with where they came from.

    ``condition`` names the cell within a benchmark ('clean', 'lowpass/0.1',
    'gaussian_noise/3', or 'summary' for derived values); ``values`` maps paper
    column names (e.g. 'top1_acc/imagenet') to finite floats; ``fingerprint``
    is the hex fingerprint of the dataset the values were measured on.
    ``precision``, ``n_samples`` (the ``--n_samples`` subset size, None = every
    image), ``seed`` (None where the benchmark draws no random numbers) and
    ``preprocess`` make up the result's setup (``biasbench.results.setup``), with ``prompts``, the label of a
    zero-shot model's prompt set (None: the default, or not a zero-shot model; left out of the line then).
    """

    model: str
    benchmark: str
    condition: str
    values: dict[str, float]
    n_images: int
    fingerprint: str
    seed: int | None = None
    precision: str = "fp32"
    n_samples: int | None = None
    preprocess: str = "paper"
    prompts: str | None = None
    # Where it ran: "cpu" or "cuda:<GPU name>" (provenance; a summary never combines devices).
    device: str = ""
    code_version: str = field(default_factory=code_version)
    time: str = field(default_factory=_utc_now)
    host: str = field(default_factory=socket.gethostname)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"result record for model {self.model!r}, benchmark {self.benchmark!r}, condition {self.condition!r}"
        for name in ("model", "benchmark", "condition", "precision", "preprocess", "code_version", "host"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ResultsError(f"{where}: {name} is {value!r}; expected a non-empty string")
        if not isinstance(self.fingerprint, str) or not _HEX.fullmatch(self.fingerprint):
            raise ResultsError(f"{where}: fingerprint is {self.fingerprint!r}; expected a hex string")
        if isinstance(self.n_images, bool) or not isinstance(self.n_images, numbers.Integral) or self.n_images < 0:
            raise ResultsError(f"{where}: n_images is {self.n_images!r}; expected a count >= 0")
        self.n_images = int(self.n_images)
        if self.seed is not None:
            if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
                raise ResultsError(f"{where}: seed is {self.seed!r}; expected an integer or None")
            self.seed = int(self.seed)
        if self.prompts is not None and (not isinstance(self.prompts, str) or not self.prompts):
            raise ResultsError(f"{where}: prompts is {self.prompts!r}; expected a prompt-set label or None")
        if self.n_samples is not None:
            if isinstance(self.n_samples, bool) or not isinstance(self.n_samples, numbers.Integral) \
                    or self.n_samples < 1:
                raise ResultsError(f"{where}: n_samples is {self.n_samples!r}; expected a count >= 1 or None")
            self.n_samples = int(self.n_samples)
        if not isinstance(self.values, dict) or not self.values:
            raise ResultsError(f"{where}: values is {self.values!r}; expected a non-empty dict column -> number")
        clean: dict[str, float] = {}
        for column, value in self.values.items():
            if not isinstance(column, str) or not column or column == "model":
                raise ResultsError(f"{where}: column name {column!r} is not usable; expected a non-empty "
                                   "string other than 'model'")
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ResultsError(f"{where}: value of {column!r} is {value!r}; expected a finite number")
            clean[column] = float(value)
        self.values = clean
        try:
            stamp = datetime.fromisoformat(self.time)
        except (TypeError, ValueError):
            stamp = None
        if stamp is None or stamp.tzinfo is None:
            raise ResultsError(f"{where}: time is {self.time!r}; expected an ISO-8601 time with a UTC offset")
        if not isinstance(self.extra, dict):
            raise ResultsError(f"{where}: extra is {self.extra!r}; expected a dict")

    def timestamp(self) -> datetime:
        """``time`` as an aware datetime (what 'newest' is decided on)."""
        return datetime.fromisoformat(self.time)

    def to_json(self) -> str:
        """One JSON line, newline included; floats are written in round-trip precision. The last key,
        ``check``, is a hash of the line without it: ``from_json`` rejects a line damaged on disk."""
        try:
            data = asdict(self)
            if data["prompts"] is None:  # only zero-shot models with a non-default prompt set carry one
                del data["prompts"]
            text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as err:
            raise ResultsError(f"result record for model {self.model!r}, benchmark {self.benchmark!r}: "
                               f"extra is not JSON-serialisable ({err}); expected plain str/number/list/dict") from None
        return f'{text[:-1]},"check":"{_line_check(text.encode("ascii"))}"}}\n'

    @classmethod
    def from_json(cls, line: str | bytes) -> Record:
        """Parse one log line; raises ValueError or ResultsError when it is not a whole, valid record."""
        raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else bytes(line)
        m = _CHECK.search(raw)
        if m:
            raw = raw[:m.start()] + b"}"
            if _line_check(raw) != m.group(1).decode():
                raise ValueError("checksum mismatch: the line was changed after it was written")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if "check" in data:
            raise ValueError("malformed checksum")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})  # newer writers may add keys
        except TypeError as err:  # a required field is missing
            raise ValueError(str(err)) from None

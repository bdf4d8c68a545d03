"""The small pieces every command line of the suite is made of, below all of them.

A declared setting (``Option``: its flags, default, parse function, help and data folder;
docs/architecture.md "Options are declared once"), the reference scripts' string booleans,
the one comma-list parser, ``--shard i/n``, and a parser whose errors are one line.
Nothing here knows a benchmark, a model or the runner.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


def comma_list(text: str | Iterable | None, *, keep_empty: bool = False) -> list:
    """``"a, b,c"`` -> ``["a", "b", "c"]``: items stripped, empty ones dropped (kept, as ``""``, with
    ``keep_empty``, for parsers that reject them by name). A list or tuple is taken as already split
    (its strings stripped); None is an empty list. The one comma-list parser of every flag."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    items = [t.strip() if isinstance(t, str) else t for t in items]
    return items if keep_empty else [t for t in items if t != ""]


def path(text) -> Path:
    """A file or folder flag's value, ``~`` expanded."""
    return Path(text).expanduser()


def integer(flag: str) -> Callable[[Any], int]:
    """The parse function of an integer flag: ConfigError naming ``flag`` for anything else."""
    def parse(given: Any) -> int:
        try:
            value = int(given)
        except (TypeError, ValueError):
            value = None
        if value is None or isinstance(given, bool) or str(given).strip() != str(value):
            raise ConfigError(f"{flag}: expected an integer, got {given!r}")
        return value
    return parse


def str2bool(text: str) -> bool:
    """The reference scripts' string booleans (yes/true/t/y/1, no/false/f/n/0, any case), plus on/off."""
    low = str(text).lower()
    if low in ("1", "true", "t", "yes", "y", "on"):
        return True
    if low in ("0", "false", "f", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def bool_flag(add, *names: str, help: str, dest: str | None = None) -> None:
    """A boolean flag taken bare (``--pgd``) or with the reference's string value (``--pgd True``)."""
    extra = {"dest": dest} if dest else {}
    add(*names, type=str2bool, nargs="?", const=True, default=False, metavar="BOOL", help=help, **extra)


def parse_shard(text: str) -> tuple[int, int]:
    """``--shard i/n``: evaluate every n-th condition from i."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/n such as 0/4, got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"--shard {text}: need 0 <= i < n")
    return i, n


class OneLineErrors(argparse.ArgumentParser):
    """A flag error is one line, not the usage of every flag (that is what --help is for), with the flag to
    use for a misspelt or timm-only one; flags are never matched by prefix (``allow_abbrev=False``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        from .flag_conventions import suggestion

        hint = suggestion(message, self._option_string_actions)
        self.exit(2, f"error: {message}{f' ({hint})' if hint else ''} (see {self.prog} --help)\n")


def flag_dest(flag: str) -> str:
    """``--mvh-datasets`` -> ``mvh_datasets``: the name a flag's value goes by (Python keyword, Config field)."""
    return flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Option:
    """One setting a benchmark module declares, once: the command line's flag(s), the typed
    value it becomes (a ``Config`` field named ``dest``) and how.

    ``parse`` turns what was given (the flag's text, or a Python value from ``biasbench.evaluate``)
    into the value, raising ConfigError that names the flag; ``default`` is the value when nothing
    is given (the paper's protocol), ``shown`` how --help writes it. ``folder``: the dataset folder
    under --data-root that is the default of a data flag. ``switches``: boolean flags that each add
    one member to a tuple value (``--pgd`` -> "PGD"; none switched on: ``default``). ``columns``: the
    benchmark's declared columns depend on the value (the listing takes the flag too)."""

    dest: str
    flags: tuple[str, ...]
    help: str
    default: Any = None
    parse: Callable[[Any], Any] | None = None
    type: Any = Any  # the Config field's annotation
    shown: str | None = None
    folder: str | None = None
    metavar: str | None = None
    switches: Mapping[str, str] = field(default_factory=dict)
    columns: bool = False  # the benchmark's declared columns depend on it (``biasbench benchmarks`` takes it)

    def names(self) -> set[str]:
        """Every name the option answers to as a Python keyword: its dest and its flags', switches included."""
        return {self.dest} | {flag_dest(f) for f in (*self.flags, *self.switches)}

    def value(self, given: Any) -> Any:
        """The typed value of what was given (None: not given, the default)."""
        if given is None:
            return self.default
        return self.parse(given) if self.parse else given

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Its flags on ``parser``. A value flag not given is absent from the parsed namespace (the
        declared default applies); a switch is False unless given."""
        for flag, member in self.switches.items():
            bool_flag(parser.add_argument, flag, dest=flag_dest(flag), help=f"{self.help}: {member}")
        if not self.flags:
            return
        shown = self.shown if self.shown is not None else _shown(self.default)
        parser.add_argument(*self.flags, dest=self.dest, metavar=self.metavar, default=argparse.SUPPRESS,
                            help=self.help + (f" (default: {shown})" if shown else ""))

    def from_flags(self, values: Mapping[str, Any]) -> Any:
        """What the parsed flags (or keywords) ``values`` give it: its dest's value, else its switches'
        members; None when nothing of it is there."""
        if values.get(self.dest) is not None:
            return values[self.dest]
        if any(flag_dest(f) in values for f in self.switches):
            return tuple(m for f, m in self.switches.items() if values.get(flag_dest(f))) or None
        return None


def _shown(default: Any) -> str:
    if default is None:
        return ""
    if isinstance(default, (tuple, list)):
        return ",".join(map(str, default))
    return str(default)

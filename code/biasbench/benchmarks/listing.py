"""Each benchmark's data and columns, from the registry, its declared options and its column
declarations: the listing of ``biasbench benchmarks`` and the column table of docs/benchmarks.md
(``biasbench benchmarks --readme`` prints it; a test keeps them equal)."""

from __future__ import annotations

from ..attacks import LOW_EPS
from ..data.model_vs_human import OOD_DATASETS
from ..flags import OneLineErrors
from . import REGISTRY, Config, options_of
from .adversarial import ATTACKS
from .base import Column

# The column table of docs/benchmarks.md shows the optional columns too: every attack at two budgets
# (--pgd --fgsm --aa --eps 0.5/255,4/255) and all 17 model-vs-human sets (--mvh-datasets all).
README_CONFIG = Config(attacks=ATTACKS, eps=(LOW_EPS, 4 / 255), mvh_datasets=tuple(OOD_DATASETS))

README_BEGIN = "<!-- columns table: python -m biasbench.benchmarks --readme -->"
README_END = "<!-- end of columns table -->"


def families(columns: list[Column]) -> list[tuple[Column, int]]:
    """One entry per column family, in declaration order: (its first column, how many it has)."""
    out: dict[tuple[str, bool], list] = {}
    for c in columns:
        out.setdefault((c.pattern, c.summary), [c, 0])[1] += 1
    return [(first, n) for first, n in out.values()]


def data_folder(name: str) -> str:
    """The folder under --data-root where the benchmark's data flag finds its data by default."""
    return REGISTRY[name].data_option().folder or "-"


def describe(config: Config | None = None, every_column: bool = False) -> str:
    """Each benchmark: its data flag, --data-root folder and script, then its columns with their meaning."""
    lines = []
    for name, spec in REGISTRY.items():
        lines.append(f"{name}: data {spec.data_flag} (--data-root folder {data_folder(name)}), "
                     f"script code/{spec.script}")
        cols = spec.columns(config)
        entries = [(c, 1) for c in cols] if every_column else families(cols)
        for c, n in entries:
            label = c.name if n == 1 else f"{c.pattern} ({n} columns)"
            lines.append(f"    {'summary ' if c.summary else ''}{label}: {c.meaning}")
    return "\n".join(lines)


def readme_table() -> str:
    """The README's table of every benchmark's column families (``README_CONFIG``)."""
    rows = ["| benchmark | script | data | columns |", "|---|---|---|---|"]
    for name, spec in REGISTRY.items():
        cells = []
        for c, n in families(spec.columns(README_CONFIG)):
            label = f"`{c.name}`" if n == 1 else f"`{c.pattern}` ({n})"
            cells.append(f"{'summary ' if c.summary else ''}{label}: {c.meaning}")
        rows.append(f"| {name} | `{spec.script}` | `{spec.data_flag}` | {'; '.join(cells)} |")
    return "\n".join([README_BEGIN, *rows, README_END])


def parser(prog: str):
    """The listing's flags: ``--all``, ``--readme`` and the declared options the columns depend on."""
    p = OneLineErrors(prog=prog, description="each benchmark's data and the columns it writes")
    p.add_argument("--all", action="store_true", help="every column, not one line per family")
    p.add_argument("--readme", action="store_true", help="the column table of docs/benchmarks.md (markdown)")
    for option in options_of():
        if option.columns:
            option.add_to(p)
    return p


def main(argv=None, prog: str = "biasbench benchmarks") -> int:
    from ..errors import UserError, exit_status

    args = parser(prog).parse_args(argv)
    try:
        print(readme_table() if args.readme else describe(Config.from_values(vars(args)), every_column=args.all))
    except UserError as e:
        return exit_status(e)
    return 0

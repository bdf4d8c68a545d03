"""Writes checkpoints.md (repository root) from the registry: ``python -m biasbench.zoo.checkpoints_md``.

``--check`` exits 1 when the file differs from what the registry generates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .paper_models import PAPER_CATEGORIES
from .registry import EXTRA, NOT_AVAILABLE, ModelEntry, registry
from .safe_load import ALLOW_LIST_SUMMARY

REPO_FILE = Path(__file__).resolve().parents[3] / "checkpoints.md"


def _fmt(v: tuple[float, ...]) -> str:
    return ", ".join(f"{x:g}" for x in v)


def _row(e: ModelEntry) -> str:
    sources = "<br>".join((f"{s.role}: " if len(e.sources) > 1 else "") + s.describe() for s in e.sources)
    arch = e.architecture + (f" ({', '.join(f'{k}={v}' for k, v in e.arch_kwargs.items())})" if e.arch_kwargs else "")
    notes = ("**unverified source.** " if not e.verified else "") + e.notes
    cells = [f"`{e.name}`", e.category, f"`{arch}`", sources, f"`{e.converter.__name__}`",
             f"mean ({_fmt(e.mean)}), std ({_fmt(e.std)}): {e.norm_source}", notes]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render() -> str:
    reg = registry()
    order = [*PAPER_CATEGORIES, EXTRA]
    entries = sorted(reg.values(), key=lambda e: order.index(e.category))
    n_paper = sum(e.category != EXTRA for e in entries)
    lines = [
        "# Checkpoints",
        "",
        "Generated from the registry (`code/biasbench/zoo/registry.py`) by "
        "`python -m biasbench.zoo.checkpoints_md`; do not edit by hand.",
        "",
        f"{n_paper} checkpoints analysed in the paper (categories as in its analysis) and "
        f"{len(entries) - n_paper} extras of its results table (category `extra`). Every model takes RGB in "
        "[0,1]; the wrapper applies the normalisation listed. Converters are the functions of "
        "`code/biasbench/zoo/converters.py`. Fetch files ahead of time with "
        "`python code/prefetch.py --models NAMES` (or `--category C`, `--all`).",
        "",
        "| name | category | architecture | source | converter | normalisation | notes |",
        "|---|---|---|---|---|---|---|",
        *(_row(e) for e in entries),
        "",
        "## In the paper's table but not loadable here",
        "",
        *(f"- `{n}`: {why}" for n, why in NOT_AVAILABLE.items()),
        "",
        "## Safe loading",
        "",
        "Checkpoints load with `torch.load(weights_only=True)`; besides tensors and plain containers the "
        f"allow-list admits {ALLOW_LIST_SUMMARY}. Anything else is refused, naming the object, unless "
        "`--trust-checkpoint` is given.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=REPO_FILE)
    p.add_argument("--check", action="store_true", help="exit 1 if --out is not what the registry generates")
    args = p.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python -m biasbench.zoo.checkpoints_md", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

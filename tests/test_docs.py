"""The README and the pages of docs/: every relative link resolves (README "More")."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def _links(page: Path):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks hold no links
    return [m.group(1) for m in LINK.finditer(text) if "://" not in m.group(1)]


def test_every_relative_link_resolves():
    broken = [f"{page.relative_to(REPO)} -> {target}" for page in PAGES for target in _links(page)
              if not (page.parent / target).exists()]
    assert not broken, "links to nothing: " + "; ".join(broken)


def test_every_page_is_linked_from_the_readme():
    linked = {(REPO / t).resolve() for t in _links(REPO / "README.md")}
    orphans = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not orphans, f"docs pages the README does not link: {orphans}"


def test_the_readme_fits_on_a_few_screens():
    assert len((REPO / "README.md").read_text().splitlines()) <= 220

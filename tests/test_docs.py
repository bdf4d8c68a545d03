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


CITE = re.compile(r'(README|docs/[\w-]+\.md)(?:\s*(?:"([^"\n]+)"|\(([^)\n]+)\)))?')
SECTION_LEAD = re.compile(r"^(?:#+\s+(.+)|(?:[-*]\s+)?\*\*(.+?)\*\*)", re.M)


def _sections(page: Path) -> set[str]:
    """A page's headings and bold paragraph leads (``**Downloads and cache.**``), without trailing dots/colons."""
    return {(a or b).strip().rstrip(".:") for a, b in SECTION_LEAD.findall(page.read_text())}


def test_every_docstring_citation_names_a_page_and_section_that_exist():
    """Code, bench scripts and tests cite a docs page, optionally with a quoted section, or the README: each
    page must exist and each section must start one of its headings or bold paragraph leads."""
    broken = []
    for f in [*(REPO / "code").rglob("*.py"), *(REPO / "bench").glob("*.py"), *(REPO / "tests").glob("*.py")]:
        for m in CITE.finditer(f.read_text()):
            page = REPO / ("README.md" if m.group(1) == "README" else m.group(1))
            section = m.group(2)
            if not page.exists():
                broken.append(f"{f.relative_to(REPO)}: {m.group(0)} (no such page)")
            elif section and not any(s.startswith(section.rstrip(".:")) for s in _sections(page)):
                broken.append(f"{f.relative_to(REPO)}: {m.group(0)} (no such section)")
    assert not broken, "citations of nothing: " + "; ".join(broken)

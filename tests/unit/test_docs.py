"""The README stays short and every page it leads to is there: its length, and each relative
link of README.md and docs/*.md, to a file and to a heading in it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
README_MAX_LINES = 250

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")  # link text may wrap
_HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)


def prose(text: str) -> str:
    """The Markdown without code: a link-like text in a code block is no link."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def links(page: Path) -> list[str]:
    return _LINK.findall(prose(page.read_text(encoding="utf-8")))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces
    as hyphens, and -1, -2, … after a heading's second and later namesakes."""
    seen: Counter[str] = Counter()
    found = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found


def test_anchors_are_the_ones_github_gives_headings(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# The `cronguard` command line\n\n## Tracing off, and the guard's payloads\n\n"
        "## Notes\n\n```text\n# not a heading\n```\n\n## Notes\n",
        encoding="utf-8",
    )

    assert anchors(page) == {
        "the-cronguard-command-line",
        "tracing-off-and-the-guards-payloads",
        "notes",
        "notes-1",
    }


def test_links_in_code_are_not_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "See [ops](docs/operations.md), [a wrapped\nlink](docs/design.md) and "
        "`[x](nowhere.md)`.\n\n```md\n[y](gone.md)\n```\n",
        encoding="utf-8",
    )

    assert links(page) == ["docs/operations.md", "docs/design.md"]


def test_the_readme_is_at_most_250_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")

    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move detail into docs/"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda page: page.relative_to(ROOT).name)
def test_every_relative_link_leads_to_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …: not checked here
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")

    assert broken == []


def test_the_readme_links_every_page_of_docs() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(README)}

    assert [page.name for page in DOCS if page not in linked] == []

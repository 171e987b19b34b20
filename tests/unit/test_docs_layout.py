"""The docs' table of contents has its four parts, and no page a user reads runs past ~2,500 words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
INDEX = (DOCS / "index.rst").read_text()
PARTS = ["Getting started", "How-to guides", "Reference", "Contributing"]
#: Words of reStructuredText source; the autodoc pages (api-*) are looked up, not read through.
MAX_WORDS = 2500


def _toctrees() -> dict[str, list[str]]:
    """Each toctree of the index: its caption and its pages."""
    trees = {}
    for block in re.split(r"^\.\. toctree::\n", INDEX, flags=re.MULTILINE)[1:]:
        caption = re.search(r"^   :caption: (.+)$", block, flags=re.MULTILINE)
        assert caption, "every toctree of the index has a caption"
        pages = re.findall(r"^   ([a-z0-9][\w/-]*)$", block.split("\n\n", 1)[1], flags=re.MULTILINE)
        trees[caption.group(1)] = pages
    return trees


def test_the_index_has_the_four_parts_in_order() -> None:
    assert list(_toctrees()) == PARTS


def test_every_page_is_in_one_part() -> None:
    listed = [page for pages in _toctrees().values() for page in pages]
    assert len(listed) == len(set(listed)), "a page listed twice"
    on_disk = sorted(path.stem for path in DOCS.glob("*.rst") if path.stem != "index")
    assert sorted(listed) == on_disk


@pytest.mark.parametrize(
    "page",
    [p for p in sorted(DOCS.glob("*.rst")) if not p.stem.startswith("api-") and p.stem != "changelog"],
    ids=lambda p: p.stem,
)
def test_no_user_page_runs_past_the_limit(page: Path) -> None:
    words = len(page.read_text().split())
    assert words <= MAX_WORDS, f"{page.name} has {words} words: split it (see docs/index.rst for the parts)"

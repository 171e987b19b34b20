"""One source of the version: ``__version__``; the changelog's top section and the wheel follow it."""

from __future__ import annotations

import re
from pathlib import Path

from airflow_provider_dataops import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_the_changelog_top_section_is_the_package_version() -> None:
    text = (ROOT / "docs" / "changelog.rst").read_text()
    # A section title is a line followed by an underline of "-" as long as it.
    titles = re.findall(r"^(\S[^\n]*)\n-+\n", text, flags=re.MULTILINE)
    assert titles, "the changelog has no sections"
    assert titles[0] == __version__, f"the changelog's top section is {titles[0]!r}, the package is {__version__!r}"


def test_the_build_reads_the_version_from_the_package() -> None:
    # pyproject.toml declares no version of its own: setuptools reads __version__.
    pyproject = (ROOT / "pyproject.toml").read_text()
    project = pyproject.split("\n[project]\n", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^dynamic = \["version"\]$', project, flags=re.MULTILINE)
    assert not re.search(r"^version = ", project, flags=re.MULTILINE)
    assert re.search(
        r'^\[tool\.setuptools\.dynamic\]\nversion = \{ attr = "airflow_provider_dataops\.__version__" \}$',
        pyproject,
        flags=re.MULTILINE,
    )


def test_the_version_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)

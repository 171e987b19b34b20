"""One source of the version: ``__version__``; the changelog's top section and the wheel follow it."""

from __future__ import annotations

import re
import tomllib
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
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "airflow_provider_dataops.__version__"}


def test_the_version_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)

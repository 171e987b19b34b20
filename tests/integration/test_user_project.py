"""The user project shown in docs/testing-dags.rst passes, installed the way a user installs the package.

The docs' files are copied into a temporary folder and run with pytest from a venv of their own
(no access to this venv's packages), where ``<checkout>[emulator] pytest apache-airflow==<the version
under test>`` is installed from the package index. With uv (the one ``make`` installs into
``.tools/``, or one on PATH) that takes seconds, within the repository's lock of the versions
(``constraints/``); without it, ``python -m venv`` and pip take about two minutes. The venv is kept in
pytest's cache folder, keyed on everything that decides its contents (pyproject.toml, the lock, the
Airflow and Python versions); on later runs only this package is reinstalled from the checkout.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Tooling of this repository: checked once, on Airflow 3.3 (`make test` skips it on 2.11).
pytestmark = [pytest.mark.integration, pytest.mark.once]

ROOT = Path(__file__).resolve().parents[2]
USER_PROJECT = ROOT / "docs" / "examples" / "user_project"
PIP = ("-m", "pip", "--disable-pip-version-check", "--quiet")


def _checkout_copy(target: Path) -> Path:
    """What ``pip install <checkout>`` needs, copied, so the build leaves the checkout clean."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(
        ROOT / "airflow_provider_dataops",
        target / "airflow_provider_dataops",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return target


def _uv() -> str | None:
    tools = ROOT / ".tools" / "bin" / "uv"
    return str(tools) if tools.exists() else shutil.which("uv")


def _lock(airflow_version: str) -> Path | None:
    """The repository's lock for this Airflow line and Python version, as ``make`` uses it."""
    line = ".".join(airflow_version.split(".")[:2])
    path = ROOT / "constraints" / f"airflow-{line}-python{sys.version_info[0]}.{sys.version_info[1]}.txt"
    return path if path.exists() else None


def _installer(venv: Path) -> tuple[list[str | Path], list[str | Path]]:
    """How to create ``venv`` and how to install into it: uv when there is one, else venv + pip."""
    python = venv / "bin" / "python"
    uv = _uv()
    if uv is None:
        return [sys.executable, "-m", "venv", venv], [python, *PIP, "install"]
    return [uv, "venv", "--quiet", "--python", sys.executable, venv], [
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
    ]


@pytest.fixture(scope="session")
def user_venv(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    airflow_version = importlib.metadata.version("apache-airflow")
    lock = _lock(airflow_version)
    key = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes()
        + (lock.read_bytes() if lock is not None else b"")
        + f"{airflow_version} {sys.version} {_uv()}".encode()
    ).hexdigest()[:16]
    cache = getattr(pytestconfig, "cache", None)
    home = cache.mkdir(f"user-venv-{key}") if cache is not None else tmp_path_factory.mktemp("user-venv")
    venv, ready = home / "venv", home / "ready"
    create, install = _installer(venv)
    source = _checkout_copy(tmp_path_factory.mktemp("checkout"))
    if ready.exists():
        subprocess.run([*install, "--no-deps", "--reinstall" if _uv() else "--force-reinstall", source], check=True)
    else:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run(create, check=True)
        constraint = ["--constraint", lock] if lock is not None else []
        subprocess.run(
            [*install, *constraint, f"{source}[emulator]", "pytest", f"apache-airflow=={airflow_version}"], check=True
        )
        ready.touch()
    return venv


def test_the_docs_user_project_passes(user_venv: Path, tmp_path: Path) -> None:
    project = tmp_path / "my-project"
    shutil.copytree(USER_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    # A user's shell: none of this session's Airflow or pytest settings, the user venv first on PATH.
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "PYTEST", "VIRTUAL_ENV"))
    }
    env["PATH"] = f"{user_venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [user_venv / "bin" / "python", "-m", "pytest", "-q"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert re.search(r"^3 passed\b", result.stdout, flags=re.MULTILINE), result.stdout[-2000:]

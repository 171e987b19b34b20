"""The user project shown in docs/testing-dags.rst passes, installed the way a user installs the package.

The docs' files are copied into a temporary folder and run with pytest from a venv of their own:
``python -m venv`` (no access to this venv's packages), then ``pip install <checkout>[emulator]
pytest apache-airflow==<the version under test>`` from the package index. Building that venv takes
about two minutes with a warm pip cache, so it is kept in pytest's cache folder, keyed on everything
that decides its contents (pyproject.toml, the Airflow and Python versions); on later runs only
this package is reinstalled from the checkout (a wheel build, a few seconds).
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

pytestmark = pytest.mark.integration

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


@pytest.fixture(scope="session")
def user_venv(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    airflow_version = importlib.metadata.version("apache-airflow")
    key = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + f"{airflow_version} {sys.version}".encode()
    ).hexdigest()[:16]
    cache = getattr(pytestconfig, "cache", None)
    home = cache.mkdir(f"user-venv-{key}") if cache is not None else tmp_path_factory.mktemp("user-venv")
    venv, ready = home / "venv", home / "ready"
    python = venv / "bin" / "python"
    source = _checkout_copy(tmp_path_factory.mktemp("checkout"))
    if ready.exists():
        subprocess.run([python, *PIP, "install", "--no-deps", "--force-reinstall", source], check=True)
    else:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run(
            [python, *PIP, "install", f"{source}[emulator]", "pytest", f"apache-airflow=={airflow_version}"],
            check=True,
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

"""The test kit: pytest loads it by itself; it touches nothing until asked, and isolates Airflow in time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

pytestmark = pytest.mark.integration

PLUGIN = "airflow_provider_dataops.testing.pytest_plugin"


def run_pytest(project: Path, *, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """pytest in ``project`` from this venv (where the package is installed), with the user's own AIRFLOW_HOME."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "PYTEST"))}
    env["AIRFLOW_HOME"] = str(project / "users-airflow-home")
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard, for a busy machine (105 s at load 12 on 2 cores)
    )


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text))


UNTOUCHED = f"""
    import os, sys, threading

    def test_untouched(request):
        assert request.config.pluginmanager.has_plugin("{PLUGIN}")
        assert os.environ["AIRFLOW_HOME"].endswith("users-airflow-home")
        assert "AIRFLOW__CORE__DAGS_FOLDER" not in os.environ
        assert not [name for name in sys.modules if name == "airflow" or name.startswith("airflow.")]
        assert not [name for name in sys.modules if name.startswith("airflow_provider_dataops.emulator")]
        assert not [thread for thread in threading.enumerate() if thread.name.startswith("dataops")]
"""


def test_a_session_without_kit_fixtures_is_left_alone(tmp_path: Path) -> None:
    write(tmp_path / "test_plain.py", UNTOUCHED)
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_kit_loads_without_the_emulator_extra(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    write(shadow / "starlette.py", "raise ModuleNotFoundError(\"No module named 'starlette'\", name='starlette')\n")
    write(tmp_path / "project" / "test_plain.py", UNTOUCHED)
    write(tmp_path / "project" / "test_emulator.py", "def test_needs_it(dataops_emulator):\n    pass\n")
    result = run_pytest(tmp_path / "project", extra_path=shadow)
    assert "1 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "pip install 'airflow-provider-dataops[emulator]'" in result.stdout


def test_the_ini_option_isolates_airflow_before_any_conftest_imports_it(tmp_path: Path) -> None:
    write(tmp_path / "pytest.ini", "[pytest]\ndataops_dags_folder = dags\n")
    write(tmp_path / "dags" / "empty.py", "")
    write(
        tmp_path / "conftest.py",
        """
        import airflow  # imported at collection time, as many conftests do
        from airflow.configuration import conf

        SEEN = {
            "dags_folder": conf.get("core", "dags_folder"),
            "load_examples": conf.getboolean("core", "load_examples"),
            "sql_alchemy_conn": conf.get("database", "sql_alchemy_conn"),
        }
        """,
    )
    write(
        tmp_path / "test_home.py",
        """
        import os
        from pathlib import Path

        from conftest import SEEN


        def test_isolated(dataops_airflow):
            home = dataops_airflow.home
            assert not str(home).endswith("users-airflow-home")
            assert os.environ["AIRFLOW_HOME"] == str(home)
            assert SEEN["dags_folder"] == str(Path("dags").resolve())
            assert SEEN["load_examples"] is False
            assert SEEN["sql_alchemy_conn"] == f"sqlite:///{home}/airflow.db"
            assert (home / "airflow.db").exists()  # migrated
        """,
    )
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_a_missing_dags_folder_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path / "pytest.ini", "[pytest]\ndataops_dags_folder = no-such-folder\n")
    write(tmp_path / "test_plain.py", "def test_nothing():\n    pass\n")
    result = run_pytest(tmp_path)
    assert result.returncode == 4  # pytest's usage error
    assert "dataops_dags_folder = 'no-such-folder'" in result.stderr
    assert "is not a folder" in result.stderr


def test_without_the_ini_option_airflow_is_isolated_lazily_or_the_error_says_what_to_do(tmp_path: Path) -> None:
    write(
        tmp_path / "lazy" / "test_lazy.py",
        """
        import os


        def test_isolated_on_first_use(dataops_airflow):
            assert os.environ["AIRFLOW_HOME"] == str(dataops_airflow.home)
            assert dataops_airflow.dags_folder is None


        def test_run_dag_needs_the_dags_folder(dataops_run_dag):
            pass
        """,
    )
    write(tmp_path / "late" / "test_late.py", "import airflow\n\n\ndef test_too_late(dataops_airflow):\n    pass\n")
    lazy = run_pytest(tmp_path / "lazy")
    assert "1 passed, 1 error" in lazy.stdout, lazy.stdout + lazy.stderr
    assert "dataops_run_dag needs the folder of your DAG files" in lazy.stdout
    # The ini snippet is shown on lines of its own, ready to copy (not with a literal "\\n").
    assert re.search(r"^E\s+\[pytest\]\nE\s+dataops_dags_folder = dags$", lazy.stdout, flags=re.MULTILINE)
    [message] = [line for line in lazy.stdout.splitlines() if line.startswith("E ") and "needs the folder" in line]
    assert "\\n" not in message
    late = run_pytest(tmp_path / "late")
    assert "1 error" in late.stdout, late.stdout + late.stderr
    assert "Airflow was imported before the DataOps.live test kit could give it an isolated home" in late.stdout

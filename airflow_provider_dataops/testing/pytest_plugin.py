"""The DataOps.live test kit for pytest: an isolated Airflow, the emulator, and ``dataops_run_dag``.

pytest loads this plugin by itself once the package is installed (entry point ``pytest11``). A
session that uses none of its fixtures is left alone: no Airflow import, no environment change,
no server. Opt in with the ini option ``dataops_dags_folder``; the kit then gives Airflow a
temporary home, a SQLite metadata DB and your dags folder (no example DAGs) as pytest starts,
before any ``conftest.py`` or test module can import Airflow.

Fixtures:

* ``dataops_run_dag(dag_id, *, conf=None, logical_date=None)`` runs a DAG of the dags folder the
  way ``airflow dags test`` does and returns a
  :class:`~airflow_provider_dataops.testing.dag_runs.DagRunResult`.
* ``dataops_emulator``: the session's emulator, reset to its seeded state for each test.
* ``dataops_emulator_server`` (session): the same emulator without the reset, started from
  ``dataops_emulator_options`` (session; override it, default ``{}``).
* ``dataops_connection_env``: ``dataops_emulator`` with ``AIRFLOW_CONN_DATAOPS_DEFAULT`` pointing at it.
* ``dataops_airflow`` (session): the isolated Airflow with its metadata DB migrated.

Nothing here imports Airflow or the emulator at module level, so the plugin loads even without
the ``emulator`` extra; only its fixtures need it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_dataops.testing.airflow_home import (
    AirflowImportedTooEarlyError,
    IsolatedAirflow,
    migrate_metadata_db,
)

if TYPE_CHECKING:
    from airflow_provider_dataops.emulator.server import DataOpsEmulator
    from airflow_provider_dataops.testing.dag_runs import DagRunner

DAGS_FOLDER_INI = "dataops_dags_folder"
CONNECTION_ENV = "AIRFLOW_CONN_DATAOPS_DEFAULT"
_ISOLATED = pytest.StashKey[IsolatedAirflow]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ini option ``dataops_dags_folder``."""
    parser.addini(
        DAGS_FOLDER_INI,
        "DataOps.live test kit: the folder of your DAG files (relative to the ini file). Setting it "
        "gives the session an isolated Airflow (temporary home, SQLite DB, no example DAGs) from the start.",
        type="string",
        default="",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Isolate Airflow now if the user opted in: before any ``conftest.py`` can import it.

    Only plugins loaded from entry points (or ``-p``) see this hook.
    """
    _isolate_if_opted_in(early_config)


def pytest_configure(config: pytest.Config) -> None:
    """Isolate Airflow if the plugin arrived late (``pytest_plugins`` with autoloading off)."""
    _isolate_if_opted_in(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore the environment and delete the temporary Airflow home."""
    isolated = config.stash.get(_ISOLATED, None)
    if isolated is not None:
        isolated.restore()
        del config.stash[_ISOLATED]


def _dags_folder(config: pytest.Config) -> Path | None:
    value = str(config.getini(DAGS_FOLDER_INI) or "").strip()
    if not value:
        return None
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    folder = (base / value).resolve()
    if not folder.is_dir():
        raise pytest.UsageError(f"{DAGS_FOLDER_INI} = {value!r}: {folder} is not a folder")
    return folder


def _isolate_if_opted_in(config: pytest.Config) -> None:
    if _ISOLATED in config.stash:
        return
    folder = _dags_folder(config)
    if folder is None:
        return
    try:
        config.stash[_ISOLATED] = IsolatedAirflow.apply(folder)
    except AirflowImportedTooEarlyError as error:
        raise pytest.UsageError(
            f"{error} It was already imported when the plugin was loaded (autoloading disabled?); "
            "load it early with `-p airflow_provider_dataops.testing.pytest_plugin`."
        ) from None


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dataops_emulator_options() -> dict[str, Any]:
    """Keyword arguments for the session's :class:`DataOpsEmulator`; override to customise.

    :returns: e.g. ``{"clock": "manual"}``; empty by default (real clock, 10-second pipelines).
    """
    return {}


@pytest.fixture(scope="session")
def dataops_emulator_server(dataops_emulator_options: dict[str, Any]) -> Iterator[DataOpsEmulator]:
    """The emulator, serving for the whole session on a free port of 127.0.0.1.

    :returns: the running emulator (not reset between tests; use ``dataops_emulator`` for that).
    """
    from airflow_provider_dataops.emulator.server import DataOpsEmulator

    with DataOpsEmulator(**dataops_emulator_options) as emulator:
        yield emulator


@pytest.fixture
def dataops_emulator(dataops_emulator_server: DataOpsEmulator) -> DataOpsEmulator:
    """The session's emulator, reset to its seeded state before the test.

    :returns: the running emulator.
    """
    dataops_emulator_server.reset()
    return dataops_emulator_server


@pytest.fixture
def dataops_connection_env(dataops_emulator: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch) -> DataOpsEmulator:
    """Point Airflow's default DataOps connection (``AIRFLOW_CONN_DATAOPS_DEFAULT``) at the emulator.

    :returns: the running, freshly reset emulator.
    """
    monkeypatch.setenv(CONNECTION_ENV, dataops_emulator.airflow_connection_json())
    return dataops_emulator


@pytest.fixture(scope="session")
def dataops_airflow(pytestconfig: pytest.Config) -> IsolatedAirflow:
    """The session's isolated Airflow, its metadata DB migrated once.

    Set up at start-up when ``dataops_dags_folder`` is set; otherwise here, if Airflow has not
    been imported yet.

    :returns: its home and dags folder.
    :raises pytest.UsageError: if Airflow was imported before it could be isolated.
    """
    if _ISOLATED not in pytestconfig.stash:
        try:
            pytestconfig.stash[_ISOLATED] = IsolatedAirflow.apply(None)
        except AirflowImportedTooEarlyError as error:
            raise pytest.UsageError(str(error)) from None
    migrate_metadata_db()
    return pytestconfig.stash[_ISOLATED]


@pytest.fixture
def dataops_run_dag(dataops_airflow: IsolatedAirflow, dataops_connection_env: DataOpsEmulator) -> DagRunner:
    """Run a DAG of your dags folder against the emulator: ``dataops_run_dag(dag_id, *, conf, logical_date)``.

    With the emulator's manual clock the run never waits for pipeline time: the provider's waits
    move the emulator's clock instead (see :func:`~airflow_provider_dataops.testing.dag_runs.virtual_time`).

    :returns: a callable returning a :class:`~airflow_provider_dataops.testing.dag_runs.DagRunResult`.
    """
    if dataops_airflow.dags_folder is None:
        raise pytest.UsageError(
            f"dataops_run_dag needs the folder of your DAG files: set the ini option {DAGS_FOLDER_INI}, "
            f"e.g. in pytest.ini:\n\n    [pytest]\n    {DAGS_FOLDER_INI} = dags\n\n"
            f'or in pyproject.toml, under [tool.pytest.ini_options]: {DAGS_FOLDER_INI} = "dags"'
        )
    from airflow_provider_dataops.testing.dag_runs import DagRunner

    return DagRunner(dataops_connection_env)

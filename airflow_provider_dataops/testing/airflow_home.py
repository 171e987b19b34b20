"""An Airflow of the test session's own: home, SQLite metadata DB, dags folder, no example DAGs.

Airflow reads its configuration once, when it is first imported, so these settings only count if
they are in the environment before that import. The pytest plugin applies them at start-up when
the user names a dags folder, otherwise on the first test that needs Airflow.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


class AirflowImportedTooEarlyError(RuntimeError):
    """Airflow was imported before its home could be isolated; its settings are already fixed."""


@dataclass
class IsolatedAirflow:
    """Environment settings that give Airflow a throw-away home; :meth:`restore` undoes them.

    :param home: the temporary ``AIRFLOW_HOME`` (metadata DB ``airflow.db`` inside it).
    :param dags_folder: the user's dags folder, or ``None`` when none was configured.
    """

    home: Path
    dags_folder: Path | None
    _saved: dict[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def apply(cls, dags_folder: Path | None) -> IsolatedAirflow:
        """Create the home and set the environment.

        :param dags_folder: the folder of the user's DAG files, or ``None``.
        :raises AirflowImportedTooEarlyError: if Airflow is already imported.
        """
        if "airflow" in sys.modules:
            raise AirflowImportedTooEarlyError(
                "Airflow was imported before the DataOps.live test kit could give it an isolated home. "
                "Set the ini option `dataops_dags_folder` (e.g. in pytest.ini) so the kit does it when "
                "pytest starts, before any conftest.py or test module is imported."
            )
        home = Path(tempfile.mkdtemp(prefix="dataops-airflow-home-"))
        settings = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder if dags_folder is not None else home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            # Airflow 2 would otherwise write ~60 sample connections into every new DB.
            "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        }
        isolated = cls(home=home, dags_folder=dags_folder)
        isolated._saved = {name: os.environ.get(name) for name in settings}
        os.environ.update(settings)
        return isolated

    def restore(self) -> None:
        """Put the environment back as it was and delete the home."""
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved = {}
        shutil.rmtree(self.home, ignore_errors=True)


def migrate_metadata_db() -> None:
    """Create the (empty) metadata DB's tables, as ``airflow db migrate`` does."""
    from airflow.utils import db

    db.initdb()

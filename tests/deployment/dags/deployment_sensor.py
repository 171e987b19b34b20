"""Test-only DAGs for the deployment suite: one DataOpsPipelineSensor each, in every mode.

The run's conf names the watched pipeline (``project`` and ``pipeline_id``): the test starts it
itself, in a project of its own, so it can count that the sensor never starts or cancels one.

``mode="reschedule"`` keeps ``poke_interval`` at 20 s: a shorter one can lose a race in Airflow
3.3.2's scheduler (see docs/sensor.rst, "Reschedule mode and Airflow 3.3's scheduler").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.sensors.pipeline import DataOpsPipelineSensor

#: Poke interval in reschedule mode: well above the lag of the executor's report of the last poke.
RESCHEDULE_POKE_INTERVAL = 20


def _dag(dag_id: str, **sensor_kwargs: Any) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=32,
        tags=["deployment-test"],
    ) as dag:
        DataOpsPipelineSensor(
            task_id="watch",
            project="{{ dag_run.conf['project'] }}",
            pipeline_id="{{ dag_run.conf['pipeline_id'] }}",
            poke_interval=sensor_kwargs.pop("poke_interval", 3),
            timeout=sensor_kwargs.pop("timeout", 600),
            retries=sensor_kwargs.pop("retries", 1),
            retry_delay=timedelta(seconds=2),
            **sensor_kwargs,
        )
    return dag


# Waiting on the worker (poke), between pokes (reschedule), and in the triggerer (deferrable).
deploy_sensor_poke = _dag("deploy_sensor_poke", mode="poke")
deploy_sensor_reschedule = _dag("deploy_sensor_reschedule", mode="reschedule", poke_interval=RESCHEDULE_POKE_INTERVAL)
deploy_sensor_deferred = _dag("deploy_sensor_deferred", deferrable=True)
# Limits: the sensor's own timeout in each mode, and Airflow's execution_timeout.
deploy_sensor_poke_timeout = _dag("deploy_sensor_poke_timeout", mode="poke", timeout=20)
deploy_sensor_reschedule_timeout = _dag(
    "deploy_sensor_reschedule_timeout", mode="reschedule", poke_interval=RESCHEDULE_POKE_INTERVAL, timeout=30
)
deploy_sensor_deferred_timeout = _dag("deploy_sensor_deferred_timeout", deferrable=True, timeout=20)
deploy_sensor_execution_timeout = _dag(
    "deploy_sensor_execution_timeout", mode="poke", retries=0, execution_timeout=timedelta(seconds=20)
)

"""Run a DAG from the user's dags folder the way ``airflow dags test`` does, against the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

from airflow_provider_dataops.api import retry

if TYPE_CHECKING:
    from airflow_provider_dataops.emulator.server import DataOpsEmulator

#: With the manual clock, a wait of the provider moves the emulator's clock instead of the wall
#: clock; this little real pause keeps a polling loop from spinning.
REAL_PAUSE = 0.01
#: ... and a ticker moves it ``TICK_SECONDS`` every ``TICK_INTERVAL`` real seconds (20x real
#: time), for waits the provider does not own (a poke-mode sensor's ``poke_interval``).
TICK_INTERVAL = 0.05
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class DagRunResult:
    """What a DAG test produced.

    :param dag_id: the DAG.
    :param run_id: the DAG run's id.
    :param state: the DAG run's state, e.g. ``"success"`` or ``"failed"``.
    :param task_states: task id (``task_id[map_index]`` for mapped tasks) to state, e.g.
        ``"success"``, ``"failed"``, ``"upstream_failed"``; ``"none"`` for a task that never ran.
    :param pipelines: the emulator's pipelines created during the run, oldest first, each as
        :meth:`DataOpsEmulator.pipelines` returns it (status as of the run's end).
    """

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    pipelines: list[dict[str, Any]]


class DagRunner:
    """``dataops_run_dag``: runs one DAG per call against the emulator.

    :param emulator: the running emulator that ``AIRFLOW_CONN_DATAOPS_DEFAULT`` points at.
    """

    def __init__(self, emulator: DataOpsEmulator) -> None:
        self.emulator = emulator

    def __call__(
        self, dag_id: str, *, conf: Mapping[str, Any] | None = None, logical_date: datetime | None = None
    ) -> DagRunResult:
        """Run the DAG to its end and report what happened.

        :param dag_id: a DAG of the dags folder (ini option ``dataops_dags_folder``).
        :param conf: the DAG run's ``conf`` (``dag_run.conf`` in templates).
        :param logical_date: a timezone-aware logical date; default now, as ``airflow dags test``.
        :returns: the run's state, its tasks' states and the pipelines it created.
        :raises ValueError: for a bad argument, before anything runs.
        """
        if not isinstance(dag_id, str) or not dag_id:
            raise ValueError(f"dag_id must be a non-empty string, not {dag_id!r}")
        if conf is not None and not isinstance(conf, Mapping):
            raise ValueError(f"conf must be a dict, not {type(conf).__name__}")
        if logical_date is not None and (not isinstance(logical_date, datetime) or logical_date.tzinfo is None):
            raise ValueError(f"logical_date must be a timezone-aware datetime, not {logical_date!r}")
        before = {(p["project_id"], p["id"]) for p in self.emulator.pipelines()}
        with virtual_time(self.emulator):
            dag_run = _dag_test(dag_id, dict(conf) if conf is not None else None, logical_date)
        created = [p for p in self.emulator.pipelines() if (p["project_id"], p["id"]) not in before]
        return DagRunResult(
            dag_id=dag_id,
            run_id=dag_run.run_id,
            state=state_name(dag_run.state),
            task_states=_task_states(dag_id, dag_run.run_id),
            pipelines=created,
        )


def _dag_test(dag_id: str, conf: dict[str, Any] | None, logical_date: datetime | None) -> Any:
    """``airflow dags test DAG_ID``: parse the DAG from the dags folder, then ``dag.test()``."""
    from airflow import __version__ as airflow_version

    logical_date = logical_date or datetime.now(timezone.utc)
    if int(airflow_version.split(".")[0]) >= 3:
        # Parsed from the dags-folder bundle and written to the DB, or dag.test() finds no
        # serialized DAG to run.
        from airflow.utils.cli import get_bagged_dag

        return get_bagged_dag(None, dag_id).test(logical_date=logical_date, run_conf=conf)
    from airflow.utils.cli import get_dag  # type: ignore[attr-defined]  # Airflow 2

    return get_dag(None, dag_id).test(execution_date=logical_date, run_conf=conf)


def _task_states(dag_id: str, run_id: str) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
            .all()
        )
    return {(task if index < 0 else f"{task}[{index}]"): state_name(state) for task, index, state in rows}


def state_name(state: object) -> str:
    """Airflow's state as a plain string: ``"success"``, ..., ``"none"`` for no state.

    :param state: a ``DagRunState``/``TaskInstanceState``, a string or ``None``.
    """
    if state is None:
        return "none"
    return str(state.value) if isinstance(state, Enum) else str(state)


@contextlib.contextmanager
def virtual_time(emulator: DataOpsEmulator) -> Iterator[None]:
    """With the emulator's manual clock, make the DAG's waiting move emulator time, not wall time.

    * Every wait of the provider (poll intervals, retry back-off, ``Retry-After``) goes through
      :func:`airflow_provider_dataops.api.retry.sleep` / ``async_sleep``; inside this block they
      advance the emulator's clock by the requested seconds and pause only :data:`REAL_PAUSE`.
      A poll every 60 s of a 10-minute pipeline therefore costs ten quick requests, and rate-limit
      windows (which follow the emulator's clock) pass exactly as they would.
    * Waits the provider does not own (a poke-mode sensor sleeps in Airflow) still take real
      time; a ticker thread moves the clock at 20x real time meanwhile, so those end too.

    Deadlines (``timeout``, ``execution_timeout``) stay in wall time. With the real clock this
    changes nothing.

    :param emulator: the emulator the DAG talks to.
    """
    if emulator.state.clock.mode != "manual":
        yield
        return
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        emulator.advance(max(0.0, seconds))
        time.sleep(min(max(0.0, seconds), REAL_PAUSE))

    async def async_sleep(seconds: float) -> None:
        emulator.advance(max(0.0, seconds))
        await asyncio.sleep(min(max(0.0, seconds), REAL_PAUSE))

    def tick() -> None:
        while not stop.wait(TICK_INTERVAL):
            emulator.advance(TICK_SECONDS)

    ticker = threading.Thread(target=tick, name="dataops-emulator-clock", daemon=True)
    saved = retry.sleep, retry.async_sleep
    retry.sleep, retry.async_sleep = sleep, async_sleep
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
        retry.sleep, retry.async_sleep = saved

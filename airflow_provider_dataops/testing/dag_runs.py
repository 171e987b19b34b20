"""Run a DAG from the user's dags folder the way ``airflow dags test`` does, against the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

import pluggy

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

#: Marks a listener method for Airflow's listener manager (a pluggy plugin manager named "airflow").
_airflow_hookimpl = pluggy.HookimplMarker("airflow")


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
    :param errors: task id (as in ``task_states``) to ``"<ExceptionType>: <message>"`` for each task
        that ended ``failed`` or ``up_for_retry``: what its last try raised.
    :param xcoms: ``(task id, key)`` to the value the run's tasks pushed; read it with :meth:`xcom`.
    """

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    pipelines: list[dict[str, Any]]
    errors: dict[str, str] = field(default_factory=dict)
    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        """The XCom a task pushed in this run.

        :param task_id: the task (``task_id[map_index]`` for one mapped task instance).
        :param key: the XCom key; by default the task's return value.
        :returns: the value, deserialized as a downstream task would receive it.
        :raises KeyError: if the task pushed nothing under that key; the message lists what it pushed.
        """
        try:
            return self.xcoms[(task_id, key)]
        except KeyError:
            pushed = sorted(k for t, k in self.xcoms if t == task_id)
            raise KeyError(
                f"task {task_id!r} pushed no XCom {key!r} in run {self.run_id!r}; it pushed {pushed}"
            ) from None


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
        with virtual_time(self.emulator), task_failures() as failures:
            dag_run = _dag_test(dag_id, dict(conf) if conf is not None else None, logical_date)
        created = [p for p in self.emulator.pipelines() if (p["project_id"], p["id"]) not in before]
        task_states = _task_states(dag_id, dag_run.run_id)
        return DagRunResult(
            dag_id=dag_id,
            run_id=dag_run.run_id,
            state=state_name(dag_run.state),
            task_states=task_states,
            pipelines=created,
            errors={task: error for task, error in failures.items() if task_states.get(task) in _FAILED_STATES},
            xcoms=_xcoms(dag_id, dag_run.run_id),
        )


#: Final task states whose last try's exception ``DagRunResult.errors`` reports.
_FAILED_STATES = frozenset({"failed", "up_for_retry"})


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
    return {task_label(task, index): state_name(state) for task, index, state in rows}


def _xcoms(dag_id: str, run_id: str) -> dict[tuple[str, str], Any]:
    """Every XCom the run's tasks pushed, deserialized, by ``(task id, key)``."""
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel  # Airflow 3

        with create_session() as session:
            rows: Any = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id)).all()
            return {(task_label(r.task_id, r.map_index), r.key): XComModel.deserialize_value(r) for r in rows}
    except ImportError:  # Airflow 2
        from airflow.models.xcom import XCom

        with create_session() as session:
            rows = XCom.get_many(run_id=run_id, dag_ids=dag_id, session=session).all()
            keys = [(r.task_id, r.map_index, r.key) for r in rows]
        # get_one deserializes as a task's xcom_pull does (the rows' ``value`` is the UI's form).
        return {
            (task_label(task, index), key): XCom.get_one(
                run_id=run_id, dag_id=dag_id, task_id=task, map_index=index, key=key
            )
            for task, index, key in keys
        }


def task_label(task_id: str, map_index: int | None) -> str:
    """``task_id``, or ``task_id[map_index]`` for a mapped task instance."""
    return task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"


class _FailureListener:
    """An Airflow listener that keeps, per task instance, what its last failed try raised."""

    def __init__(self) -> None:
        self.failures: dict[str, str] = {}

    @_airflow_hookimpl
    def on_task_instance_failed(self, task_instance: Any, error: BaseException | str | None) -> None:
        """Airflow's ``on_task_instance_failed`` listener hook (failed or up for retry)."""
        label = task_label(task_instance.task_id, getattr(task_instance, "map_index", -1))
        if isinstance(error, BaseException):
            self.failures[label] = f"{type(error).__name__}: {error}"
        else:
            self.failures[label] = str(error or "the task failed without an exception")


def _listener_manager() -> Any:
    """The listener manager that the task runner of ``dag.test()`` calls."""
    try:
        from airflow.sdk.listener import get_listener_manager  # Airflow 3: the task runner's manager
    except ImportError:  # Airflow 2
        from airflow.listeners.listener import get_listener_manager  # type: ignore[assignment]
    return get_listener_manager()


@contextlib.contextmanager
def task_failures() -> Iterator[dict[str, str]]:
    """Collect the failed tasks' exceptions while a DAG runs in this process.

    Registered as an Airflow listener (the API OpenLineage uses) for the block only, so what the
    user asserts on is what the task raised, not a log line.

    :returns: the task id to ``"<ExceptionType>: <message>"`` map, filled as tasks fail.
    """
    manager = _listener_manager()
    listener = _FailureListener()
    manager.add_listener(listener)
    try:
        yield listener.failures
    finally:
        manager.pm.unregister(listener)


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

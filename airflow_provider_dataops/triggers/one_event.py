"""What the pipeline and job triggers share: their reading settings, their hook, and one event per run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_dataops.api.connection import check_read_timeout
from airflow_provider_dataops.api.limits import MAX_POLL_INTERVAL, check_epoch, check_seconds
from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.errors import DataOpsError
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook

#: The constructor arguments every such trigger takes and serializes, kept by :meth:`OneEventTrigger._set_reading`.
READING_ARGUMENTS = (
    "dataops_conn_id",
    "poll_interval",
    "deadline",
    "deadline_name",
    "cancel_on_kill",
    "retry_policy",
    "timeout",
)
#: Retries of the cancel on a user kill must fit Airflow's ``[triggerer] on_kill_timeout``.
ON_KILL_RETRY_POLICY = RetryPolicy(max_attempts=3, max_total_wait=10.0, backoff_max=5.0)


class OneEventTrigger(BaseTrigger):
    """A trigger that reads through a ``dataops`` connection until it has one event to report.

    Subclasses call :meth:`_set_reading` from their constructor, add :meth:`_reading_kwargs` to what
    they serialize, and implement :meth:`_wait` and :meth:`_event`.
    """

    project: int | str
    dataops_conn_id: str
    poll_interval: float
    deadline: float | None
    deadline_name: str
    cancel_on_kill: bool
    retry_policy: RetryPolicy | None
    timeout: float | None

    def _set_reading(self, arguments: Mapping[str, Any]) -> None:
        """Check and keep the arguments every such trigger takes, naming the bad one.

        :param arguments: The constructor's ``locals()``: only the names in :data:`READING_ARGUMENTS`
            are read, so each subclass declares them in its signature and passes them on in one line.
        """
        given = {name: arguments[name] for name in READING_ARGUMENTS}
        self.dataops_conn_id = given["dataops_conn_id"]
        self.poll_interval = check_seconds(given["poll_interval"], "poll_interval", maximum=MAX_POLL_INTERVAL)
        deadline = given["deadline"]
        self.deadline = None if deadline is None else check_epoch(deadline, "deadline")
        self.deadline_name = given["deadline_name"]
        self.cancel_on_kill = bool(given["cancel_on_kill"])
        # checked here, not at the first poll; None (or empty) keeps the connection's defaults
        retry_policy = given["retry_policy"]
        self.retry_policy = RetryPolicy.of(retry_policy) if retry_policy else None
        timeout = given["timeout"]
        self.timeout = None if timeout is None else check_read_timeout(timeout)

    def _reading_kwargs(self) -> dict[str, Any]:
        """The JSON-safe form of what :meth:`_set_reading` kept."""
        kwargs = {name: getattr(self, name) for name in READING_ARGUMENTS}
        kwargs["retry_policy"] = self.retry_policy.to_dict() if self.retry_policy else None
        return kwargs

    def _hook(self, retry_policy: RetryPolicy | None = None) -> DataOpsAsyncHook:
        return DataOpsAsyncHook(
            self.dataops_conn_id, retry_policy=retry_policy or self.retry_policy, timeout=self.timeout
        )

    def _event(self, status: str, message: str) -> TriggerEvent:
        """The event to yield; subclasses add what they watched."""
        raise NotImplementedError

    async def _wait(self) -> TriggerEvent:
        """Read until there is something to report."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until there is something to report, yield it once, and return."""
        try:
            event = await self._wait()
        except Exception as error:  # an event, not a crash: the task must learn what happened
            event = self._event("error", f"Unexpected {type(error).__name__} while watching: {error}")
        yield event

    def _kill_target(self) -> tuple[str, int] | None:
        """What :meth:`on_kill` cancels: ``("pipeline", id)`` or ``("job", id)``; None while unknown."""
        raise NotImplementedError

    async def on_kill(self) -> None:
        """A user killed the deferred task (Airflow 3.3+): cancel what it watched, best effort.

        Not done in ``cleanup()``, which also runs when the triggerer restarts: a restart must
        leave the pipeline or job running for the next triggerer to pick up.
        """
        target = self._kill_target()
        if not self.cancel_on_kill or target is None:
            return
        kind, target_id = target
        hook = self._hook(ON_KILL_RETRY_POLICY)
        cancel = hook.cancel_job if kind == "job" else hook.cancel_pipeline
        try:
            answer = await cancel(self.project, target_id)
            self.log.info("Canceled %s %s (now %s).", kind, target_id, answer.get("status"))
        except DataOpsError as error:
            self.log.warning("Could not cancel %s %s: %s", kind, target_id, error)

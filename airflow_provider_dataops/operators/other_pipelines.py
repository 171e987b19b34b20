"""Applying ``on_running`` (:mod:`~airflow_provider_dataops.operators.on_running`) as the task starts.

Imported when a task runs, not when a DAG file loads the operator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSkipException

from airflow_provider_dataops.api.statuses import ManualPolicy, Outcome, classify_pipeline_status, worth_waiting_for
from airflow_provider_dataops.api.variables import PIPELINE_FILE_VARIABLE
from airflow_provider_dataops.errors import DataOpsError
from airflow_provider_dataops.operators.on_running import OnRunning
from airflow_provider_dataops.operators.reconcile import look_for

if TYPE_CHECKING:
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

#: The newest pipelines of the ref that are checked (one page): an older one still running is missed.
PIPELINES_CHECKED = 100
#: Longest wait, in seconds, for canceled pipelines to stop before starting ours (``cancel``).
CANCEL_PATIENCE = 60.0


@dataclass(frozen=True)
class OtherPipelines:
    """Finds the other pipelines running on one project and ref.

    :param own_marker: The task instance's marker without its clear number: pipelines whose marker
        variable starts with it were started by this task instance, so they are not "other".
    """

    hook: DataOpsHook
    project: int | str
    ref: str
    pipeline_file: str | None
    manual_policy: ManualPolicy
    marker_variable: str
    own_marker: str

    def running(self) -> list[dict[str, Any]]:
        """The other pipelines still running, newest first (short form, as listed)."""
        newest = self.hook.list_pipelines(self.project, ref=self.ref, order_by="id", sort="desc")
        return [
            pipeline
            for pipeline in itertools.islice(newest, PIPELINES_CHECKED)
            if classify_pipeline_status(pipeline["status"], self.manual_policy) is Outcome.RUNNING
            and self._is_other(pipeline)
        ]

    def _is_other(self, pipeline: Mapping[str, Any]) -> bool:
        values = {v.get("key"): v.get("value") for v in self.hook.get_pipeline_variables(self.project, pipeline["id"])}
        if str(values.get(self.marker_variable, "")).startswith(self.own_marker):
            return False
        their_file = values.get(PIPELINE_FILE_VARIABLE)
        return self.pipeline_file is None or their_file is None or their_file == self.pipeline_file

    def stopped(self, pipeline_ids: list[int]) -> bool:
        """Whether none of these pipelines is running any more (``canceling`` still is)."""
        return all(
            classify_pipeline_status(self.hook.get_pipeline(self.project, pid)["status"], self.manual_policy)
            is not Outcome.RUNNING
            for pid in pipeline_ids
        )


def _names(pipelines: list[dict[str, Any]]) -> str:
    return ", ".join(f"{p['id']} ({p['status']})" for p in pipelines)


def before_start(
    policy: OnRunning,
    others: OtherPipelines,
    wait_for: Callable[[dict[str, Any]], None],
    log: Any,
) -> dict[str, Any] | None:
    """Apply ``policy`` before the task starts a pipeline.

    :param wait_for: Waits for a pipeline this task does not own, never canceling it; it may defer
        (raising ``TaskDeferred``: the task then runs this again when it resumes).
    :param log: The task's logger.
    :returns: The pipeline to reuse (full form), or None: start one.
    :raises AirflowSkipException: under ``skip``, when another pipeline runs.
    """
    if policy is OnRunning.ALLOW:
        return None
    running = others.running()
    while running and policy is OnRunning.WAIT:
        log.info(
            "Waiting for pipeline %s on %r to finish before starting one (on_running='wait').",
            _names(running[:1]),
            others.ref,
        )
        wait_for(others.hook.get_pipeline(others.project, running[0]["id"]))
        running = others.running()
    if not running:
        log.info("No other pipeline is running on %r: starting one.", others.ref)
        return None
    if policy is OnRunning.SKIP:
        raise AirflowSkipException(
            f"Pipeline {_names(running)} already running on {others.ref!r}: skipping the task (on_running='skip')."
        )
    if policy is OnRunning.REUSE:
        reusable = [p for p in running if worth_waiting_for(p["status"], others.manual_policy)]
        if reusable:
            log.info(
                "Reusing pipeline %s, already running on %r (on_running='reuse').", _names(reusable[:1]), others.ref
            )
            return others.hook.get_pipeline(others.project, reusable[0]["id"])
        log.info("Pipeline %s is being canceled, so there is nothing to reuse: starting one.", _names(running))
        return None
    _cancel_and_wait(others, running, log)
    return None


def _cancel_and_wait(others: OtherPipelines, running: list[dict[str, Any]], log: Any) -> None:
    """Cancel the running pipelines, then wait (at most :data:`CANCEL_PATIENCE`) until they stopped."""
    ids = [int(p["id"]) for p in running]
    for pipeline_id in ids:
        others.hook.cancel_pipeline(others.project, pipeline_id)
    log.warning("Canceled pipeline %s on %r (on_running='cancel'); waiting until stopped.", _names(running), others.ref)
    if look_for(lambda: True if others.stopped(ids) else None, CANCEL_PATIENCE) is None:
        now = [others.hook.get_pipeline(others.project, pid) for pid in ids]
        still = [p for p in now if classify_pipeline_status(p["status"], others.manual_policy) is Outcome.RUNNING]
        raise DataOpsError(
            f"Pipeline {_names(still or now)} did not stop within {CANCEL_PATIENCE:.0f}s of being "
            "canceled; not starting another alongside it. A retry cancels again and waits again."
        )

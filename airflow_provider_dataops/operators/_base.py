"""What the operators and the sensor share.

Their hook, built from checked arguments, how a write whose answer was lost is reconciled, and how a
finished pipeline's test summary is read and pushed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, TypeVar

from airflow_provider_dataops.api import retry
from airflow_provider_dataops.api.connection import check_conn_id
from airflow_provider_dataops.api.job_graph import newest_job_named as newest_job_named  # the operators' import
from airflow_provider_dataops.api.paths import pipeline_path
from airflow_provider_dataops.api.test_results import PipelineTestSummary, summarize
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.links import TEST_SUMMARY_KEY

#: The DataOpsHook options an operator may pass through ``hook_params``.
HOOK_PARAMS = ("timeout", "retry_policy")
#: After a write whose answer was lost, look for its effect every RECONCILE_DELAY seconds for the
#: read timeout plus RECONCILE_MARGIN: a server that did not answer in time may still be committing.
RECONCILE_DELAY = 5.0
RECONCILE_MARGIN = 10.0

T = TypeVar("T")


def dag_run_started(context: Mapping[str, Any]) -> datetime | None:
    """When the task's DAG run started (queued, if it has not started), as an aware datetime."""
    dag_run = context.get("dag_run")
    started = getattr(dag_run, "start_date", None) or getattr(dag_run, "queued_at", None)
    if not isinstance(started, datetime):
        return None
    return started if started.tzinfo else started.replace(tzinfo=timezone.utc)


def reconcile_patience(hook: DataOpsHook) -> float:
    """How long to look for the effect of a write whose answer was lost."""
    return hook.settings.timeout + RECONCILE_MARGIN


def look_for(find: Callable[[], T | None], patience: float) -> T | None:
    """Call ``find`` now and then every :data:`RECONCILE_DELAY` seconds for ``patience`` seconds.

    :returns: The first result that is not None, or None when ``patience`` ran out.
    """
    waited = 0.0
    while (found := find()) is None and waited + RECONCILE_DELAY <= patience:
        retry.sleep(RECONCILE_DELAY)
        waited += RECONCILE_DELAY
    return found


def publish_test_summary(
    hook: DataOpsHook,
    project: int | str,
    pipeline_id: int,
    context: Mapping[str, Any],
    log: Any,
    *,
    required: bool,
) -> PipelineTestSummary | None:
    """Read a finished pipeline's test counts and push them as the ``test_summary`` XCom.

    A pipeline without test cases pushes nothing. Call it once, after the wait: it costs a request.

    :param log: The task's logger.
    :param required: The task's outcome depends on the tests (``fail_on_test_failures``): an error
        reading them is raised. Otherwise it is logged as a warning and the task goes on without.
    :returns: The summary, or None when there is none (or it could not be read).
    """
    try:
        summary = summarize(
            hook.get_test_report_summary(project, pipeline_id),
            pipeline_path(project, pipeline_id, "test_report_summary"),
        )
    except DataOpsError as error:
        if required:
            raise
        log.warning("Could not read the test report of pipeline %s: %s", pipeline_id, error)
        return None
    if summary is not None:
        context["ti"].xcom_push(key=TEST_SUMMARY_KEY, value=dict(summary))
        log.info("Tests of pipeline %s: %s", pipeline_id, ", ".join(f"{k} {v}" for k, v in summary.items()))
    return summary


def check_hook_params(dataops_conn_id: Any, hook_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``dataops_conn_id`` and ``hook_params`` at DAG parse time, each error naming its argument.

    ``hook_params`` are checked by building (and dropping) a hook with them, which reads no connection.
    """
    conn_id = check_conn_id(dataops_conn_id)
    if hook_params is not None and not isinstance(hook_params, Mapping):
        raise DataOpsConfigError(f"hook_params must be a mapping, got {type(hook_params).__name__}")
    params = dict(hook_params or {})
    unknown = sorted(set(params) - set(HOOK_PARAMS))
    if unknown:
        raise DataOpsConfigError(f"hook_params accepts {', '.join(HOOK_PARAMS)}; unknown: {', '.join(unknown)}")
    try:
        DataOpsHook(conn_id, **params)
    except DataOpsConfigError as error:
        raise DataOpsConfigError(f"hook_params: {error}") from None
    return params


class DataOpsHookMixin:
    """Gives an operator a ``hook`` made on first use, never at DAG parse time."""

    dataops_conn_id: str
    hook_params: dict[str, Any]

    @cached_property
    def hook(self) -> DataOpsHook:
        """The operator's DataOpsHook."""
        return DataOpsHook(self.dataops_conn_id, **self.hook_params)

"""After a write whose answer was lost: look for its effect before anything is sent again.

A server that did not answer in time may still be committing, so the operators look for the
pipeline, job or project they asked for, for a while, instead of repeating the write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_dataops.api import retry

if TYPE_CHECKING:  # the hook's module loads only when a task runs (python -m benchmarks imports)
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

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

"""Starting a pipeline exactly once, when the answer to the trigger may be lost."""

from typing import Any

from airflow_provider_dataops.errors import DataOpsRequestMaybeAppliedError
from airflow_provider_dataops.hooks.dataops import DataOpsHook


def start_once(hook: DataOpsHook, project: str, run_key: str) -> dict[str, Any]:
    """Start one pipeline for run_key; run_key must be unique to the run."""
    try:
        return hook.trigger_pipeline(project, "main", variables={"MY_RUN_KEY": run_key})
    except DataOpsRequestMaybeAppliedError:
        pipeline = hook.find_pipeline_by_variable(project, key="MY_RUN_KEY", value=run_key, ref="main")
        if pipeline is None:
            raise  # no pipeline carries the key (yet): look again before any new trigger
        return pipeline

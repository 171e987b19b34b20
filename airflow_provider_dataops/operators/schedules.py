"""DataOpsPipelineScheduleOperator: run a DataOps.live pipeline schedule now, or pause or resume it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator

from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.paths import numeric_id, resource_id
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsRequestMaybeAppliedError
from airflow_provider_dataops.operators.arguments import DataOpsHookMixin, validate_when_rendered

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: ``action`` values, and the ``active`` flag each of pause and resume sets.
ACTIONS = ("play", "pause", "resume")
_ACTIVE = {"pause": False, "resume": True}


class DataOpsPipelineScheduleOperator(DataOpsHookMixin, BaseOperator):
    """Run a pipeline schedule now (``play``), or pause or resume it (``active`` false or true).

    Pause and resume are idempotent: a schedule already in the wanted state is left alone. A play
    starts a pipeline in the background (GitLab does not say which), so it is never repeated: if its
    answer is lost, the task fails without retries rather than risk a second pipeline.

    :param project: Project id or full path. Templated.
    :param schedule_id: The schedule's id. Templated.
    :param action: ``"play"`` (run now; the next scheduled run is unaffected), ``"pause"`` or
        ``"resume"``.
    :param dataops_conn_id: A ``dataops`` connection with an access token.
    :param hook_params: Extra :class:`DataOpsHook` arguments.
    """

    template_fields: Sequence[str] = ("project", "schedule_id")
    ui_color = "#e8f1ff"

    def __init__(
        self,
        *,
        project: int | str,
        schedule_id: int | str,
        action: str = "play",
        dataops_conn_id: str = DEFAULT_CONN_ID,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if action not in ACTIONS:
            raise DataOpsConfigError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        self.project = project
        self.schedule_id = schedule_id
        self.action = action
        self._use_connection(dataops_conn_id, hook_params)
        self._validate_arguments()

    def _validate_arguments(self) -> None:
        validate_when_rendered(self.project, lambda value: resource_id(value, "project"))
        validate_when_rendered(self.schedule_id, lambda value: numeric_id(value, "schedule_id"))

    def execute(self, context: Context) -> int:
        """Do the action; returns the schedule id."""
        self._validate_arguments()
        schedule_id = numeric_id(self.schedule_id, "schedule_id")
        if self.action == "play":
            self._play(schedule_id)
        else:
            self._set_active(schedule_id, _ACTIVE[self.action])
        return schedule_id

    def _play(self, schedule_id: int) -> None:
        try:
            self.hook.play_pipeline_schedule(self.project, schedule_id)
        except DataOpsRequestMaybeAppliedError as error:
            raise AirflowFailException(
                f"{error} The schedule may have started a pipeline; the task is not retried, to avoid a "
                "second one. Look at the schedule's last pipeline in DataOps.live before running it again."
            ) from error
        self.log.info("Schedule %s runs now; its pipeline starts in the background.", schedule_id)

    def _set_active(self, schedule_id: int, active: bool) -> None:
        schedule = self.hook.get_pipeline_schedule(self.project, schedule_id)
        wanted = "active" if active else "paused"
        if schedule.get("active") is active:
            self.log.info("Schedule %s (%s) is already %s.", schedule_id, schedule.get("description"), wanted)
            return
        self.hook.update_pipeline_schedule(self.project, schedule_id, active=active)
        self.log.info("Schedule %s (%s) is now %s.", schedule_id, schedule.get("description"), wanted)

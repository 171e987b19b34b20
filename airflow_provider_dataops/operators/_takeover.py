"""Has a newer try of the same task instance taken the pipeline over? Asked by ``on_kill`` (Airflow 3.3).

A worker paused past the heartbeat timeout (a frozen VM, a swap storm) wakes up to find its try
gone: the scheduler failed it, gave the task instance a new id for the next try, and that try
re-attached to the pipeline. The woken supervisor then SIGTERMs its task, and ``on_kill`` must not
cancel the pipeline the newer try watches. Airflow does not tell the killed task why it is killed,
so the old try asks two questions, through its supervisor, which still answers while it kills:

1. Does the task state store still answer for this try's task instance id with the pipeline's
   record? The store looks the id up first (``session.get(TI, id)``), and a new try has a new id,
   so a superseded try gets "not found", while the current try always finds the record its
   :class:`~airflow.sdk.ResumableJobMixin` wrote before the wait began.
2. If not: the task instance's state now. ``running``, ``queued``... mean a newer try of this clear
   runs or will run and re-attach. ``restarting`` is a clear of the running task (which cancels, as
   the contract says), ``success``/``failed`` a mark (the store forgets on success with
   ``[state_store] clear_on_success``).

Only both answers together skip the cancel: anything else, an error or no answer in time (the
supervisor SIGKILLs 5 s after its SIGTERM), cancels as for any kill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_dataops.operators.beside_handler import within

#: Task instance states in which a newer try of this clear runs, or will run and re-attach.
SUCCESSOR_STATES = frozenset({None, "scheduled", "queued", "running", "deferred", "up_for_retry", "up_for_reschedule"})
#: Seconds ``on_kill`` waits for Airflow's answers: the supervisor SIGKILLs 5 s after its SIGTERM,
#: and the cancel must still fit. The task may have been stopped mid-request (holding the channel
#: to its supervisor), so the questions run in a thread that may never get an answer.
PATIENCE = 2.0

_CURRENT = "current"  # the store answered for this try: it is still the task instance's try


@dataclass(frozen=True)
class Takeover:
    """What ``on_kill`` needs to ask about its try: kept once the pipeline's record is stored.

    :param store: This try's ``task_state_store`` accessor.
    :param ti: This try's task instance (``context["ti"]``).
    :param key: The store key of the pipeline's record.
    """

    store: Any
    ti: Any
    key: str

    def newer_try_watches(self, log: Any) -> bool:
        """True only when Airflow says a newer try of this clear runs (or will run) the task instance.

        :param log: The task's logger.
        """
        try:
            state = within(PATIENCE, self._state_if_replaced, name="dataops-takeover-check")
        except Exception as error:  # any doubt: cancel, as for every kill
            log.warning("Could not tell whether a newer try took the pipeline over (%s); canceling it.", error)
            return False
        if state == _CURRENT or state not in SUCCESSOR_STATES:
            return False
        log.warning(
            "Airflow replaced this try (its worker was stopped past the heartbeat timeout) and the task "
            "instance is %s again: its newer try watches the pipeline.",
            state or "without a state",
        )
        return True

    def _state_if_replaced(self) -> str | None:
        if self.store.get(self.key) is not None:
            return _CURRENT
        ti = self.ti
        states: Mapping[str, Any] = ti.get_task_states(
            dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
        )
        name = ti.task_id if ti.map_index is None or ti.map_index < 0 else f"{ti.task_id}_{ti.map_index}"
        of_run = states.get(ti.run_id) or {}
        if name not in of_run:
            raise LookupError(f"Airflow lists no state for task instance {name!r} of run {ti.run_id!r}")
        state = of_run[name]
        return None if state is None else str(state)

"""``on_running``: what the trigger operator does when another pipeline already runs on its ref.

"Another pipeline" is one of the same project and ref, still running by the task's
``manual_policy`` (see :mod:`~airflow_provider_dataops.api.statuses`), whoever started it, and not started
by this task instance (any clear: its marker is checked). When the task names a pipeline file, a
pipeline whose ``_PIPELINE_FILE_NAME`` variable names a different one is not "another"; one whose
variables name none (a push, for example) is.

The policy is a check, then an action: two tasks deciding at the same moment can both see no
pipeline and both start one. See the operator docs for what is guaranteed. This module holds the
argument, which a DAG file needs; :mod:`~airflow_provider_dataops.operators.other_pipelines` applies
it when the task runs.
"""

from __future__ import annotations

from airflow_provider_dataops.api.choices import Choice


class OnRunning(Choice):
    """What to do when another pipeline runs on the ref as the task starts.

    * ``allow``: start ours alongside it (the default; no extra requests).
    * ``wait``: wait until none runs, then start ours.
    * ``reuse``: attach to the newest one and report its outcome instead of starting ours.
    * ``cancel``: cancel them, wait until they stopped, then start ours.
    * ``skip``: skip the task.
    """

    ALLOW = "allow"
    WAIT = "wait"
    REUSE = "reuse"
    CANCEL = "cancel"
    SKIP = "skip"

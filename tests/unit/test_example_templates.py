"""Every example DAG's templates render for runs with and without a logical date.

Airflow 3 gives runs started from the REST API or by an asset no logical date: ``ds``, ``ts`` and
``logical_date`` are then missing from the context, and a template that uses them fails the task.
"""

from __future__ import annotations

import datetime
import runpy
import types
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = sorted((Path(__file__).parents[2] / "example_dags").glob("example_*.py"))
DUE = datetime.datetime(2026, 11, 28, 9, tzinfo=datetime.timezone.utc)


def context(logical_date: datetime.datetime | None) -> dict[str, Any]:
    """What every run's context holds, plus the logical-date keys only when the run has one."""
    ti = types.SimpleNamespace(xcom_pull=lambda **_: "demo/from-xcom")  # Jinja's sandbox refuses mocks
    base: dict[str, Any] = {
        "dag_run": types.SimpleNamespace(logical_date=logical_date, run_after=DUE, conf={}),
        "run_id": "api__2026-11-28",
        "ti": ti,
        "task_instance": ti,
        "params": {},
    }
    if logical_date is not None:
        base.update(logical_date=logical_date, ds=logical_date.strftime("%Y-%m-%d"), ts=logical_date.isoformat())
    return base


def tasks() -> list[Any]:
    found = []
    for path in EXAMPLES:
        for value in runpy.run_path(str(path)).values():
            if hasattr(value, "template_fields") and hasattr(value, "task_id"):
                found.append(pytest.param(value, id=f"{path.stem}:{value.task_id}"))
    return found


@pytest.mark.parametrize("logical_date", [None, datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc)])
@pytest.mark.parametrize("task", tasks())
def test_templates_render(task: Any, logical_date: datetime.datetime | None) -> None:
    task.render_template_fields(context(logical_date), jinja_env=task.dag.get_template_env())
    for field in task.template_fields:
        assert "{{" not in str(getattr(task, field))


def test_the_main_example_falls_back_to_when_the_run_was_due() -> None:
    (task,) = [p.values[0] for p in tasks() if p.id == "example_dataops_trigger_and_wait:run_pipeline"]
    task.render_template_fields(context(None), jinja_env=task.dag.get_template_env())
    assert task.variables["DATAOPS_TARGET"] == "2026-11-28"

"""Pipeline variables: validation and conversion, done before any request is sent.

GitLab takes only string values (a trigger with anything else is refused with
``variables needs to be a map of key-valued strings``), so scalars are converted and anything
else is refused here, naming the variable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from airflow_provider_dataops.errors import DataOpsConfigError

#: The DataOps.live variable that selects which pipeline file runs.
PIPELINE_FILE_VARIABLE = "_PIPELINE_FILE_NAME"

# GitLab's rule for CI/CD variable keys: letters, digits and underscores.
_KEY = re.compile(r"^[A-Za-z0-9_]{1,255}$")


def _is_finite(value: float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _to_string(key: str, value: Any, parameter: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        if isinstance(value, float | Decimal) and not _is_finite(value):
            # str() would send "nan" or "inf", which no pipeline script means to receive.
            raise DataOpsConfigError(f"{parameter}[{key!r}] must be a finite number, got {value!r}")
        try:
            return str(value)
        except ValueError:  # an int beyond Python's digit limit for str()
            raise DataOpsConfigError(f"{parameter}[{key!r}] is too large a number to send as text") from None
    raise DataOpsConfigError(
        f"{parameter}[{key!r}] must be a string, number or boolean (GitLab pipeline variables are "
        f"strings), got {type(value).__name__}"
    )


def normalize_variables(variables: Mapping[str, Any] | None, parameter: str = "variables") -> dict[str, str]:
    """Check keys and convert values to strings.

    :param variables: ``{KEY: value}``; values may be str, int, finite float or Decimal, or bool.
    :param parameter: Argument name for error messages.
    :raises DataOpsConfigError: for a non-mapping, a bad key, or a value that is not a scalar or
        not a finite number.
    """
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise DataOpsConfigError(
            f"{parameter} must be a mapping of variable names to values, got {type(variables).__name__}"
        )
    result: dict[str, str] = {}
    for key, value in variables.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise DataOpsConfigError(
                f"{parameter} key {key!r} is not a valid variable name (letters, digits and '_' only)"
            )
        result[key] = _to_string(key, value, parameter)
    return result


def check_pipeline_file(pipeline_file: Any, parameter: str = "pipeline_file") -> str:
    """Validate a DataOps.live pipeline file name such as ``full-ci.yml`` or ``dir/pipe1-ci.yml``.

    Only the ``-ci.yml`` suffix is enforced: DataOps.live's own examples include files in
    sub-directories, although its docs say pipeline files live at the repository root.
    """
    if not isinstance(pipeline_file, str) or not pipeline_file.endswith("-ci.yml"):
        raise DataOpsConfigError(
            f"{parameter} must be a file name ending in '-ci.yml' (e.g. 'full-ci.yml'), got {pipeline_file!r}"
        )
    if pipeline_file.startswith("/") or ".." in pipeline_file.split("/") or pipeline_file != pipeline_file.strip():
        raise DataOpsConfigError(
            f"{parameter} must be a path inside the repository without '..' or a leading '/', got {pipeline_file!r}"
        )
    return pipeline_file


def pipeline_variables(variables: Mapping[str, Any] | None, pipeline_file: str | None) -> dict[str, str]:
    """The variables to send: ``variables`` converted, plus ``_PIPELINE_FILE_NAME`` when given.

    :raises DataOpsConfigError: if ``variables`` already sets ``_PIPELINE_FILE_NAME`` to something
        other than ``pipeline_file``.
    """
    result = normalize_variables(variables)
    if pipeline_file is not None:
        file_name = check_pipeline_file(pipeline_file)
        if result.get(PIPELINE_FILE_VARIABLE, file_name) != file_name:
            raise DataOpsConfigError(
                f"pipeline_file={file_name!r} conflicts with variables[{PIPELINE_FILE_VARIABLE!r}]="
                f"{result[PIPELINE_FILE_VARIABLE]!r}; set only one of them"
            )
        result[PIPELINE_FILE_VARIABLE] = file_name
    return result


def masked_values(variables: Any) -> list[str]:
    """The values of a pipeline's variables that must never be shown: those with a sensitive key.

    A key is sensitive by Airflow's own rule (``password``, ``secret``, ``token``, ``api_key``... and
    the ``[core] sensitive_var_conn_names`` setting), the one its secret masker applies to
    connection extras and variables. Malformed rows are ignored.

    :param variables: ``GET .../pipelines/:id/variables`` rows: ``[{key, value, variable_type}]``.
    """
    try:
        from airflow.sdk._shared.secrets_masker import should_hide_value_for_key
    except ImportError:  # Airflow 2.11
        from airflow.utils.log.secrets_masker import should_hide_value_for_key  # type: ignore[no-redef]

    rows = variables if isinstance(variables, list) else []
    return [
        row["value"]
        for row in rows
        if isinstance(row, Mapping)
        and isinstance(row.get("key"), str)
        and isinstance(row.get("value"), str)
        and row["value"]
        and should_hide_value_for_key(row["key"])
    ]

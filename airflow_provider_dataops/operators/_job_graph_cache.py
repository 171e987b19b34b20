"""The job graph a pipeline task group renders when ``jobs`` is omitted: read from the API, cached on disk.

A DAG file is parsed every 30 seconds by default, in several processes; an API call on each parse
turns a rate limit into broken DAG imports. So the graph is read at most once per ``refresh`` seconds
per (connection, project, ref, pipeline file, source) on a machine, and kept as JSON in the cache
directory: ``[dataops] job_graph_cache_dir`` in the Airflow configuration, by default
``$AIRFLOW_HOME/dataops/job_graphs``. When a read fails, the previous copy is used (and tried again
only after another ``refresh``); only a first read that fails makes the DAG import fail. Delete a file
(or the directory) to read the graph again at the next parse.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import conf

from airflow_provider_dataops.api.job_graph import JobSpec, check_graph
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError

log = logging.getLogger(__name__)

#: Version of the file layout; a file of another version is read again from the API.
CACHE_FORMAT = 1


def cache_directory() -> Path:
    """``[dataops] job_graph_cache_dir``, else ``$AIRFLOW_HOME/dataops/job_graphs``."""
    configured = conf.get("dataops", "job_graph_cache_dir", fallback=None)
    if configured:
        return Path(configured)
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return Path(home) / "dataops" / "job_graphs"


def cache_file(directory: Path, key: dict[str, Any]) -> Path:
    """The file holding the graph for ``key`` (a hash of it: project paths may hold any character)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return directory / f"{digest}.json"


def cached_job_graph(
    key: dict[str, Any],
    read: Callable[[], list[JobSpec]],
    *,
    refresh: float,
    directory: Path | None = None,
    now: Callable[[], float] = time.time,
) -> list[JobSpec]:
    """The job graph for ``key``: the cached copy while younger than ``refresh`` seconds, else ``read()``.

    :param key: What identifies the graph (connection, project, ref, pipeline file, source); stored
        in the file, so a hash collision is noticed.
    :param read: Reads the graph from the API.
    :param refresh: Seconds a copy (or a failed attempt to replace it) is trusted.
    :raises DataOpsConfigError: when there is no copy and the read fails, naming the key and the error.
    """
    path = cache_file(directory or cache_directory(), key)
    entry = _load(path, key)
    moment = now()
    if entry is not None and 0 <= moment - float(entry["checked_at"]) < refresh:
        return entry["specs"]
    try:
        specs = read()
    except DataOpsError as error:
        if entry is None:
            raise DataOpsConfigError(
                f"Cannot read the job graph of {key['project']} on {key['ref']!r} ({key['source']}) and no copy "
                f"is cached: {error}. Pass jobs=[...] to render the group without the API."
            ) from None
        log.warning(
            "Reading the job graph of %s failed (%s); using the copy read at %s until the next refresh.",
            key["project"],
            error,
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(entry["read_at"]))),
        )
        _save(path, key, entry["specs"], read_at=float(entry["read_at"]), checked_at=moment)
        return entry["specs"]
    _save(path, key, specs, read_at=moment, checked_at=moment)
    return specs


def _load(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("Ignoring the unreadable job graph cache %s: %s", path, error)
        return None
    try:
        if data["format"] != CACHE_FORMAT or data["key"] != key:
            return None
        specs = [
            JobSpec(row["name"], row["stage"], None if row["needs"] is None else tuple(row["needs"]))
            for row in data["jobs"]
        ]
        check_graph(specs, f"job graph cache {path}")
        return {"specs": specs, "read_at": float(data["read_at"]), "checked_at": float(data["checked_at"])}
    except (KeyError, TypeError, ValueError) as error:
        log.warning("Ignoring the malformed job graph cache %s: %s", path, error)
        return None


def _save(path: Path, key: dict[str, Any], specs: list[JobSpec], *, read_at: float, checked_at: float) -> None:
    """Write the file whole (a temporary file renamed), so a parse in another process never reads half."""
    data = {
        "format": CACHE_FORMAT,
        "key": key,
        "read_at": read_at,
        "checked_at": checked_at,
        "jobs": [spec.to_dict() for spec in specs],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".job-graph-", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(data, file)
        os.replace(temporary, path)
    except OSError as error:
        # A read-only DAG folder machine still renders the group; it only reads the API more often.
        log.warning("Cannot write the job graph cache %s: %s", path, error)

"""DataOpsJobArtifactOperator: download a job's artifacts (one file or the archive) and optionally extract them.

The job is found by name in a given pipeline (e.g. the trigger task's ``pipeline_id`` XCom) or in the
newest successful pipeline of a ref. A download changes nothing remotely, so retrying, clearing or
killing the task is always safe: a new try downloads again, and a local file only ever appears
complete (see the lifecycle contract in the docs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.paths import check_job_name, check_ref, numeric_id, resource_id
from airflow_provider_dataops.api.redaction import redact_value
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError
from airflow_provider_dataops.hooks.artifacts import check_artifact_path
from airflow_provider_dataops.operators.arguments import (
    DataOpsHookMixin,
    check_bool,
    validate_when_rendered,
)
from airflow_provider_dataops.operators.jobs import newest_job_named
from airflow_provider_dataops.outputs.budget import (
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT,
    DownloadBudget,
    ExtractionLimits,
    check_extraction_limits,
)
from airflow_provider_dataops.outputs.destinations import LocalFile, check_local_target, destination_for

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def _check_destination(value: Any) -> None:
    if isinstance(value, str) and "://" in value:
        return  # an object storage URL, opened as an ObjectStoragePath at run time
    destination_for(value)


def default_extract_dir(archive: Path) -> Path:
    """Where an archive is extracted unless ``extract_to`` says: beside it, named after it.

    ``/data/artifacts.zip`` goes to ``/data/artifacts/``.
    """
    return archive.with_suffix("") if archive.suffix else archive.with_name(archive.name + ".d")


class DataOpsJobArtifactOperator(DataOpsHookMixin, BaseOperator):
    """Download a job's artifacts: one file (``artifact_path``) or the zip archive, streamed to ``destination``.

    Give exactly one of ``pipeline_id`` (the job is the newest one of that name in that pipeline)
    and ``ref`` (the newest successful pipeline of the branch or tag). Returns, and pushes as the
    return value XCom, ``{"path", "size", "sha256", "job_id", "pipeline_id"}``, plus
    ``"extracted_to"`` and ``"files"`` (relative paths) when extracting.

    :param project: Project id or full path. Templated.
    :param job_name: The job's name, such as ``"Build all Models"``. Templated.
    :param destination: A local file path, an object storage URL (``s3://bucket/key``, opened as an
        Airflow ``ObjectStoragePath`` with ``destination_conn_id``) or an ``ObjectStoragePath``.
        A local file appears only once the download is complete. Templated.
    :param artifact_path: A file inside the job's artifacts, such as ``target/run_results.json``;
        None downloads the whole archive (a zip). Templated.
    :param pipeline_id: The pipeline, e.g. ``"{{ ti.xcom_pull('run_pipeline', key='pipeline_id') }}"``.
        Templated.
    :param ref: A branch or tag: use its newest successful pipeline. Templated.
    :param extract: Extract the downloaded archive (local destinations only), refusing entries that
        would escape the target directory and archives that expand past ``extract_limits``.
    :param extract_to: Directory to extract into; defaults to the archive's path without its
        suffix (``artifacts.zip`` -> ``artifacts/``). Templated.
    :param extract_limits: ``{"max_total_bytes", "max_entries", "max_ratio"}`` (defaults: 1 GiB,
        10,000 entries, 200 times per entry) or an :class:`~airflow_provider_dataops.outputs.archives.ExtractionLimits`.
    :param max_bytes: Largest download accepted, in bytes (default 32 GiB); a larger body is stopped
        while streaming and the destination left as it was.
    :param download_timeout: Seconds for the whole download, retries included (default 6 hours).
    :param destination_conn_id: Connection of the object storage a URL destination points to.
    :param dataops_conn_id: A ``dataops`` connection with an access token (``read_api`` is enough).
    :param hook_params: Extra :class:`DataOpsHook` arguments.
    """

    template_fields: Sequence[str] = (
        "project",
        "job_name",
        "destination",
        "artifact_path",
        "pipeline_id",
        "ref",
        "extract_to",
    )
    ui_color = "#e8f1ff"

    def __init__(
        self,
        *,
        project: int | str,
        job_name: str,
        destination: Any,
        artifact_path: str | None = None,
        pipeline_id: int | str | None = None,
        ref: str | None = None,
        extract: bool = False,
        extract_to: str | None = None,
        extract_limits: ExtractionLimits | Mapping[str, int] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        download_timeout: float = DEFAULT_TIMEOUT,
        destination_conn_id: str | None = None,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (pipeline_id is None) == (ref is None):
            raise DataOpsConfigError(
                "give exactly one of pipeline_id (a pipeline to take the job from) and ref (use the newest "
                f"successful pipeline of this branch or tag); got pipeline_id={pipeline_id!r}, ref={ref!r}"
            )
        self.extract = check_bool(extract, "extract")
        if self.extract and artifact_path is not None:
            raise DataOpsConfigError("extract applies to the whole archive; leave artifact_path unset to download it")
        if extract_to is not None and not self.extract:
            raise DataOpsConfigError("extract_to is where extract=True puts the files; set extract=True too")
        self.project = project
        self.job_name = job_name
        self.destination = destination
        self.artifact_path = artifact_path
        self.pipeline_id = pipeline_id
        self.ref = ref
        self.extract_to = extract_to
        self.extract_limits = check_extraction_limits(
            dict(extract_limits) if isinstance(extract_limits, Mapping) else extract_limits
        )
        budget = DownloadBudget(max_bytes, download_timeout)  # checks both now, at parse time
        self.max_bytes, self.download_timeout = budget.max_bytes, budget.timeout
        self.destination_conn_id = destination_conn_id
        self._use_connection(dataops_conn_id, hook_params)
        self._validate_arguments()

    def _validate_arguments(self) -> None:
        """Check the templated arguments; at parse time only those that hold no template yet."""
        validate_when_rendered(self.project, lambda value: resource_id(value, "project"))
        validate_when_rendered(self.job_name, check_job_name)
        validate_when_rendered(self.destination, _check_destination)
        if self.artifact_path is not None:
            validate_when_rendered(self.artifact_path, check_artifact_path)
        if self.pipeline_id is not None:
            validate_when_rendered(self.pipeline_id, lambda value: numeric_id(value, "pipeline_id"))
        if self.ref is not None:
            validate_when_rendered(self.ref, check_ref)

    def execute(self, context: Context) -> dict[str, Any]:
        """Find the job, download, extract if asked; returns what was written."""
        self._validate_arguments()
        target = self._destination()
        local = destination_for(target)  # refuses a directory, or a path under a file, before any request
        if self.extract:
            if not isinstance(local, LocalFile):
                raise DataOpsConfigError("extract needs a local destination path; download to a local file first")
            check_local_target(self._extract_dir(local.path), "extract_to", want_directory=True)
        job, pipeline_id = self._find_job()
        if self.artifact_path is None:
            written = self.hook.download_job_artifacts(
                self.project, job["id"], target, max_bytes=self.max_bytes, download_timeout=self.download_timeout
            )
        else:
            written = self.hook.download_job_artifact(
                self.project,
                job["id"],
                self.artifact_path,
                target,
                max_bytes=self.max_bytes,
                download_timeout=self.download_timeout,
            )
        result: dict[str, Any] = {**written, "job_id": int(job["id"]), "pipeline_id": pipeline_id}
        if self.extract and written["path"] is not None:
            archive = Path(written["path"])
            directory = self._extract_dir(archive)
            from airflow_provider_dataops.outputs.archives import extract_zip

            files = extract_zip(archive, directory, self.extract_limits)
            self.log.info("Extracted %d file(s) of %s into %s.", len(files), archive.name, directory)
            result.update(extracted_to=str(directory.absolute()), files=files)
        # Entry names and paths come from the server: none may carry a token into XCom.
        return dict(redact_value(result, self.hook.settings.secrets))

    def _extract_dir(self, archive: Path) -> Path:
        return Path(self.extract_to).expanduser().absolute() if self.extract_to else default_extract_dir(archive)

    def _destination(self) -> Any:
        if isinstance(self.destination, str) and "://" in self.destination:
            from airflow.providers.common.compat.sdk import ObjectStoragePath

            return ObjectStoragePath(self.destination, conn_id=self.destination_conn_id)
        return self.destination

    def _find_job(self) -> tuple[dict[str, Any], int]:
        """The job to download from, and its pipeline's id."""
        if self.pipeline_id is not None:
            pipeline_id = numeric_id(self.pipeline_id, "pipeline_id")
        else:
            newest = next(
                iter(
                    self.hook.list_pipelines(self.project, ref=self.ref, status="success", order_by="id", sort="desc")
                ),
                None,
            )
            if newest is None:
                raise DataOpsError(f"Project {self.project} has no successful pipeline on {self.ref!r} yet")
            pipeline_id = int(newest["id"])
        job = newest_job_named(self.hook.list_pipeline_jobs(self.project, pipeline_id), self.job_name, pipeline_id)
        if "artifacts_file" not in job:
            raise DataOpsError(
                f"Job {self.job_name!r} ({job['id']}) of pipeline {pipeline_id} is {job.get('status')} and has no "
                "artifacts (yet): it uploads them when it finishes, if its pipeline file declares any"
            )
        self.log.info("Downloading the artifacts of job %r (%s) of pipeline %s.", self.job_name, job["id"], pipeline_id)
        return job, pipeline_id

"""``artifacts``: a large job artifact streamed to a file, with this process's memory watched throughout.

A pipeline started with ``DATAOPS_EMULATOR_ARTIFACT_BYTES`` gives its reporting job an archive holding
a generated file of that size; the emulator (a subprocess) streams it without holding it. The hook
downloads the archive, following the redirect to object storage, into a local file. A sampler
thread reads this process's RSS every 5 ms during the download, so the peak is the download's own,
not an earlier import's high-water mark (``ru_maxrss`` is printed too).
"""

from __future__ import annotations

import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from benchmarks._support import EmulatorProcess, Report, Stopwatch, fmt_bytes, fmt_seconds, peak_rss_bytes, rss_bytes

PROJECT = "demo/dataops-project"
JOB = "Generate Docs"
#: The download's own memory may grow by at most this much: a few 1 MiB chunks and buffers.
MAX_RSS_GROWTH = 64 << 20
SAMPLE_INTERVAL = 0.005


class RssSampler:
    """The highest RSS of this process seen while the ``with`` block runs."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(SAMPLE_INTERVAL)

    def __enter__(self) -> RssSampler:
        self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def _finished_job(hook: Any, size: int) -> dict[str, Any]:
    pipeline = hook.trigger_pipeline(PROJECT, "main", variables={"DATAOPS_EMULATOR_ARTIFACT_BYTES": size})
    deadline = time.monotonic() + 120
    while hook.get_pipeline(PROJECT, pipeline["id"])["status"] != "success":
        if time.monotonic() > deadline:
            raise RuntimeError(f"pipeline {pipeline['id']} did not succeed within 120 s")
        time.sleep(0.1)
    [job] = [job for job in hook.list_pipeline_jobs(PROJECT, pipeline["id"]) if job["name"] == JOB]
    return dict(job)


def run(mib: int) -> Report:
    """Download an archive holding a ``mib`` MiB file to a local file; print memory and throughput.

    :param mib: size of the generated file in the archive, in MiB.
    :returns: the printed report.
    """
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

    size = mib << 20
    report = Report("artifacts")
    report.heading(f"a {fmt_bytes(size)} artifact archive streamed to a local file")
    with EmulatorProcess(pipeline_seconds=0.5) as emulator, tempfile.TemporaryDirectory() as directory:
        hook = DataOpsHook()
        job = _finished_job(hook, size)
        expected = int(job["artifacts_file"]["size"])
        target = Path(directory) / "artifacts.zip"
        hook.download_job_artifact(PROJECT, job["id"], "report.xml", Path(directory) / "warm-up.xml")
        emulator.clear_requests()
        before, max_before = rss_bytes(), peak_rss_bytes()
        with RssSampler() as sampler, Stopwatch() as watch:
            written = hook.download_job_artifacts(PROJECT, job["id"], target)
        growth = sampler.peak - before
        throughput = written["size"] / watch.elapsed / (1 << 20)
        report.figure("archive size (job's artifacts_file.size)", fmt_bytes(expected))
        report.figure("written", f"{fmt_bytes(written['size'])} to {target.name}")
        report.figure("wall time / throughput", f"{fmt_seconds(watch.elapsed)} / {throughput:,.0f} MiB/s")
        report.figure("RSS before the download", fmt_bytes(before))
        report.figure("peak RSS during the download (sampled every 5 ms)", fmt_bytes(sampler.peak))
        report.figure("growth / peak-to-before ratio", f"{fmt_bytes(growth)} / {sampler.peak / before:.3f}")
        report.figure("ru_maxrss before / after", f"{fmt_bytes(max_before)} / {fmt_bytes(peak_rss_bytes())}")
        report.figure("growth per MiB downloaded", f"{growth / max(mib, 1) / 1024:,.1f} KiB")
        hops = [(entry["path"].split("/")[1], entry["status"]) for entry in emulator.requests()]
        report.figure("requests", ", ".join(f"{where}: {status}" for where, status in hops))
        member = zipfile.ZipFile(target).getinfo("target/large.bin")
        report.check(
            "every byte written, as the job announced",
            written["size"] == expected == target.stat().st_size,
            f"{written['size']} of {expected}",
        )
        report.check("the archive holds the whole generated file", member.file_size == size, f"{member.file_size}")
        report.check("redirected to object storage once", [status for _, status in hops] == [302, 200])
        report.target(f"memory flat: growth < {fmt_bytes(MAX_RSS_GROWTH)}", growth < MAX_RSS_GROWTH, fmt_bytes(growth))
    report.finish()
    return report

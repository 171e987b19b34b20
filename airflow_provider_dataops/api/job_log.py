r"""Job logs (traces) as text: cleaning runner output, and reading a growing log from an offset.

A GitLab runner writes ANSI colours, collapsible-section markers
(``section_start:<time>:<name>[options]\r\x1b[0K<header>`` ... ``section_end:<time>:<name>\r\x1b[0K``)
and ``\r`` progress rewrites. :func:`clean_line` turns each line into what a terminal would show,
with a section's start as a readable header line.

GitLab serves a live log whole, ignoring ``Range``, and answers ``Range`` with 206 once the log is
archived; :func:`unread_part` takes either answer and returns the bytes after the offset, and
:func:`complete_lines` cuts them at the last newline so that a line still being written is read
again, whole, next time. Offsets count bytes of the raw log, so they match GitLab's ``Range``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from airflow_provider_dataops.api.limits import check_count
from airflow_provider_dataops.errors import DataOpsMalformedResponseError

#: Default bytes of cleaned text logged per job.
DEFAULT_MAX_JOB_LOG_BYTES = 1 << 20
#: Largest ``max_job_log_bytes``: GitLab's runner stops a log at 4 MiB by default; allow far more.
MAX_JOB_LOG_BYTES = 1 << 30

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]")
_SECTION = re.compile(r"section_(start|end):\d+:([\w.-]+)(?:\[[^\]]*\])?\r?")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def check_max_job_log_bytes(value: Any) -> int:
    """``max_job_log_bytes`` checked: None for the default, else a whole number of bytes.

    :raises DataOpsConfigError: naming the parameter and the accepted range.
    """
    if value is None:
        return DEFAULT_MAX_JOB_LOG_BYTES
    return check_count(value, "max_job_log_bytes", minimum=1, maximum=MAX_JOB_LOG_BYTES)


def clean_line(line: str) -> str | None:
    r"""One raw log line as a terminal shows it; None for a line that shows nothing.

    ANSI escape codes are removed, a ``\r`` rewrite keeps its last state, a ``section_start``
    marker becomes ``== <header> ==`` (the section's name when it has no header) and a
    ``section_end`` marker disappears.

    :param line: one line, without its newline.
    """
    header: str | None = None

    def unmark(marker: re.Match[str]) -> str:
        nonlocal header
        if marker.group(1) == "start":
            header = marker.group(2)
        return "\r"  # the runner rewrites the line after a marker: only what follows it shows

    text = _visible(_SECTION.sub(unmark, line))
    if header is not None:
        return f"== {text or header} =="
    return text or None


def _visible(text: str) -> str:
    """``text`` without colours, keeping what the last carriage-return rewrite left."""
    parts = [part for part in _ANSI.sub("", text).split("\r") if part.strip()]
    return parts[-1].rstrip() if parts else ""


def clean_text(text: str) -> list[str]:
    """The visible lines of a log text (see :func:`clean_line`), empty ones left out.

    :param text: log text, one line per newline.
    """
    return [cleaned for line in text.split("\n") if (cleaned := clean_line(line)) is not None]


class TracePart(NamedTuple):
    """What a read of a job's log from ``offset`` brought."""

    #: The complete lines read (raw, not cleaned).
    lines: list[str]
    #: The offset of the first byte not yet consumed: the start of a line still being written.
    next_offset: int


def unread_part(body: bytes, offset: int, status: int, headers: Mapping[str, str], path: str) -> bytes:
    """The bytes of a log after ``offset``, from a 206 (range) or a 200 (whole log) answer.

    :param body: the answer's body.
    :param offset: the offset asked for with ``Range: bytes=<offset>-``.
    :param status: 200, 206, or 416 (nothing after ``offset``).
    :param headers: the answer's headers (case-insensitive lookup of ``Content-Range``).
    :param path: the API path read, for the error.
    :raises DataOpsMalformedResponseError: a 206 that starts after ``offset`` (bytes would be lost),
        or a ``Content-Range`` that cannot be read.
    """
    if status == 416:
        return b""
    if status != 206:
        return body[offset:]  # a live log comes whole; a shorter one is reported by the caller
    match = _CONTENT_RANGE.fullmatch((headers.get("content-range") or "").strip())
    if match is None:
        raise DataOpsMalformedResponseError(
            f"GET {path} answered 206 without a usable Content-Range", status=status, method="GET", path=path
        )
    start = int(match.group(1))
    if start > offset:
        raise DataOpsMalformedResponseError(
            f"GET {path} answered a range starting at byte {start}, after the {offset} asked for",
            status=status,
            method="GET",
            path=path,
        )
    return body[offset - start :]


def complete_lines(data: bytes, offset: int, *, final: bool) -> TracePart:
    """Split what was read at ``offset`` into complete lines; keep a partial last line for later.

    :param data: the bytes after ``offset``.
    :param offset: where ``data`` starts in the log.
    :param final: the job has finished, so a last line without a newline is complete too.
    """
    cut = len(data) if final else data.rfind(b"\n") + 1
    if cut == 0:
        return TracePart([], offset)
    text = data[:cut].decode("utf-8", errors="replace")  # a newline never splits a UTF-8 character
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return TracePart(lines, offset + cut)

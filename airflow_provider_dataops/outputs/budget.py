"""What a download may take: its bytes and time across attempts, and what its archive expands to.

A server can send an endless body, or drip it a byte at a time under the read timeout: neither
may fill the disk or hold the task. The defaults let a 10 GiB artifact through on a link of
0.5 MB/s or faster. The archive's limits are checked by
:mod:`~airflow_provider_dataops.outputs.archives`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from airflow_provider_dataops.api.limits import HOUR, check_count, check_seconds, describe_seconds
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsDownloadLimitError

#: 32 GiB: room for a 10 GiB artifact, and still a bound on the disk a download may take.
DEFAULT_MAX_BYTES = 32 << 30
#: 6 hours for the whole download, retries included: 10 GiB at 0.5 MB/s takes under 6.
DEFAULT_TIMEOUT = 6 * HOUR
MAX_TIMEOUT = 7 * 24 * HOUR


class DownloadBudget:
    """What one download may still spend.

    :param max_bytes: Largest body accepted, in bytes.
    :param timeout: Seconds for the whole download, every attempt and retry wait included.
    :raises DataOpsConfigError: naming ``max_bytes`` or ``download_timeout``.
    """

    def __init__(self, max_bytes: Any = DEFAULT_MAX_BYTES, timeout: Any = DEFAULT_TIMEOUT) -> None:
        self.max_bytes = check_count(max_bytes, "max_bytes", minimum=1, maximum=1 << 50)
        self.timeout = check_seconds(timeout, "download_timeout", maximum=MAX_TIMEOUT)
        self.deadline = time.monotonic() + self.timeout

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once past it)."""
        return self.deadline - time.monotonic()

    def check(self, size: int, label: str) -> None:
        """Raise when this attempt has written more than ``max_bytes`` or the deadline has passed.

        :param size: Bytes written so far in this attempt.
        :param label: The download, for the message.
        :raises DataOpsDownloadLimitError: not retried: another attempt would hit the same bound.
        """
        if size > self.max_bytes:
            raise DataOpsDownloadLimitError(
                f"{label}: the body is larger than max_bytes={self.max_bytes}; the download was stopped and "
                "nothing was written to the destination (raise max_bytes if the artifact really is that large)"
            )
        if self.remaining() <= 0:
            raise self.timed_out(label)

    def timed_out(self, label: str) -> DataOpsDownloadLimitError:
        """The error for a download past its deadline.

        :param label: The download, for the message.
        """
        return DataOpsDownloadLimitError(
            f"{label}: not complete within download_timeout={describe_seconds(self.timeout)} seconds; the download "
            "was stopped and nothing was written to the destination"
        )


@dataclass(frozen=True)
class ExtractionLimits:
    """What an archive may expand to.

    :param max_total_bytes: Uncompressed bytes of all entries together.
    :param max_entries: Entries (files and directories).
    :param max_ratio: Uncompressed to compressed size of one entry (for entries over 1 MiB).
    """

    max_total_bytes: int = 1 << 30
    max_entries: int = 10_000
    max_ratio: int = 200

    def __post_init__(self) -> None:
        check_count(self.max_total_bytes, "max_total_bytes", minimum=1, maximum=1 << 50)
        check_count(self.max_entries, "max_entries", minimum=1, maximum=10_000_000)
        check_count(self.max_ratio, "max_ratio", minimum=1, maximum=100_000)


def check_extraction_limits(value: object) -> ExtractionLimits:
    """:class:`ExtractionLimits` from itself, a mapping of its fields, or None (the defaults)."""
    if value is None:
        return ExtractionLimits()
    if isinstance(value, ExtractionLimits):
        return value
    if isinstance(value, dict):
        try:
            return ExtractionLimits(**value)
        except TypeError:
            pass
    raise DataOpsConfigError(
        "extract_limits must be None or a mapping of max_total_bytes, max_entries and max_ratio to integers, "
        f"got {value!r}"
    )

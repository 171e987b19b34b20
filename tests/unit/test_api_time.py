from __future__ import annotations

from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest

from airflow_provider_dataops.api.timestamps import (
    MAX_AHEAD_SECONDS,
    ServerClock,
    api_epoch,
    format_api_time,
    parse_api_time,
    plausible_date,
)


@pytest.mark.parametrize("value", [None, "", 5, "yesterday", "2026-13-01T00:00:00Z"])
def test_anything_but_a_timestamp_parses_as_none(value: object) -> None:
    assert parse_api_time(value) is None
    with pytest.raises(ValueError, match="not a timestamp"):
        api_epoch(value)


def test_z_offsets_and_naive_times_all_mean_the_same_moment() -> None:
    moment = datetime(2026, 1, 31, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert parse_api_time("2026-01-31T12:00:00.123Z") == moment
    assert parse_api_time("2026-01-31T13:00:00.123+01:00") == moment
    assert parse_api_time("2026-01-31T12:00:00.123") == moment  # the API writes UTC


def test_formatting_writes_utc_milliseconds_from_a_datetime_or_epoch_seconds() -> None:
    moment = datetime(2026, 1, 31, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert format_api_time(moment) == "2026-01-31T12:00:00.123Z"
    assert format_api_time(moment.timestamp()) == "2026-01-31T12:00:00.123Z"
    assert format_api_time(-5.0) == "1970-01-01T00:00:00.000Z"
    assert parse_api_time(format_api_time(moment)) == moment.replace(microsecond=123000)


@pytest.mark.parametrize(
    ("epoch", "plausible"),
    [
        (None, False),
        (float("nan"), False),
        (float("inf"), False),
        (-1.0, False),
        (0.0, True),
        (1_000.0, True),
        (1_000.0 + MAX_AHEAD_SECONDS, True),
        (1_000.0 + MAX_AHEAD_SECONDS + 1, False),
    ],
)
def test_a_date_header_is_plausible_up_to_a_day_ahead(epoch: float | None, plausible: bool) -> None:
    """One rule for the reset times of the retry policy and for the server clock's skew."""
    assert plausible_date(epoch, now=1_000.0) == (epoch if plausible else None)
    clock = ServerClock()
    with mock.patch("airflow_provider_dataops.api.timestamps.wall_clock", return_value=1_000.0):
        assert clock.note_date(epoch) == (epoch if plausible else None)
    assert clock.skew == (max(0.0, epoch - 1_000.0) if plausible and epoch is not None else 0.0)

"""Cleaning runner log lines, and reading a growing log from a byte offset."""

from __future__ import annotations

import pytest

from airflow_provider_dataops.api.job_log import clean_line, clean_text, complete_lines, unread_part
from airflow_provider_dataops.errors import DataOpsMalformedResponseError

PATH = "/projects/1/jobs/7/trace"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[32;1m$ dbt build\x1b[0;m", "$ dbt build"),
        ("section_start:1767225600:step_script\r\x1b[0K\x1b[36;1mExecuting step\x1b[0;m", "== Executing step =="),
        ("section_start:1767225600:prepare[collapsed=true]\r\x1b[0K", "== prepare =="),
        ("section_end:1767225600:step_script\r\x1b[0K", None),
        ("Pulling 0%\rPulling 50%\rPulling 100%", "Pulling 100%"),
        ("done\r", "done"),
        ("\x1b[0K   ", None),
        ("plain text  ", "plain text"),
        ("section_end:1:a\r\x1b[0Ksection_start:2:b\r\x1b[0KNext", "== Next =="),
    ],
)
def test_a_line_shows_what_a_terminal_shows(raw, shown):
    assert clean_line(raw) == shown


def test_clean_text_drops_lines_that_show_nothing():
    assert clean_text("a\n\x1b[0K\nsection_end:1:x\r\x1b[0K\nb") == ["a", "b"]


def test_a_partial_last_line_waits_for_the_next_read_unless_the_job_finished():
    part = complete_lines(b"one\ntwo\nthr", 100, final=False)
    assert part.lines == ["one", "two"]
    assert part.next_offset == 108  # the start of "thr": read again, whole, next time
    assert complete_lines(b"thr", 108, final=False) == ([], 108)
    assert complete_lines(b"three", 108, final=True) == (["three"], 113)


def test_a_utf8_character_is_never_split():
    data = "é\nü".encode()
    part = complete_lines(data, 0, final=False)
    assert part.lines == ["é"]
    assert part.next_offset == len("é\n".encode())


def test_a_200_is_sliced_at_the_offset_and_a_206_at_its_start():
    body = b"0123456789"
    assert unread_part(body, 4, 200, {}, PATH) == b"456789"
    assert unread_part(b"456789", 4, 206, {"content-range": "bytes 4-9/10"}, PATH) == b"456789"
    # a server that starts the range earlier than asked: the repeat is cut off
    assert unread_part(b"23456789", 4, 206, {"content-range": "bytes 2-9/10"}, PATH) == b"456789"
    assert unread_part(b"", 10, 416, {"content-range": "bytes */10"}, PATH) == b""


@pytest.mark.parametrize("content_range", [None, "bytes 6-9/10", "items 4-9/10"])
def test_a_206_that_would_lose_bytes_or_cannot_be_read_is_refused(content_range):
    headers = {"content-range": content_range} if content_range else {}
    with pytest.raises(DataOpsMalformedResponseError, match=PATH):
        unread_part(b"6789", 4, 206, headers, PATH)

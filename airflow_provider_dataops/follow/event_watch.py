"""What the pipeline event trigger remembers between polls and restarts, and how one poll uses it.

No Airflow here: the trigger (``events.py``) feeds it pipelines and persists :class:`WatchState`.

A pipeline is reported when it is in one of the watched statuses and the time it got there
(``finished_at``, or ``updated_at`` for statuses without one, such as ``manual``) is

* not before the watcher first started (``started``, the triggerer's clock), and
* not before the window the poll re-reads (``watermark - REREAD_WINDOW``, the server's clock), and
* not already decided: ``seen`` holds every pipeline reported or rejected in that window.

The watermark is the newest ``updated_at`` seen, so it follows the server's clock; re-reading
:data:`REREAD_WINDOW` before it covers updates committed late and pages that shifted while being read.
A pipeline that finishes again after a retry has a new ``finished_at`` and is reported again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_dataops.api.timestamps import format_api_time, parse_api_time

#: How far before the watermark each poll reads again.
REREAD_WINDOW = timedelta(seconds=120)
#: Version of the stored state; another version is ignored (the watcher starts afresh).
STATE_VERSION = 1


def reached_at(pipeline: Mapping[str, Any]) -> datetime | None:
    """When a pipeline got its current status: ``finished_at`` where the status has one."""
    return parse_api_time(pipeline.get("finished_at")) or parse_api_time(pipeline.get("updated_at"))


@dataclass
class Seen:
    """A pipeline already decided: the ``updated_at`` it was listed with and when it got its status."""

    updated_at: str
    reached_at: str


@dataclass
class WatchState:
    """The watcher's memory; JSON-safe through :meth:`to_json` for the asset state store."""

    started: datetime
    watermark: datetime
    seen: dict[int, Seen] = field(default_factory=dict)

    @classmethod
    def fresh(cls, now: datetime) -> WatchState:
        """A watcher starting now: nothing before ``now`` is reported."""
        return cls(started=now, watermark=now)

    def snapshot(self) -> WatchState:
        """A copy that later decisions do not change (entries are replaced, never mutated)."""
        return WatchState(started=self.started, watermark=self.watermark, seen=dict(self.seen))

    @property
    def since(self) -> datetime:
        """The ``updated_after`` of the next poll."""
        return self.watermark - REREAD_WINDOW

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "version": STATE_VERSION,
            "started": format_api_time(self.started),
            "watermark": format_api_time(self.watermark),
            "seen": {str(pid): [entry.updated_at, entry.reached_at] for pid, entry in self.seen.items()},
        }

    @classmethod
    def from_json(cls, stored: Any) -> WatchState | None:
        """The state from its stored form; None for anything this version did not write."""
        if not isinstance(stored, Mapping) or stored.get("version") != STATE_VERSION:
            return None
        started, watermark = parse_api_time(stored.get("started")), parse_api_time(stored.get("watermark"))
        seen = stored.get("seen")
        if started is None or watermark is None or not isinstance(seen, Mapping):
            return None
        entries: dict[int, Seen] = {}
        for pid, entry in seen.items():
            if isinstance(pid, str) and pid.isdigit() and isinstance(entry, list) and len(entry) == 2:
                entries[int(pid)] = Seen(str(entry[0]), str(entry[1]))
        return cls(started=started, watermark=watermark, seen=entries)

    @classmethod
    def merge(cls, states: Iterable[WatchState]) -> WatchState | None:
        """One state from the copies kept for several assets: the furthest watermark, every decision."""
        ordered = sorted(states, key=lambda state: state.watermark)
        if not ordered:
            return None
        merged = cls(started=min(state.started for state in ordered), watermark=ordered[-1].watermark)
        for state in ordered:
            merged.seen.update(state.seen)
        return merged

    def is_decided(self, row: Mapping[str, Any]) -> bool:
        """Whether a listed pipeline was decided as it is listed now (no need to read it again)."""
        entry = self.seen.get(int(row["id"]))
        return entry is not None and entry.updated_at == str(row.get("updated_at"))

    def is_new(self, pipeline: Mapping[str, Any], since: datetime) -> bool:
        """Whether a pipeline in a watched status got there within this watcher's reach, unreported."""
        reached = reached_at(pipeline)
        if reached is None or reached < self.started or reached < since:
            return False
        entry = self.seen.get(int(pipeline["id"]))
        return entry is None or parse_api_time(entry.reached_at) != reached

    def decide(self, pipeline: Mapping[str, Any]) -> None:
        """Remember a pipeline as reported or rejected in its current state."""
        reached = reached_at(pipeline)
        self.seen[int(pipeline["id"])] = Seen(
            str(pipeline.get("updated_at")), format_api_time(reached) if reached else str(pipeline.get("updated_at"))
        )

    def advance(self, rows: Iterable[Mapping[str, Any]]) -> bool:
        """Move the watermark to the newest listed ``updated_at`` and forget what fell out of the window.

        :return: Whether anything changed (so the state needs saving).
        """
        newest = max((t for t in (parse_api_time(row.get("updated_at")) for row in rows) if t), default=None)
        changed = False
        if newest is not None and newest > self.watermark:
            self.watermark, changed = newest, True
        horizon = self.since
        stale = [pid for pid, entry in self.seen.items() if (parse_api_time(entry.reached_at) or horizon) < horizon]
        for pid in stale:
            del self.seen[pid]
        return changed or bool(stale)

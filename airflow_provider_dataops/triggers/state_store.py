"""The event trigger's access to Airflow 3.3's asset state store, and its fallback without one.

The triggerer gives each event trigger an ``asset_state_store`` covering the assets it watches (one
trigger serves every asset whose watcher has the same class path and arguments). The state is kept
under one key in each of them; reading takes the furthest of the copies.

In ack mode the state is read and saved by the shared stream's producer, which Airflow builds from
the trigger's arguments alone: it has no store of its own. Each subscribing trigger therefore lends
its store through :func:`lend`, under the state key, for as long as it follows the stream.

Without a store (Airflow before 3.3, or a trigger run outside a watcher) the state lives in memory
only: a restart starts afresh from that moment, so nothing is reported twice but pipelines that
finish while no triggerer runs are missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from airflow_provider_dataops.errors import DataOpsError
from airflow_provider_dataops.follow.event_watch import WatchState

#: Stores lent by the triggers following a shared stream: state key -> {lender id: store}.
_LENT: dict[str, dict[int, Any]] = {}


class StateUnavailableError(DataOpsError):
    """The asset state store could not be read; the watcher waits rather than guess where it stopped."""


class StoreNotLentError(StateUnavailableError):
    """No subscribing trigger has lent its store to the shared stream yet: one will in a moment."""


def accessors(store: Any) -> list[Any]:
    """One accessor per watched asset.

    ``AssetStateStoreAccessors`` has no public way to list its assets when there are several (its
    ``aget``/``aset`` refuse then), hence the private dictionaries, with the single-asset form
    as the fallback.
    """
    by_name, by_uri = getattr(store, "_by_name", None), getattr(store, "_by_uri", None)
    if isinstance(by_name, dict) and isinstance(by_uri, dict) and len(by_name) + len(by_uri) > 0:
        return [*by_name.values(), *by_uri.values()]
    return [store]


@contextmanager
def lend(key: str, store: Any) -> Iterator[None]:
    """Make ``store`` reachable under ``key`` (see :func:`lent`) while the block runs."""
    lender = object()
    _LENT.setdefault(key, {})[id(lender)] = store
    try:
        yield
    finally:
        lenders = _LENT.get(key, {})
        lenders.pop(id(lender), None)
        if not lenders:
            _LENT.pop(key, None)


def lent(key: str) -> list[Any]:
    """The stores lent under ``key`` right now."""
    return list(_LENT.get(key, {}).values())


class StateStore:
    """Load and save :class:`WatchState` under ``key`` in every watched asset's state store.

    :param stores: The stores to use, asked at each load and save (lenders come and go).
    :param required: Whether having no store at all means "not yet" (ack mode: the lenders
        have not arrived) rather than "run without state".
    """

    def __init__(
        self, stores: Callable[[], list[Any]], key: str, log: logging.Logger | Any, *, required: bool = False
    ) -> None:
        self.stores = stores
        self.key = key
        self.log = log
        self.required = required

    @classmethod
    def of(cls, store: Any, key: str, log: logging.Logger | Any) -> StateStore:
        """The trigger's own store (``asset_state_store``, possibly None)."""
        return cls(lambda: [] if store is None else [store], key, log)

    def _accessors(self) -> list[Any]:
        return [accessor for store in self.stores() for accessor in accessors(store)]

    async def load(self) -> WatchState | None:
        """The saved state; None when there is none (a first start) or no store at all.

        :raises StateUnavailableError: if the store exists but cannot be read, or is required
            and missing.
        """
        targets = self._accessors()
        if not targets:
            if self.required:
                raise StoreNotLentError("no asset state store lent to the shared stream yet")
            self.log.warning(
                "No asset state store (Airflow 3.3+ gives one to asset watchers): starting from now; "
                "pipelines that finish while the triggerer is down will not be reported."
            )
            return None
        try:
            stored = [await accessor.aget(self.key) for accessor in targets]
        except Exception as error:  # the store's transport is Airflow's; any failure means "not now"
            raise StateUnavailableError(f"cannot read the asset state store ({type(error).__name__})") from None
        states = [state for state in map(WatchState.from_json, stored) if state is not None]
        return WatchState.merge(states)

    async def save(self, state: WatchState) -> None:
        """Save ``state`` to every watched asset; a failure is logged and the next save tries again."""
        value = state.to_json()
        for accessor in self._accessors():
            try:
                await accessor.aset(self.key, value)
            except Exception as error:  # keep watching: the state is still in memory
                self.log.warning("Could not save the watcher state (%s); retrying at the next save.", error)

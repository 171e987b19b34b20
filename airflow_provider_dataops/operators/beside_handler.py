"""Work asked of a task from Airflow's SIGTERM handler runs in a thread beside the handler.

Airflow 3 calls ``on_kill`` from the task process's SIGTERM handler: in the main thread, at whatever
line the signal interrupted. When that line held a lock that is not re-entrant (structlog holds one
around every write to the task log; the channel to the supervisor has one too), the handler's first
log line or supervisor request waits on its own thread for ever, and the supervisor SIGKILLs the
task 5 s after its SIGTERM: a cancel already sent, its log line lost. A thread only waits until the
interrupted line lets go, which it does as soon as the handler returns; so the handler waits a
bounded time for the thread, then returns and lets the thread finish.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Seconds ``on_kill`` waits for its work before it returns to the interrupted line. The supervisor
#: SIGKILLs 5 s after its SIGTERM, and the task must still end its wait and report within them.
KILL_PATIENCE = 3.0


def within(seconds: float, work: Callable[[], T], *, name: str) -> T:
    """``work()``'s result or exception, from a daemon thread; :class:`TimeoutError` after ``seconds``.

    On a timeout the thread runs on to its end.

    :param seconds: How long to wait for ``work``.
    :param work: What to run.
    :param name: The thread's name, as thread dumps show it.
    """
    answer: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            answer.append(work())
        except BaseException as error:  # handed to the caller
            failure.append(error)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(seconds)
    if failure:
        raise failure[0]
    if not answer:
        raise TimeoutError(f"no answer within {seconds:g}s")
    return answer[0]


def on_kill_beside(work: Callable[[], None]) -> None:
    """Run ``on_kill``'s ``work`` beside the SIGTERM handler, waiting at most :data:`KILL_PATIENCE`.

    :param work: What the kill does (cancel, log); it must set its own "done once" flags first.
    """
    try:
        within(KILL_PATIENCE, work, name="dataops-on-kill")
    except TimeoutError:
        return  # the interrupted line holds something the work needs: it goes on once we return

"""Worker threads that can always be stopped and never fail silently.

Every :class:`Worker` shares a stop :class:`threading.Event` with the pipeline that
owns it.  If its loop raises, the exception is kept in :attr:`Worker.error`, the
shared stop event is set (so the whole run ends instead of freezing the picture),
and the owner re-raises it in the main thread with :func:`raise_worker_error`: a
user error as it is, anything else (a bug) as :class:`WorkerError`, which the CLI
reports as an internal error with its traceback.  :func:`join_all` joins them all
within one deadline.

A run whose every item matters is a chain of stages joined by bounded
:class:`~livebokeh.runtime.mailbox.FrameQueue` objects::

    producer(items) -> queue -> stage(fn) -> queue -> stage(fn) -> queue -> the owner's thread

:func:`producer` and :func:`stage` build such workers: each waits for room
downstream (backpressure), closes its output queue when it ends for any reason (the
sentinel that ends the next stage), and a stage also closes its input so a producer
waiting on it wakes up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from ..errors import LivebokehError
from .mailbox import FrameQueue

T = TypeVar("T")
U = TypeVar("U")

log = logging.getLogger(__name__)

__all__ = ["Worker", "WorkerError", "first_error", "join_all", "producer", "raise_worker_error", "stage"]


class WorkerError(RuntimeError):
    """A worker thread hit an unexpected exception (a bug, not a user error); the original is the ``__cause__``.

    Deliberately not a :class:`LivebokehError`: those are printed as one tidy line, and a
    bug must keep its traceback.
    """


class Worker(threading.Thread):
    """A daemon thread running ``target(stop_event)`` until it returns or raises.

    ``on_exit`` runs in the thread after the loop ends, whatever the reason - use it
    to wake the threads downstream (close a mailbox, post a sentinel).
    """

    def __init__(
        self,
        name: str,
        target: Callable[[threading.Event], None],
        stop: threading.Event,
        *,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.stop_event = stop
        self._on_exit = on_exit
        self.error: BaseException | None = None
        self.cpu_seconds = 0.0
        """CPU time the thread used, known once it has ended."""

    def run(self) -> None:
        try:
            self._target_fn(self.stop_event)
        except BaseException as exc:  # noqa: BLE001 - kept and re-raised by the owner
            self.error = exc
            log.debug("thread %s failed", self.name, exc_info=True)
            self.stop_event.set()
        finally:
            self.cpu_seconds = time.thread_time()
            if self._on_exit is not None:
                try:
                    self._on_exit()
                except Exception:  # noqa: BLE001 - a failing wake-up must not hide the real error
                    log.debug("thread %s: on_exit failed", self.name, exc_info=True)

    def stop(self) -> None:
        """Ask this worker (and everything sharing its stop event) to end."""
        self.stop_event.set()


def producer(name: str, items: Callable[[], Iterable[T]], outbox: FrameQueue[T], stop: threading.Event) -> Worker:
    """A worker putting every item of ``items()`` into ``outbox`` in order, waiting for room.

    It ends when the items run out, ``stop`` is set or ``outbox`` is closed, and then
    closes ``outbox``.
    """

    def loop(stop: threading.Event) -> None:
        for item in items():
            if not outbox.put_until(item, stop):
                return

    return Worker(name, loop, stop, on_exit=outbox.close)


def stage(
    name: str, fn: Callable[[T], U | None], inbox: FrameQueue[T], outbox: FrameQueue[U], stop: threading.Event
) -> Worker:
    """A worker putting ``fn(item)`` into ``outbox`` for every item of ``inbox``, in order, waiting for room.

    ``fn`` may return ``None`` to pass nothing on for an item.  The worker ends when
    ``inbox`` is closed and drained, ``stop`` is set or ``outbox`` is closed, and then
    closes both queues.
    """

    def loop(stop: threading.Event) -> None:
        for item in inbox.drain(stop):
            result = fn(item)
            if result is not None and not outbox.put_until(result, stop):
                return

    def close() -> None:
        outbox.close()
        inbox.close()

    return Worker(name, loop, stop, on_exit=close)


def join_all(workers: Iterable[threading.Thread], timeout: float) -> list[str]:
    """Join every thread within ``timeout`` seconds in total; return the names still alive."""
    deadline = time.monotonic() + timeout
    alive = []
    for w in workers:
        if w.ident is None:
            continue
        w.join(max(0.0, deadline - time.monotonic()))
        if w.is_alive():
            alive.append(w.name)
    if alive:
        log.warning("threads still running after %.1f s: %s", timeout, ", ".join(alive))
    return alive


def first_error(workers: Iterable[Worker]) -> BaseException | None:
    """The error kept by the first worker (in the order given) that failed, or ``None``."""
    return next((w.error for w in workers if w.error is not None), None)


def raise_worker_error(workers: Iterable[Worker]) -> None:
    """Re-raise the first error kept by any worker, in the calling thread.

    A :class:`LivebokehError` is raised as it is (its message is for the user); any
    other exception is wrapped in :class:`WorkerError` naming the thread.
    """
    for w in workers:
        exc = w.error
        if exc is None:
            continue
        if isinstance(exc, LivebokehError):
            raise exc
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise exc
        raise WorkerError(f"{w.name} thread failed: {type(exc).__name__}: {exc}") from exc

"""Worker threads that can always be stopped and never fail silently.

Every :class:`Worker` shares a stop :class:`threading.Event` with the pipeline that
owns it.  If its loop raises, the exception is kept in :attr:`Worker.error`, the
shared stop event is set (so the whole run ends instead of freezing the picture),
and the owner re-raises it in the main thread with :func:`raise_worker_error`: a
user error as it is, anything else (a bug) as :class:`WorkerError`, which the CLI
reports as an internal error with its traceback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from ..errors import LivebokehError

log = logging.getLogger(__name__)

__all__ = ["Worker", "WorkerError", "join_all", "raise_worker_error"]


class WorkerError(RuntimeError):
    """A worker thread hit an unexpected exception (a bug, not a user error); the original is the ``__cause__``.

    Deliberately not a :class:`LivebokehError`: those are printed as one tidy line, and a
    bug must keep its traceback.
    """


class _Failable(Protocol):
    """A thread that keeps the exception its loop raised (:class:`Worker`, convert's stages)."""

    @property
    def name(self) -> str: ...

    @property
    def error(self) -> BaseException | None: ...


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

    def run(self) -> None:
        try:
            self._target_fn(self.stop_event)
        except BaseException as exc:  # noqa: BLE001 - kept and re-raised by the owner
            self.error = exc
            log.debug("thread %s failed", self.name, exc_info=True)
            self.stop_event.set()
        finally:
            if self._on_exit is not None:
                try:
                    self._on_exit()
                except Exception:  # noqa: BLE001 - a failing wake-up must not hide the real error
                    log.debug("thread %s: on_exit failed", self.name, exc_info=True)

    def stop(self) -> None:
        """Ask this worker (and everything sharing its stop event) to end."""
        self.stop_event.set()


def join_all(workers: Iterable[threading.Thread], timeout: float) -> list[str]:
    """Join every thread within ``timeout`` seconds in total; return the names still alive."""
    import time

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


def raise_worker_error(workers: Iterable[_Failable]) -> None:
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

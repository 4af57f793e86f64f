"""File descriptor 2 pointed elsewhere for a while, and a sure way to get it back.

Native libraries (the TFLite runtimes, Ray's core) write their start-up chatter straight
to file descriptor 2, which Python logging cannot filter, so it is redirected while they
start.  A signal handler can raise at almost any bytecode, inside a context manager's own
``__enter__`` and ``__exit__`` too; a ``finally`` that puts fd 2 back then runs late, or
not at all, and the command line's "livebokeh: terminated" went to ``/dev/null`` (a
SIGTERM during model loading).  So every redirection is recorded here, each step is
ordered so that an interruption leaves a state the next step can finish, and
:func:`restore` (which the command line calls before its last words) puts the real stderr
back whatever state interrupted code left.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

__all__ = ["redirected", "restore"]

_lock = threading.RLock()
_original: int | None = None
"""A copy of the real fd 2 while any redirection is active."""
_active: set[object] = set()
"""One token per redirection not yet ended; fd 2 comes back when the last one ends."""


def _flush() -> None:
    with contextlib.suppress(Exception):  # a closed or odd stream: nothing to flush
        sys.stderr.flush()


def _start(target_fd: int) -> object:
    # A signal can raise after any call here, the lock's release included; the ``try`` covers
    # them all, so that a token the caller never receives does not stay active.
    global _original
    token = object()
    try:
        with _lock:
            _flush()
            if _original is None:
                _original = os.dup(2)
            _active.add(token)
            os.dup2(target_fd, 2)
    except BaseException:
        _end(token)
        raise
    return token


def _end(token: object) -> None:
    # fd 2 goes back first, before any step a signal could cut short: then an interrupted end
    # leaves fd 2 right and the token active, to be ended again by ``redirected.__del__``.
    global _original
    with _lock:
        if token not in _active:  # ended already, or restore() put fd 2 back
            return
        saved = _original
        last = _active == {token}
        if last and saved is not None:
            os.dup2(saved, 2)
        _active.discard(token)
        if last and saved is not None:
            _original = None
            os.close(saved)


class redirected:
    """Point fd 2 at ``target_fd`` (an open descriptor the caller keeps open; ``None``: ``/dev/null``)
    for a ``with`` block.

    Nested or concurrent redirections keep fd 2 redirected until the last one ends; it then
    points at the real stderr again (an inner block does not hand fd 2 back to an outer
    block's target - all callers send it somewhere quiet).  A block cut short by a signal
    inside ``__enter__`` or ``__exit__`` ends when the object is collected, which is as soon
    as the exception has been handled: hold it in no generator or other object that lives on.
    """

    _token: object | None = None
    _null: int | None = None

    def __init__(self, target_fd: int | None = None) -> None:
        self._target = target_fd

    def __enter__(self) -> None:
        target = self._target
        if target is None:
            target = self._null = os.open(os.devnull, os.O_WRONLY)
        self._token = _start(target)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the redirection (idempotent: if a signal cuts this short, ``__del__`` finishes it)."""
        if self._token is not None:
            _end(self._token)
            self._token = None
        if self._null is not None:
            os.close(self._null)
            self._null = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit the module may be half torn down
            pass


def restore() -> None:
    """Point fd 2 at the real stderr now, ending every redirection (those still open end as no-ops)."""
    global _original
    with _lock:
        _active.clear()
        saved = _original
        if saved is not None:
            os.dup2(saved, 2)
            _original = None
            os.close(saved)

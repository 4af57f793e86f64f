"""Ctrl-C and SIGTERM as exceptions that end a command, even where Python drops them.

:class:`Terminated` unwinds a command the way Ctrl-C's ``KeyboardInterrupt`` does.  A
handler's exception can be lost, though: raised while a ctypes callback runs (numba's
compiler calls back into Python that way as it caches a kernel), Python prints it and
carries on.  So the handlers here also note the signal (:func:`caught`), and a command
calls :func:`raise_if_dropped` between two pieces of work (a frame, a photo): either
exception ends the command, so a signal noted while the command still works was dropped.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["Terminated", "caught", "forget", "quiet_dropped", "raise_caught", "raise_if_dropped"]


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so partial outputs are removed; the command exits 143."""


_caught: list[int] = []


def _ending(signum: int) -> BaseException:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def caught(signum: int) -> BaseException:
    """Note ``signum`` and return the exception that ends the command for it (for a handler to raise)."""
    _caught.append(signum)
    return _ending(signum)


def raise_caught(signum: int, frame: FrameType | None) -> None:
    """A SIGTERM and SIGINT handler: raise :class:`Terminated` or ``KeyboardInterrupt`` in the main thread."""
    raise caught(signum)


def raise_if_dropped() -> None:
    """Raise again the exception of a signal that came and did not end the command (Python dropped it)."""
    if _caught:
        raise _ending(_caught[-1])


def quiet_dropped(previous: Callable[[Any], object]) -> Callable[[Any], None]:
    """A ``sys.unraisablehook`` that keeps a dropped signal's exception off stderr, else calls ``previous``.

    Raised inside a weakref or finaliser callback, the handler's exception cannot propagate:
    Python would print it with a traceback ("Exception ignored in ...") and carry on.  It was
    noted (:func:`caught`) and :func:`raise_if_dropped` raises it again, so it is not printed.
    """

    def hook(unraisable: Any) -> None:
        exc_type = unraisable.exc_type
        if _caught and exc_type is not None and issubclass(exc_type, (KeyboardInterrupt, Terminated)):
            return
        previous(unraisable)

    return hook


def forget() -> None:
    """A new command starts: no signal has come for it yet."""
    _caught.clear()

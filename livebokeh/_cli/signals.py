"""SIGTERM as an exception: :class:`Terminated` unwinds a command the way Ctrl-C does."""

from __future__ import annotations

from types import FrameType

__all__ = ["Terminated", "raise_terminated"]


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so partial outputs are removed; the command exits 143."""


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    """A SIGTERM handler: raise :class:`Terminated` in the main thread."""
    raise Terminated()

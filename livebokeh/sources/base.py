"""The contract every source keeps: the :class:`Source` protocol, :class:`BaseSource`, :class:`OwnSource`."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["BaseSource", "OwnSource", "Source"]


MAX_SYNTHETIC_FPS = 1000
"""Fastest synthetic frame rate (``synthetic:WxH@FPS``): above any camera's, so ``bench live`` can offer
frames faster than the pipeline takes them and measure the pipeline, not the source."""


@runtime_checkable
class Source(Protocol):
    """A stream of frames delivered in (real) time.

    ``name``, ``size``, ``fps``, ``read`` and ``close`` are what a source must have.
    ``status``, ``losses`` and ``is_card`` are optional capabilities of sources that
    can lose their device (a camera with reconnect), ``delivered`` of sources that
    negotiate a mode with a device: :class:`BaseSource` gives every source the
    defaults, and :func:`open_source` gives them to objects of your own too.
    """

    name: str
    """Short description for messages, e.g. ``camera 0`` or ``sample``."""

    @property
    def status(self) -> str | None:
        """A one-line warning while the source is degraded (``camera 0 lost: reconnecting``), else ``None``."""
        ...

    @property
    def losses(self) -> int:
        """Times the source lost its device so far."""
        ...

    @property
    def delivered(self) -> str | None:
        """What the device really delivers, in one line (``camera 0: 1280x720 @ 30 fps, MJPG``), else ``None``."""
        ...

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames :meth:`read` returns."""
        ...

    @property
    def fps(self) -> float:
        """Nominal frame rate."""
        ...

    def read(self) -> np.ndarray | None:
        """The next frame (blocking until it is due), or ``None`` at the end of the stream."""
        ...

    def is_card(self, image: np.ndarray) -> bool:
        """Whether ``image`` is a status card of this source (shown as it is, not segmented)."""
        ...

    def close(self) -> None:
        """Release the device or file; safe to call more than once."""
        ...


class BaseSource:
    """Context-manager and idempotent-close plumbing shared by the sources, and the optional capabilities' defaults."""

    name = "source"
    status: str | None = None
    losses = 0
    delivered: str | None = None
    _closed = False

    def is_card(self, image: np.ndarray) -> bool:
        """Default: the source makes no status cards."""
        return False

    def close(self) -> None:
        """Release resources once; later calls do nothing."""
        if not self._closed:
            self._closed = True
            self._release()

    def _release(self) -> None:
        """Subclass hook: free the device or file."""

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class OwnSource(BaseSource):
    """A source object of your own as a full :class:`Source`: its own members, and the defaults for what it lacks.

    Only ``read``, ``size``, ``fps`` and ``close`` are required of it; ``name``,
    ``status``, ``losses``, ``delivered`` and ``is_card`` are used when it has them.  This is the one
    place that asks an object which optional members it has.
    """

    def __init__(self, source: object) -> None:
        self.source: Any = source
        self.name = str(getattr(source, "name", source))
        own_is_card = getattr(source, "is_card", None)
        if own_is_card is not None:
            self.is_card = own_is_card  # type: ignore[method-assign]

    @property
    def size(self) -> tuple[int, int]:
        return self.source.size  # type: ignore[no-any-return]

    @property
    def fps(self) -> float:
        return self.source.fps  # type: ignore[no-any-return]

    @property
    def status(self) -> str | None:  # type: ignore[override]
        return getattr(self.source, "status", None)

    @property
    def losses(self) -> int:  # type: ignore[override]
        return int(getattr(self.source, "losses", 0))

    @property
    def delivered(self) -> str | None:  # type: ignore[override]
        return getattr(self.source, "delivered", None)

    def read(self) -> np.ndarray | None:
        return self.source.read()  # type: ignore[no-any-return]

    def _release(self) -> None:
        self.source.close()

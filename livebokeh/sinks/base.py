"""The contract every sink keeps: the :class:`Sink` protocol, :class:`BaseSink`, :class:`OwnSink`, :class:`Controls`."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..errors import SinkError
from ..frames import Frame

__all__ = ["BaseSink", "Controls", "OwnSink", "Sink", "SinkClosed"]


class SinkClosed(SinkError):
    """The user closed the sink (window closed); not a failure."""


class Controls(Protocol):
    """What an interactive sink (the preview window) may ask of the running pipeline."""

    def handle_key(self, key: str) -> None:
        """React to a hotkey: ``b`` effect, ``m`` mask view, space bypass, ``+``/``-`` strength, ``q`` quit."""
        ...

    def hud(self) -> dict[str, Any]:
        """Live figures: ``output_fps``, ``inference_hz``, ``mask_age_ms``, ``cpu_percent``, and a ``status`` line."""
        ...


@runtime_checkable
class Sink(Protocol):
    """Receives composited frames.

    ``name``, ``open``, ``write`` and ``close`` are what a sink must have.  ``attach``
    (an interactive sink takes the pipeline's :class:`Controls`) and ``abort`` (stop
    after a failure elsewhere, e.g. without finishing a file) are optional capabilities:
    :class:`BaseSink` gives every sink the defaults, and :func:`open_sink` gives them to
    objects of your own too.
    """

    name: str

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Prepare for frames of ``size`` = ``(width, height)`` arriving at about ``fps``."""
        ...

    def attach(self, controls: Controls) -> None:
        """Take the controls of the pipeline that writes to this sink (before :meth:`open`)."""
        ...

    def write(self, frame: Frame) -> None:
        """Take one composited frame; its image may be reused after this call returns."""
        ...

    def close(self) -> None:
        """Finish and release; safe to call more than once."""
        ...

    def abort(self) -> None:
        """Stop after a failure elsewhere: release without finishing (no half-written file is left)."""
        ...


class BaseSink:
    """Context-manager and idempotent-close plumbing shared by the sinks, and the optional capabilities' defaults."""

    name = "sink"
    _closed = False

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Default: nothing to prepare."""

    def attach(self, controls: Controls) -> None:
        """Default: the sink is not interactive."""

    def close(self) -> None:
        """Release once; later calls do nothing."""
        if not self._closed:
            self._closed = True
            self._release()

    def abort(self) -> None:
        """Stop after a failure elsewhere; default is an ordinary close."""
        self.close()

    def _release(self) -> None:
        """Subclass hook."""

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class OwnSink(BaseSink):
    """A sink object of your own as a full :class:`Sink`: its own members, and the defaults for what it lacks.

    Only ``write`` and ``close`` are required of it; ``name``, ``open``, ``attach`` and
    ``abort`` are used when it has them.  This is the one place that asks an object
    which optional members it has.
    """

    def __init__(self, sink: object) -> None:
        self.sink: Any = sink
        self.name = str(getattr(sink, "name", sink))
        for capability in ("open", "attach", "abort"):
            own = getattr(sink, capability, None)
            if own is not None:
                setattr(self, capability, own)

    def write(self, frame: Frame) -> None:
        self.sink.write(frame)

    def close(self) -> None:
        self.sink.close()

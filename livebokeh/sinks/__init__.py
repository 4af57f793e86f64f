"""Where composited frames go out: the :class:`Sink` protocol and :func:`open_sink`.

A sink is opened once with the stream's size and frame rate, then receives every
composited :class:`~livebokeh.frames.Frame` through :meth:`Sink.write`.  ``close`` is
idempotent and every sink is a context manager.  A sink that fails raises
:class:`~livebokeh.errors.SinkError`; the live pipeline reports it and drops that sink
while the others keep running.  :class:`SinkClosed` means the user closed it (e.g. the
preview window).

Sink specs (``--sink``, repeatable)::

    preview      an OpenCV window with a HUD and hotkeys
    virtualcam   a virtual camera (pyvirtualcam: v4l2loopback / OBS Virtual Camera)
    null         discards frames (benchmarks)
    PATH         a video file (.mp4, .mkv, .webm, .mov), written atomically
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..errors import ConfigError, SinkError
from ..frames import Frame

log = logging.getLogger(__name__)

__all__ = ["BaseSink", "Controls", "Sink", "SinkClosed", "open_sink"]


class SinkClosed(SinkError):
    """The user closed the sink (window closed); not a failure."""


@runtime_checkable
class Sink(Protocol):
    """Receives composited frames."""

    name: str

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Prepare for frames of ``size`` = ``(width, height)`` arriving at about ``fps``."""
        ...

    def write(self, frame: Frame) -> None:
        """Take one composited frame; its image may be reused after this call returns."""
        ...

    def close(self) -> None:
        """Finish and release; safe to call more than once."""
        ...


class Controls(Protocol):
    """What an interactive sink (the preview window) may ask of the running pipeline."""

    def handle_key(self, key: str) -> None:
        """React to a hotkey: ``b`` effect, ``m`` mask view, space bypass, ``+``/``-`` strength, ``q`` quit."""
        ...

    def hud(self) -> dict[str, float]:
        """Live figures: ``output_fps``, ``inference_hz``, ``mask_age_ms``, ``cpu_percent``."""
        ...


class BaseSink:
    """Context-manager and idempotent-close plumbing shared by the sinks."""

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


def open_sink(
    spec: str | Sink,
    *,
    mirror: bool = False,
    overwrite: bool = False,
    device: str | None = None,
) -> Sink:
    """Make the sink named by ``spec`` (see the module docstring); a :class:`Sink` passes through.

    ``mirror`` flips the virtual camera picture; ``overwrite`` lets a file sink replace an
    existing file; ``device`` names the virtual camera device.
    """
    if not isinstance(spec, str):
        return spec
    text = spec.strip()
    if text == "null":
        from .null import NullSink

        return NullSink()
    if text == "preview":
        from .preview import PreviewSink

        return PreviewSink()
    if text == "virtualcam":
        from .virtualcam import VirtualCamSink

        return VirtualCamSink(mirror=mirror, device=device)
    if not text:
        raise ConfigError("sink '' is empty: use preview, virtualcam, null or a video file path")
    from .file import FileSink

    if Path(text).suffix == "":
        raise ConfigError(
            f"sink {text!r} is unknown: use preview, virtualcam, null or a video file path such as out.mp4"
        )
    return FileSink(text, overwrite=overwrite)

"""Sink specs (``--sink``) to :class:`~livebokeh.sinks.base.Sink` objects: :func:`open_sink`.

::

    preview      an OpenCV window with a HUD and hotkeys
    virtualcam   a virtual camera (pyvirtualcam: v4l2loopback / OBS Virtual Camera)
    null         discards frames (benchmarks)
    PATH         a video file (.mp4, .mkv, .webm, .mov), written atomically
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .base import BaseSink, OwnSink, Sink

__all__ = ["open_sink"]


def open_sink(
    spec: str | Sink,
    *,
    mirror: bool = False,
    overwrite: bool = False,
    device: str | None = None,
) -> Sink:
    """Make the sink named by ``spec`` (see the module docstring); a :class:`Sink` object passes through.

    An object of your own that is not a :class:`BaseSink` comes back as an
    :class:`OwnSink` around it, so that it has every member of the protocol.

    ``mirror`` flips the virtual camera picture; ``overwrite`` lets a file sink replace an
    existing file; ``device`` names the virtual camera device.
    """
    if not isinstance(spec, str):
        return spec if isinstance(spec, BaseSink) else OwnSink(spec)
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

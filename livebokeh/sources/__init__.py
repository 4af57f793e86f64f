"""Where frames come in: the :class:`Source` protocol and :func:`open_source`.

A source delivers BGR ``uint8`` ``H x W x 3`` images, one per :meth:`Source.read`
call, paced like a camera (a live camera by nature; files and synthetic frames
against ``time.monotonic_ns()``).  ``read`` returns ``None`` at the end of the
stream.  ``close`` is idempotent and every source is a context manager.

Source specs (``--source``)::

    camera[:N]            OpenCV camera N (default 0), or camera:/dev/videoN
    sample                the clip shipped with livebokeh
    synthetic[:WxH@FPS]   generated frames for tests and benchmarks (default 1280x720@30)
    PATH or URL           a video file or stream, played in real time
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, InputError

log = logging.getLogger(__name__)

__all__ = ["BaseSource", "Source", "open_source", "parse_size"]


@runtime_checkable
class Source(Protocol):
    """A stream of frames delivered in (real) time."""

    name: str
    """Short description for messages, e.g. ``camera 0`` or ``sample``."""

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

    def close(self) -> None:
        """Release the device or file; safe to call more than once."""
        ...


class BaseSource:
    """Context-manager and idempotent-close plumbing shared by the sources."""

    name = "source"
    _closed = False

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


def parse_size(text: str, *, what: str = "size") -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``; raise :class:`ConfigError` otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 2 or int(m.group(2)) < 2:
        raise ConfigError(f"{what} {text!r} is not a size: write WIDTHxHEIGHT, e.g. 1280x720")
    return int(m.group(1)), int(m.group(2))


def _parse_synthetic(rest: str) -> tuple[tuple[int, int] | None, float | None]:
    m = re.fullmatch(r"(?:(\d+[xX]\d+))?(?:@(\d+(?:\.\d+)?))?", rest)
    if not m:
        raise ConfigError(
            f"source 'synthetic:{rest}' is malformed: write synthetic:WIDTHxHEIGHT@FPS, e.g. synthetic:1280x720@30"
        )
    size = parse_size(m.group(1), what="synthetic size") if m.group(1) else None
    fps = float(m.group(2)) if m.group(2) else None
    if fps is not None and not 0 < fps <= 240:
        raise ConfigError(f"synthetic frame rate {fps:g} is out of range: use 1 to 240")
    return size, fps


def open_source(
    spec: str | Source,
    *,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
    loop: bool = False,
    realtime: bool = True,
) -> Source:
    """Open the source named by ``spec`` (see the module docstring); a :class:`Source` passes through.

    ``size`` and ``fps`` are what to ask a camera for (files are scaled to ``size``);
    ``loop`` replays files and the sample; ``realtime=False`` delivers file and
    synthetic frames as fast as they can be made (benchmarks).
    """
    if not isinstance(spec, str):
        return spec
    text = spec.strip()
    kind, _, rest = text.partition(":")
    if kind == "camera":
        from .camera import CameraSource

        device: int | str = 0
        if rest:
            device = int(rest) if rest.isdigit() else rest
        return CameraSource(device, size=size, fps=fps)
    if kind == "synthetic":
        from .synthetic import SyntheticSource

        syn_size, syn_fps = _parse_synthetic(rest)
        w, h = syn_size or size or (1280, 720)
        return SyntheticSource(width=w, height=h, fps=syn_fps or fps or 30.0, realtime=realtime)
    if text == "sample":
        from .sample import SampleSource

        return SampleSource(loop=loop, size=size, realtime=realtime)
    from .video import VideoSource

    if "://" in text:
        return VideoSource(text, loop=loop, size=size, fps=fps, realtime=realtime)
    path = Path(text).expanduser()
    if path.is_file():
        return VideoSource(path, loop=loop, size=size, fps=fps, realtime=realtime)
    if path.is_dir():
        raise InputError(f"source {text} is a folder: give a video file, camera[:N], sample or synthetic")
    raise InputError(
        f"source {text!r} is not camera[:N], sample, synthetic[:WxH@FPS], a URL or an existing video file: "
        "check the name"
    )

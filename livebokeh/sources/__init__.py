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
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, InputError

log = logging.getLogger(__name__)

__all__ = ["BaseSource", "OwnSource", "Source", "open_source", "parse_size"]


@runtime_checkable
class Source(Protocol):
    """A stream of frames delivered in (real) time.

    ``name``, ``size``, ``fps``, ``read`` and ``close`` are what a source must have.
    ``status``, ``losses`` and ``is_card`` are optional capabilities of sources that
    can lose their device (a camera with reconnect): :class:`BaseSource` gives every
    source the defaults, and :func:`open_source` gives them to objects of your own too.
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
    ``status``, ``losses`` and ``is_card`` are used when it has them.  This is the one
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

    def read(self) -> np.ndarray | None:
        return self.source.read()  # type: ignore[no-any-return]

    def _release(self) -> None:
        self.source.close()


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
    """Open the source named by ``spec`` (see the module docstring); a :class:`Source` object passes through.

    An object of your own that is not a :class:`BaseSource` comes back as an
    :class:`OwnSource` around it, so that it has every member of the protocol.

    ``size`` and ``fps`` are what to ask a camera for (files are scaled to ``size``);
    ``loop`` replays files and the sample; ``realtime=False`` delivers file and
    synthetic frames as fast as they can be made (benchmarks).
    """
    if not isinstance(spec, str):
        return spec if isinstance(spec, BaseSource) else OwnSource(spec)
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

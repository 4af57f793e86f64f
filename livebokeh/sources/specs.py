"""Source specs (``--source``) to :class:`~livebokeh.sources.base.Source` objects: :func:`open_source`.

::

    camera[:N]            OpenCV camera N (default 0), or camera:/dev/videoN
    sample                the clip shipped with livebokeh
    synthetic[:WxH@FPS]   generated frames for tests and benchmarks (default 1280x720@30)
    synthetic[:WxH@FPS]:mjpeg, sample:mjpeg
                          the same frames stored as JPEG and decoded one per read, as a
                          webcam in MJPEG mode delivers them (:mod:`.mjpeg`)
    PATH or URL           a video file or stream, played in real time
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError
from .base import MAX_SYNTHETIC_FPS, BaseSource, OwnSource, Source

__all__ = ["open_source", "parse_size"]


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
            f"source 'synthetic:{rest}' is malformed: write synthetic:WIDTHxHEIGHT@FPS, e.g. synthetic:1280x720@30 "
            "(add :mjpeg for JPEG-coded frames)"
        )
    size = parse_size(m.group(1), what="synthetic size") if m.group(1) else None
    fps = float(m.group(2)) if m.group(2) else None
    if fps is not None and not 0 < fps <= MAX_SYNTHETIC_FPS:
        raise ConfigError(f"synthetic frame rate {fps:g} is out of range: use 1 to {MAX_SYNTHETIC_FPS}")
    return size, fps


def _until_end(source: Source) -> Iterator[np.ndarray]:
    """Every frame ``source`` delivers, to its end."""
    while (image := source.read()) is not None:
        yield image


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
    mjpeg = kind in ("synthetic", "sample") and (rest == "mjpeg" or rest.endswith(":mjpeg"))
    if mjpeg:
        rest = rest[: -len("mjpeg")].rstrip(":")
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
        synthetic = SyntheticSource(width=w, height=h, fps=syn_fps or fps or 30.0, realtime=realtime)
        if not mjpeg:
            return synthetic
        from .mjpeg import MjpegSource

        with synthetic:
            return MjpegSource(
                synthetic.loop_frames, fps=synthetic.fps, name=f"{synthetic.name}:mjpeg", realtime=realtime
            )
    if kind == "sample" and (not rest or mjpeg):
        from .sample import SampleSource

        if not mjpeg:
            return SampleSource(loop=loop, size=size, realtime=realtime)
        from .mjpeg import MjpegSource

        with SampleSource(size=size, realtime=False) as sample:  # every frame once, to be stored
            return MjpegSource(_until_end(sample), fps=sample.fps, name="sample:mjpeg", loop=loop, realtime=realtime)
    from .video import VideoSource

    if "://" in text:
        return VideoSource(text, loop=loop, size=size, fps=fps, realtime=realtime)
    path = Path(text).expanduser()
    if path.is_file():
        return VideoSource(path, loop=loop, size=size, fps=fps, realtime=realtime)
    if path.is_dir():
        raise InputError(f"source {text} is a folder: give a video file, camera[:N], sample or synthetic")
    raise InputError(
        f"source {text!r} is not camera[:N], sample[:mjpeg], synthetic[:WxH@FPS][:mjpeg], a URL or an existing "
        "video file: "
        "check the name"
    )

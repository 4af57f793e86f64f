"""Where a video file's frames enter: the one PyAV decoder behind sources, conversion and backgrounds.

:class:`VideoDecoder` opens a file (or a URL), checks that it holds a video stream
this PyAV build can decode, and reads the stream's frame rate, time base and colour
tags once.  :meth:`VideoDecoder.pictures` then yields every decoded picture in order
as a :class:`Picture`: the PyAV frame with its index, its timestamp (``pts`` in the
stream's time base, continued from the previous frame where the file leaves it out)
and its display rotation.  :meth:`VideoDecoder.pictures_and_audio` interleaves the
audio packets in the order the file holds them, for a converter that copies them.

Damage is handled in one place: a packet the decoder rejects and a frame it flags
as corrupt are skipped and counted in :attr:`VideoDecoder.corrupt_skipped`; a file
that cannot be read any further raises :class:`~livebokeh.errors.InputError`.

A BGR copy of a picture comes from :meth:`Picture.bgr` (scaled, turned upright, or
converted to round-trip through the encoder on request); :meth:`VideoDecoder.frames`
gives :class:`~livebokeh.frames.Frame` objects directly, e.g. to read a whole clip::

    with VideoDecoder("clip.mp4") as clip:
        images = [f.image for f in clip.frames(upright=True)]
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import InputError
from ..frames import Frame
from ..yuv import known_color, video_frame_to_bgr

log = logging.getLogger(__name__)

__all__ = ["Picture", "VideoDecoder", "turn"]

DEFAULT_RATE = Fraction(30)
"""Frame rate assumed for a stream that states none, or one beyond :data:`RATE_RANGE`."""
RATE_RANGE = (Fraction(1, 100), Fraction(1000))
"""Frame rates taken as the file states them; outside, the rate is a damaged file's and not believed."""
MAX_PIXELS = 8192 * 8192
"""Largest picture decoded (8K UHD is 7680x4320); beyond, one frame would hold hundreds of MB."""
#: cv2.rotate codes for k quarter turns counter-clockwise.
_ROTATE = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def turn(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    """``image`` turned by ``quarter_turns`` x 90 degrees counter-clockwise (a new array; as is for 0)."""
    k = quarter_turns % 4
    return image if not k else cv2.rotate(image, _ROTATE[k])


def quarter_turn_degrees(rotation: Any) -> int:
    """A display rotation as a multiple of 90 degrees in 0-270: the nearest quarter turn, 0 for none or NaN.

    Files can state any angle (and a damaged display matrix gives NaN or a huge one); the
    pipeline turns pictures upright in quarter turns, and players show little else.
    """
    try:
        degrees = float(rotation or 0)
    except (TypeError, ValueError):
        return 0
    if not math.isfinite(degrees):
        return 0
    return (round(degrees / 90) % 4) * 90


def _codec_tag(ctx: Any) -> str:
    """The codec's four-character tag if it is printable text (damaged files hold raw bytes there)."""
    try:
        tag = getattr(ctx, "codec_tag", "") if ctx is not None else ""
    except (UnicodeDecodeError, ValueError):
        return ""
    return tag if isinstance(tag, str) and tag.isprintable() and tag.strip() else ""


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0]


@dataclass(slots=True)
class Picture:
    """One decoded picture: the PyAV frame, its place in the stream and its display rotation."""

    vframe: Any
    """The :class:`av.VideoFrame` as decoded (coded orientation)."""
    index: int
    """Position among the pictures the decoder yielded (skipped corrupt ones not counted)."""
    pts: int
    """Presentation time in :attr:`time_base` units; continued from the previous frame where the file has none."""
    time_base: Fraction
    rotation: int
    """Degrees counter-clockwise to turn the picture for display (the display matrix), 0 if none."""
    color: dict[str, int]
    """The stream's colour tags (see :mod:`livebokeh.yuv`)."""

    @property
    def timestamp_ns(self) -> int:
        """Presentation time in nanoseconds."""
        return int(self.pts * self.time_base * 1_000_000_000)

    @property
    def time(self) -> float:
        """Presentation time in seconds (as :attr:`av.VideoFrame.time` computes it)."""
        return float(self.pts) * self.time_base.numerator / self.time_base.denominator

    @property
    def turns(self) -> int:
        """Quarter turns counter-clockwise that make the picture upright (0-3)."""
        return (self.rotation // 90) % 4

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` as coded."""
        return self.vframe.width, self.vframe.height

    @property
    def is_i420(self) -> bool:
        """Whether the picture is planar 4:2:0 (``yuv420p``), as :meth:`i420` needs."""
        return bool(self.vframe.format.name == "yuv420p")

    def i420(self) -> np.ndarray:
        """The Y, U and V planes packed in one ``3H/2 x W`` array (only for :attr:`is_i420` pictures)."""
        planes: np.ndarray = self.vframe.to_ndarray()
        return planes

    def bgr(
        self, *, size: tuple[int, int] | None = None, encoder_pix_fmt: str | None = None, upright: bool = False
    ) -> np.ndarray:
        """A BGR ``uint8`` copy.

        ``size`` ``(w, h)``: scaled to it (swscale) when the picture has another size.
        ``encoder_pix_fmt``: the pixel format the result will be encoded to; where OpenCV's
        conversion makes that round trip exact the decode uses it too (see :mod:`livebokeh.yuv`).
        ``upright``: turned by the display rotation.
        """
        vf = self.vframe
        if size is not None and (vf.width, vf.height) != size:
            image: np.ndarray = vf.to_ndarray(format="bgr24", width=size[0], height=size[1])
        elif encoder_pix_fmt is not None:
            image = video_frame_to_bgr(vf, pix_fmt=encoder_pix_fmt, color=self.color)
        else:
            image = vf.to_ndarray(format="bgr24")
        return turn(image, self.turns) if upright else image


class VideoDecoder:
    """The first video stream of a file or URL, decoded with PyAV's threaded decoder.

    ``label`` names the input in error messages (``input``, ``video``, ``background``);
    ``timeout`` bounds network reads in seconds.  Raises :class:`InputError` naming the
    input and the fix when it cannot be opened or holds no decodable video.
    """

    def __init__(self, source: str | os.PathLike[str], *, label: str = "video", timeout: float | None = None) -> None:
        self.source = str(source)
        self.label = label
        self._timeout = timeout
        self.corrupt_skipped = 0
        """Packets the decoder rejected plus frames it flagged as corrupt, skipped so far."""
        self._index = 0
        self._next_pts: int | None = None
        if "://" not in self.source:
            self._check_file(Path(source))
        self.container: Any = self._open()
        """The open :class:`av.container.InputContainer`."""
        stream = self.stream
        self.audio: list[Any] = list(self.container.streams.audio)
        """The file's audio streams."""
        ctx = stream.codec_context
        self.width = int(ctx.width)
        self.height = int(ctx.height)
        self.rate: Fraction = self._plausible_rate()
        """Frames per second the stream states (:data:`DEFAULT_RATE` if none, or an absurd one)."""
        self.time_base: Fraction = stream.time_base
        stated = {
            "colorspace": int(ctx.colorspace or 0),
            "color_range": int(ctx.color_range or 0),
            "color_primaries": int(ctx.color_primaries or 0),
            "color_trc": int(ctx.color_trc or 0),
        }
        self.color: dict[str, int] = known_color(stated)
        """Colour tags of the stream as FFmpeg numbers (0: unspecified, also for values FFmpeg does not define)."""
        if self.color != stated:
            log.info("%s: colour tags FFmpeg does not define ignored: %s", self.source, stated)
        self._step = max(1, round(1 / (self.rate * self.time_base)))

    # -- opening ---------------------------------------------------------------------

    def _check_file(self, path: Path) -> None:
        what = f"{self.label} {path}"
        if not path.exists():
            raise InputError(f"{what} does not exist: check the path")
        if path.is_dir():
            raise InputError(f"{what} is a folder: give a video file")
        if not path.is_file():  # a pipe or device would block or never end
            raise InputError(f"{what} is not a regular file (a pipe or device?): give a video file")

    def _open(self) -> Any:
        """Open the container and pick its first video stream as :attr:`stream`; return the container."""
        import av

        what = f"{self.label} {self.source}"
        try:
            # Tags are text the file only claims is UTF-8: undecodable bytes become U+FFFD, not an error.
            container = av.open(self.source, "r", timeout=self._timeout, metadata_errors="replace")
        except PermissionError as exc:
            raise InputError(f"{what} cannot be read (permission denied): fix its permissions") from exc
        except FileNotFoundError as exc:
            raise InputError(f"{what} does not exist: check the path") from exc
        except (av.FFmpegError, ValueError) as exc:  # UnicodeDecodeError is a ValueError too
            raise InputError(
                f"{what} is not a readable video (truncated, damaged or not a video): {_first_line(exc)}"
            ) from None
        except OSError as exc:
            raise InputError(f"cannot read {what}: {exc.strerror or exc}") from exc
        try:
            if not container.streams.video:
                raise InputError(f"{what} has no video stream: give a video file")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if ctx is None or ctx.codec is None or not ctx.width or not ctx.height:
                raise InputError(
                    f"{what}: its video codec {_codec_tag(ctx) or '(unknown)'} cannot be decoded by this PyAV "
                    "build: convert it to H.264 first"
                )
            if ctx.width * ctx.height > MAX_PIXELS:
                raise InputError(
                    f"{what}: its picture size {ctx.width}x{ctx.height} is beyond what livebokeh decodes "
                    f"(up to {MAX_PIXELS // 1_000_000} million pixels): scale it down first"
                )
            if not stream.time_base or stream.time_base <= 0:
                raise InputError(f"{what}: its video stream states no usable time base: the file is damaged")
            stream.thread_type = "AUTO"
        except BaseException:
            container.close()
            raise
        self.stream: Any = stream
        """The :class:`av.VideoStream` decoded."""
        return container

    def _plausible_rate(self) -> Fraction:
        """The stated average frame rate, else the guessed one, if in :data:`RATE_RANGE`; else the default."""
        low, high = RATE_RANGE
        stream = self.stream
        for rate in (stream.average_rate, stream.guessed_rate):
            if rate and low <= rate <= high:
                return Fraction(rate)
        if stream.average_rate or stream.guessed_rate:
            log.info(
                "%s: stated frame rate %s / %s is not believable: %s fps assumed",
                self.source,
                stream.average_rate,
                stream.guessed_rate,
                DEFAULT_RATE,
            )
        return DEFAULT_RATE

    def rewind(self) -> None:
        """Start again from the first picture (seek, or reopen where the file cannot seek).

        Iterators made before the rewind must not be used after it; call :meth:`pictures` again.
        """
        import av

        try:
            self.container.seek(0, stream=self.stream)
        except (av.FFmpegError, OSError, ValueError):
            log.debug("seek failed on %s; reopening", self.source, exc_info=True)
            self.container.close()
            self.container = self._open()
            self.audio = list(self.container.streams.audio)
        self._index = 0
        self._next_pts = None

    # -- what the stream says --------------------------------------------------------

    @property
    def fps(self) -> float:
        """:attr:`rate` as a float."""
        return float(self.rate)

    @property
    def duration(self) -> float | None:
        """Length of the video stream in seconds as the file states it, or ``None``."""
        if self.stream.duration is None or self.time_base is None:
            return None
        return float(self.stream.duration * self.time_base) or None

    @property
    def estimated_frames(self) -> int | None:
        """Frame count from the container header, or duration x rate, or ``None``."""
        stream = self.stream
        if stream.frames:
            return int(stream.frames)
        rate = stream.average_rate or stream.guessed_rate
        if stream.duration and stream.time_base and rate:
            return int(round(float(stream.duration * stream.time_base * rate)))
        container = stream.container
        if container is not None and container.duration and rate:
            return int(round(container.duration / 1_000_000 * float(rate)))
        return None

    # -- reading ---------------------------------------------------------------------

    def pictures(self) -> Iterator[Picture]:
        """Every decodable picture of the video stream, in presentation order."""
        for item in self._read(audio=False):
            assert isinstance(item, Picture)
            yield item

    def pictures_and_audio(self) -> Iterator[Picture | Any]:
        """Pictures and the audio streams' :class:`av.Packet` objects, in the order the file holds them.

        The demuxer's empty end-of-stream packets are passed on too.
        """
        return self._read(audio=True)

    def frames(self, limit: int | None = None, *, upright: bool = False) -> Iterator[Frame]:
        """Up to ``limit`` pictures as BGR :class:`Frame` objects stamped with their presentation time."""
        for pic in itertools.islice(self.pictures(), limit):
            image = np.ascontiguousarray(pic.bgr(upright=upright))
            yield Frame(image=image, timestamp_ns=pic.timestamp_ns, index=pic.index)

    def _read(self, *, audio: bool) -> Iterator[Picture | Any]:
        import av

        stream = self.stream
        demux = self.container.demux(stream, *self.audio) if audio else self.container.demux(stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                return
            except (av.FFmpegError, OSError) as exc:
                raise InputError(
                    f"{self.label} {self.source} is truncated or damaged after {self._index} frames: {_first_line(exc)}"
                ) from exc
            if packet.stream.type != "video":
                yield packet
                continue
            try:
                decoded = stream.decode(packet)
            except av.FFmpegError as exc:
                self.corrupt_skipped += 1
                log.debug("%s: undecodable video packet skipped: %s", self.source, _first_line(exc))
                continue
            for vf in decoded:
                if vf.is_corrupt:
                    self.corrupt_skipped += 1
                    continue
                yield self._picture(vf)

    def _picture(self, vf: Any) -> Picture:
        pts = vf.pts if vf.pts is not None else self._next_pts if self._next_pts is not None else 0
        self._next_pts = pts + self._step
        pic = Picture(vf, self._index, pts, self.time_base, quarter_turn_degrees(vf.rotation), self.color)
        self._index += 1
        return pic

    # -- closing ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self.container is not None:
            self.container.close()
            self.container = None

    def __enter__(self) -> VideoDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

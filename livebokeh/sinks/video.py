"""Where composited video goes out to a file: a PyAV encoder behind a temp file + rename.

:class:`VideoFileSink` encodes BGR frames (or :class:`~livebokeh.frames.Frame`) into a
container chosen from the file extension (``.mp4``, ``.mkv``, ``.webm``, ``.mov``).
Everything is written to a temporary file beside the target; :meth:`VideoFileSink.close`
renames it to the final name only once the trailer is written, :meth:`VideoFileSink.abort`
(or any exception inside a ``with`` block) removes it.  A crash, Ctrl-C or full disk
therefore never leaves a truncated file under the target name.

The sink also carries audio for the converter: :meth:`VideoFileSink.add_audio` copies an
input audio stream packet for packet when the container accepts its codec, and
re-encodes it (AAC, or Opus for WebM) only when it must.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..errors import ConfigError, OutputError, SinkError
from ..frames import Frame, check_image
from ..safe_write import atomic_output
from ..yuv import bgr_to_video_frame

log = logging.getLogger(__name__)

#: Output extension -> FFmpeg muxer name.
CONTAINERS: dict[str, str] = {".mp4": "mp4", ".mkv": "matroska", ".webm": "webm", ".mov": "mov"}
#: Video encoder used when none is named.
DEFAULT_CODECS: dict[str, str] = {".mp4": "libx264", ".mkv": "libx264", ".mov": "libx264", ".webm": "libvpx-vp9"}
#: Audio encoder used when an input audio codec cannot be copied into the container.
AUDIO_FALLBACK: dict[str, str] = {".mp4": "aac", ".mkv": "aac", ".mov": "aac", ".webm": "libopus"}
#: Constant-quality values that are visually lossless for each encoder.
VISUALLY_LOSSLESS_CRF: dict[str, int] = {"libx264": 18, "libx265": 20, "libvpx-vp9": 20, "libsvtav1": 24}
#: Encoder threading when none is asked for (PyAV's own default is slice threads).
DEFAULT_THREAD_TYPE = "FRAME"
#: Muxers whose index (``moov``) can be moved in front of the media data (``faststart``).
FASTSTART_MUXERS = ("mp4", "mov")
#: Encoders that accept odd frame sizes in 4:2:0; the rest get 4:4:4 for odd sizes.
_ODD_420_OK = {"libvpx-vp9", "libvpx"}


def container_for(path: str | os.PathLike[str]) -> str:
    """FFmpeg muxer name for ``path``'s extension, or raise :class:`OutputError`."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        raise OutputError(f"output {path} has no supported video extension: use one of {', '.join(CONTAINERS)}")
    return CONTAINERS[suffix]


def default_codec(path: str | os.PathLike[str]) -> str:
    """The video encoder used for ``path`` when none is named (H.264, VP9 for WebM)."""
    return DEFAULT_CODECS.get(Path(path).suffix.lower(), "libx264")


X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
"""Speed presets of x264 and x265, fastest first."""
VPX_PRESETS: dict[str, tuple[str, int]] = {
    "ultrafast": ("realtime", 8),
    "superfast": ("realtime", 7),
    "veryfast": ("good", 6),
    "faster": ("good", 5),
    "fast": ("good", 5),
    "medium": ("good", 4),
    "slow": ("good", 2),
    "slower": ("good", 1),
    "veryslow": ("best", 0),
    "placebo": ("best", 0),
    "realtime": ("realtime", 8),
    "good": ("good", 4),
    "best": ("best", 0),
}
"""``--preset`` for libvpx: the x264 names (so one preset works with every encoder) or libvpx's own
deadlines, as (deadline, cpu-used).  ``medium`` is the default."""


def _encoder_options(codec: str, crf: int | None, preset: str | None) -> dict[str, str]:
    """Quality and speed options for ``codec`` in FFmpeg's private-option spelling.

    A preset the encoder does not know is a :class:`ConfigError` here, before any work (the
    encoder itself would only fail when the first frame arrives, with "Invalid argument").
    """
    if crf is None:
        crf = VISUALLY_LOSSLESS_CRF.get(codec)
    opts: dict[str, str] = {}
    if codec in ("libx264", "libx265"):
        if crf is not None:
            opts["crf"] = str(crf)
        if preset is not None:
            if preset not in X264_PRESETS:
                raise ConfigError(f"preset {preset!r} is not a {codec} preset: use one of {', '.join(X264_PRESETS)}")
            opts["preset"] = preset
        if codec == "libx265":
            opts["x265-params"] = "log-level=error"
    elif codec in ("libvpx-vp9", "libvpx"):
        if crf is not None:
            opts["crf"] = str(crf)
            opts["b"] = "0"  # constant quality mode
        if preset is not None and preset not in VPX_PRESETS:
            raise ConfigError(
                f"preset {preset!r} is not known for {codec}: use one of {', '.join(X264_PRESETS)} "
                "(or libvpx's realtime, good, best)"
            )
        deadline, cpu_used = VPX_PRESETS[preset or "medium"]
        opts["row-mt"] = "1"
        opts["deadline"] = deadline
        opts["cpu-used"] = str(cpu_used)
    elif codec == "libsvtav1":
        if crf is not None:
            opts["crf"] = str(crf)
        if preset is not None:
            opts["preset"] = preset
    else:
        if crf is not None:
            opts["crf"] = str(crf)
        if preset is not None:
            opts["preset"] = preset
    return opts


def choose_pix_fmt(codec: str, width: int, height: int) -> str:
    """``yuv420p``, or ``yuv444p`` for odd sizes the encoder cannot hold in 4:2:0."""
    odd = width % 2 or height % 2
    return "yuv444p" if odd and codec not in _ODD_420_OK else "yuv420p"


def _describe(exc: BaseException) -> str:
    """One line for an encoder/muxer/OS failure, naming the fix for a full disk."""
    err = getattr(exc, "errno", None)
    if err in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{os.strerror(err)}: free some space or write elsewhere"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0]


class _Aborted(Exception):
    """Raised into the temp-file context to make it delete the partial file."""


@dataclass(slots=True)
class AudioRoute:
    """How one input audio stream reaches the output: copied packet for packet, re-encoded, or dropped."""

    input_index: int
    codec: str
    copied: bool
    stream: Any
    decoder: Any = None
    output_codec: str = ""
    dropped: str = ""
    """Why the stream is left out (this PyAV build cannot read it); empty when it is written."""

    @property
    def how(self) -> str:
        """``copied``, ``re-encoded to CODEC`` or ``dropped (why)``, for the per-file report."""
        if self.dropped:
            return f"dropped ({self.dropped})"
        return "copied" if self.copied else f"re-encoded to {self.output_codec}"


class VideoFileSink:
    """Encode frames into a video file that appears under ``path`` only when complete.

    ``fps`` sets the frame rate (and, unless ``time_base`` is given, the time base of
    sequential timestamps).  ``codec`` defaults to H.264 (VP9 for ``.webm``), ``crf`` to a
    visually lossless value, ``preset`` to the encoder's default.  ``size`` ``(w, h)``
    fixes the frame size up front; otherwise the first frame fixes it.  Odd sizes are kept
    exactly (4:4:4 chroma where the encoder cannot do odd 4:2:0).  ``pix_fmt`` overrides
    the pixel format (``"gray"`` for masks).  ``rotation`` (degrees counter-clockwise, as
    :attr:`av.VideoFrame.rotation` reports it) is stored as display-matrix metadata.
    ``threads`` limits encoder threads (``None``: the encoder decides); ``thread_type``
    is ``"frame"`` (throughput: several frames in flight), ``"slice"`` (low latency: one
    frame split across threads) or ``None`` for :data:`DEFAULT_THREAD_TYPE`.

    ``faststart`` (MP4 and MOV) puts the index (``moov``) in front of the media data, so a
    browser or upload service can start playing before it has the whole file.  The mp4
    muxer does it when the file is finished, by moving the data up inside the same file
    (no second copy; measured here: 10 ms for a 29 MB file, 0.3-0.5 s for 160 MB, 0.1 % of the
    conversion - ``scripts/faststart_cost.py``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float | Fraction,
        codec: str | None = None,
        crf: int | None = None,
        preset: str | None = None,
        overwrite: bool = False,
        size: tuple[int, int] | None = None,
        time_base: Fraction | None = None,
        pix_fmt: str | None = None,
        rotation: int = 0,
        threads: int | None = None,
        thread_type: str | None = None,
        color: dict[str, int] | None = None,
        faststart: bool = True,
    ) -> None:
        self.path = Path(path)
        self._format = container_for(self.path)
        if not fps or float(fps) <= 0:
            raise SinkError(f"frame rate {fps!r} for {self.path} is invalid: give a positive fps")
        self.fps = Fraction(fps).limit_denominator(100000)
        self.codec = codec or default_codec(self.path)
        try:
            av.codec.Codec(self.codec, "w")
        except Exception as exc:  # PyAV raises its own UnknownCodecError / ValueError here
            raise OutputError(
                f"video encoder {self.codec!r} is not available in this PyAV build: try libx264, libx265 or libvpx-vp9"
            ) from exc
        self.crf = crf
        self.preset = preset
        _encoder_options(self.codec, crf, preset)  # an unknown preset is refused now, not at the first frame
        self.faststart = faststart and self._format in FASTSTART_MUXERS
        self.time_base = time_base or (1 / self.fps)
        self.pix_fmt = pix_fmt
        self.rotation = int(rotation)
        self.threads = threads
        self.thread_type = (thread_type or DEFAULT_THREAD_TYPE).upper()
        if self.thread_type not in ("FRAME", "SLICE"):
            raise SinkError(f"encoder thread type {thread_type!r} is unknown: use frame or slice")
        self.color = color or {}
        self.frames_written = 0
        self.stream_pix_fmt = pix_fmt or ""
        self._closed = False
        self._started = False
        self.trailer_seconds = 0.0
        """Time :meth:`close` took to write the trailer (with ``faststart``: and to move the data up)."""
        self._stream: Any = None
        self._copying = False  # video arrives as encoded packets (add_video_copy), not frames
        self._last_pts: int | None = None
        self._audio: list[AudioRoute] = []
        self._stack = contextlib.ExitStack()
        try:
            self._tmp: Path = self._stack.enter_context(atomic_output(self.path, overwrite=overwrite))
        except OSError as exc:
            raise OutputError(f"cannot create a file in {self.path.parent}: {_describe(exc)}") from exc
        try:
            options = {"movflags": "+faststart"} if self.faststart else {}
            self._container: Any = av.open(str(self._tmp), "w", format=self._format, options=options)
        except Exception as exc:
            self._discard()
            raise OutputError(f"cannot create {self.path}: {_describe(exc)}") from exc
        try:
            if self.codec not in self._container.supported_codecs:
                raise OutputError(
                    f"{self.path.suffix} files cannot hold {self.codec} video: "
                    f"use --codec {default_codec(self.path)} or another extension"
                )
            if size is not None:
                self._open_video(*size)
        except BaseException:
            self.abort()
            raise

    # -- setup -----------------------------------------------------------------------

    def _open_video(self, width: int, height: int) -> None:
        pix_fmt = self.pix_fmt or choose_pix_fmt(self.codec, width, height)
        if pix_fmt == "yuv444p" and self.pix_fmt is None:
            log.info("%s: odd frame size %dx%d kept exactly with 4:4:4 chroma", self.path, width, height)
        self.stream_pix_fmt = pix_fmt
        try:
            stream = self._container.add_stream(
                self.codec, rate=self.fps, options=_encoder_options(self.codec, self.crf, self.preset)
            )
            stream.width = width
            stream.height = height
            stream.pix_fmt = pix_fmt
            stream.time_base = self.time_base
            stream.codec_context.time_base = self.time_base
            if self.threads is not None:
                stream.codec_context.thread_count = self.threads
            stream.codec_context.thread_type = self.thread_type
            for key in ("color_range", "color_primaries", "color_trc", "colorspace"):
                if self.color.get(key):
                    setattr(stream.codec_context, key, self.color[key])
            if self.codec == "libx265" and self._format in ("mp4", "mov"):
                stream.codec_context.codec_tag = "hvc1"  # the tag Apple players require for HEVC
            if self.rotation % 360:
                stream.set_display_rotation(self.rotation)
        except Exception as exc:
            raise SinkError(f"cannot set up {self.codec} video for {self.path}: {_describe(exc)}") from exc
        self._stream = stream
        self.size = (width, height)

    def add_video_copy(self, template: Any) -> None:
        """Carry video that is already encoded like ``template`` (an input stream) instead of encoding frames.

        :meth:`write_video_packet` then writes its packets unchanged (used to join pieces
        of one conversion).  Call before any audio stream is added.
        """
        try:
            stream = self._container.add_stream_from_template(template)
            stream.time_base = self.time_base
        except Exception as exc:
            name = template.codec_context.name
            raise SinkError(f"cannot carry {name} video into {self.path}: {_describe(exc)}") from exc
        self._stream = stream
        self._copying = True
        self.size = (template.codec_context.width, template.codec_context.height)

    def add_audio(self, in_stream: Any, *, force_encode: bool = False) -> AudioRoute:
        """Route ``in_stream`` (an input :class:`av.AudioStream`) into this file.

        The packets are copied unchanged when the container accepts the codec; otherwise
        they are decoded and re-encoded (AAC, Opus for WebM).  A stream whose codec this
        PyAV build does not know (no codec context: it can be neither decoded nor copied)
        is dropped with a warning.  Call before any frame or packet is written.
        """
        index = in_stream.index
        if in_stream.codec_context is None:
            route = AudioRoute(index, "unknown codec", False, None, dropped="this PyAV build has no decoder for it")
            log.warning("%s: audio stream #%d left out: %s", self.path, index, route.dropped)
            return route
        name = in_stream.codec_context.name
        try:
            if not force_encode and name in self._container.supported_codecs:
                out = self._container.add_stream_from_template(in_stream)
                route = AudioRoute(index, name, True, out)
            else:
                target = AUDIO_FALLBACK.get(self.path.suffix.lower(), "aac")
                rate = in_stream.codec_context.sample_rate or 48000
                if target == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
                    rate = 48000
                out = self._container.add_stream(target, rate=rate)
                layout = in_stream.codec_context.layout
                if layout is not None and layout.nb_channels:
                    out.codec_context.layout = layout.name if layout.nb_channels <= 2 else "stereo"
                out.time_base = Fraction(1, rate)
                decoder = av.codec.CodecContext.create(in_stream.codec_context.name, "r")
                decoder.extradata = in_stream.codec_context.extradata
                decoder.sample_rate = in_stream.codec_context.sample_rate
                decoder.layout = in_stream.codec_context.layout
                route = AudioRoute(index, name, False, out, decoder=decoder, output_codec=target)
                log.info(
                    "%s: audio stream #%d (%s) re-encoded to %s: %s files cannot hold %s",
                    self.path,
                    index,
                    name,
                    target,
                    self.path.suffix,
                    name,
                )
        except Exception as exc:
            raise SinkError(f"cannot add audio stream #{index} ({name}) to {self.path}: {_describe(exc)}") from exc
        self._audio.append(route)
        return route

    # -- writing ---------------------------------------------------------------------

    def write(self, frame: Frame | np.ndarray, pts: int | None = None) -> None:
        """Encode one frame (BGR uint8 or a :class:`Frame`); ``pts`` in :attr:`time_base` units."""
        image = frame.image if isinstance(frame, Frame) else frame
        image = check_image(image)
        if self._closed:
            raise SinkError(f"video file {self.path} is already closed")
        if self._stream is None:
            self._open_video(image.shape[1], image.shape[0])
        if (image.shape[1], image.shape[0]) != self.size:
            raise SinkError(
                f"frame size {image.shape[1]}x{image.shape[0]} differs from {self.size[0]}x{self.size[1]} "
                f"that {self.path} was started with"
            )
        vframe = bgr_to_video_frame(image, pix_fmt=self.stream_pix_fmt, color=self.color)
        self.write_av(vframe, self.frames_written if pts is None else pts)

    def write_gray(self, alpha: np.ndarray, pts: int | None = None) -> None:
        """Encode one single-channel ``uint8`` image (e.g. a mask) into a ``pix_fmt="gray"`` file."""
        if self._stream is None:
            self._open_video(alpha.shape[1], alpha.shape[0])
        vframe = av.VideoFrame.from_ndarray(np.ascontiguousarray(alpha), format="gray")
        self.write_av(vframe, self.frames_written if pts is None else pts)

    def write_av(self, vframe: Any, pts: int) -> None:
        """Encode an :class:`av.VideoFrame` at ``pts`` (frames with a non-increasing pts are dropped)."""
        if self._stream is None:
            self._open_video(vframe.width, vframe.height)
        if self._last_pts is not None and pts <= self._last_pts:
            log.debug("%s: dropped frame with non-increasing pts %d", self.path, pts)
            return
        vframe.pts = pts
        vframe.time_base = self.time_base
        self._start()
        try:
            self._container.mux(self._stream.encode(vframe))
        except Exception as exc:
            raise SinkError(f"writing {self.path} failed: {_describe(exc)}") from exc
        self._last_pts = pts
        self.frames_written += 1

    def write_video_packet(self, packet: Any) -> None:
        """Write one encoded video packet (after :meth:`add_video_copy`), its timestamps set in its time base."""
        if self._closed:
            raise SinkError(f"video file {self.path} is already closed")
        packet.stream = self._stream
        self._start()
        try:
            self._container.mux(packet)
        except Exception as exc:
            raise SinkError(f"writing {self.path} failed: {_describe(exc)}") from exc
        self.frames_written += 1

    def write_audio(self, route: AudioRoute, packet: Any) -> None:
        """Write one demuxed packet of the input stream behind ``route``."""
        if self._closed:
            raise SinkError(f"video file {self.path} is already closed")
        if route.dropped:
            return
        if self._stream is not None:
            self._start()
        try:
            if route.copied:
                if packet.dts is None or packet.size == 0:
                    return
                packet.stream = route.stream
                try:
                    self._container.mux(packet)
                except av.FFmpegError as exc:
                    if getattr(exc, "errno", None) != errno.EINVAL:
                        raise
                    when = "" if packet.pts is None else f" at {float(packet.pts * packet.time_base):.3f} s"
                    raise SinkError(  # the muxer refuses this packet's timestamps
                        f"writing audio to {self.path} failed: {_describe(exc)}: the muxer refuses a packet{when} "
                        f"of input audio stream #{route.input_index} ({route.codec}): damaged timestamps"
                    ) from exc
            else:
                if packet.size == 0:  # the demuxer's end-of-stream marker; flushed in close()
                    return
                for f in route.decoder.decode(packet):
                    self._container.mux(route.stream.encode(f))
        except av.error.InvalidDataError:
            log.debug("%s: skipped an undecodable audio packet", self.path)
        except SinkError:
            raise
        except Exception as exc:
            raise SinkError(f"writing audio to {self.path} failed: {_describe(exc)}") from exc

    def _start(self) -> None:
        """Open the encoders and write the file header, once every stream is added.

        PyAV would do it at the first packet; doing it here lets a failure name what the
        header was to hold (for example an audio stream copied with damaged parameters).
        """
        if self._started:
            return
        try:
            self._container.start_encoding()
        except Exception as exc:
            streams = [f"video {self.codec} {self.size[0]}x{self.size[1]}"] + [
                f"audio #{r.input_index} {r.codec} {r.how}" for r in self._audio
            ]
            raise SinkError(f"cannot start writing {self.path} ({', '.join(streams)}): {_describe(exc)}") from exc
        self._started = True

    # -- finishing -------------------------------------------------------------------

    def close(self) -> None:
        """Flush the encoders, write the trailer and rename the file to its final name.

        Idempotent.  With no frames written nothing is kept (a warning is logged).  On a
        failure the partial file is removed and :class:`SinkError` raised.
        """
        if self._closed:
            return
        if self.frames_written == 0:
            log.warning("no frames were written to %s: nothing kept", self.path)
            self.abort()
            return
        try:
            for route in self._audio:
                if not route.copied:
                    for f in route.decoder.decode(None):
                        self._container.mux(route.stream.encode(f))
                    self._container.mux(route.stream.encode(None))
            if not self._copying:
                self._container.mux(self._stream.encode(None))
            started = time.perf_counter()
            self._container.close()  # the trailer; with faststart also the move of the data behind the index
            self.trailer_seconds = time.perf_counter() - started
        except Exception as exc:
            self.abort()
            raise SinkError(f"finishing {self.path} failed: {_describe(exc)}") from exc
        try:
            self._stack.close()  # the rename; a failure here removes the temp file
        except OSError as exc:
            raise SinkError(f"cannot move the finished video to {self.path}: {_describe(exc)}") from exc
        finally:
            self._closed = True

    def abort(self) -> None:
        """Stop and delete the partial file; the target name is left untouched. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._container.close()
        self._discard()

    def _discard(self) -> None:
        self._stack.__exit__(_Aborted, _Aborted(), None)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` or :meth:`abort` has run."""
        return self._closed

    def __enter__(self) -> VideoFileSink:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

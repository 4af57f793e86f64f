"""Video file conversion: wiring only (demux/decode -> mask -> composite -> encode/mux).

Four stages overlap, each in its own thread, joined by small bounded queues so a slow
stage holds the others back instead of letting memory grow::

    decode thread      demux, decode, convert to BGR      (PyAV, GIL released)
    inference thread   Matte.compute on each frame        (TFLite)
    composite thread   Matte.apply_to + Compositor.apply  (OpenCV / NumPy)
    calling thread     encode + mux, audio packets, mask   (PyAV, libx264 threads)

Audio packets travel down the same queues in demux order, so the muxer sees audio and
video in the order the input had them.  Timestamps (``pts`` and the stream time base)
are carried from input to output unchanged, which keeps variable-frame-rate input and
its audio in sync.  The output is written to a temp file beside the target and renamed
only when complete (see :class:`~livebokeh.sinks.video.VideoFileSink`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from ..config import EffectOptions, MatteOptions, SegmenterOptions
from ..effects import Compositor
from ..effects.planar import PlanarCompositor, i420_half_bgr
from ..errors import ConfigError, InputError, LivebokehError, OutputError, SinkError
from ..frames import Frame, Mask
from ..matte import VIDEO_WORKING_SIDE, Matte
from ..safe_write import check_target, ensure_folder
from ..segmentation import SegmenterProtocol, create_segmenter
from ..sinks.video import CONTAINERS, VideoFileSink, choose_pix_fmt, container_for, default_codec
from ..sources.decoder import Picture, VideoDecoder, turn
from ..yuv import bgr_to_video_frame
from .workers import raise_worker_error

log = logging.getLogger(__name__)

#: File extensions picked up when a folder is given as input.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp")
#: Items waiting between two stages; each frame is ~6 MB at 1080p.
QUEUE_SIZE = 4
_END = object()  # sentinel: no more items
_POLL = 0.1  # seconds between checks of the stop event while blocked


@dataclass(frozen=True, kw_only=True, slots=True)
class EncodeOptions:
    """Output video encoder settings; ``None`` picks a visually lossless default.

    ``faststart`` writes MP4/MOV files with their index in front, ready to play from the
    web before the whole file has arrived (see :class:`~livebokeh.sinks.video.VideoFileSink`).
    """

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    threads: int | None = None
    thread_type: str | None = None
    faststart: bool = True

    def __post_init__(self) -> None:
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise ConfigError(f"crf {self.crf!r} is out of range: use 0 (lossless) to 51 (x264) / 63 (vp9)")
        if self.threads is not None and self.threads < 0:
            raise ConfigError(f"encoder threads {self.threads!r} is out of range: use 0 (auto) or more")


@dataclass(slots=True)
class ConvertResult:
    """What happened to one input file."""

    input: Path
    output: Path | None = None
    mask: Path | None = None
    frames: int = 0
    corrupt_skipped: int = 0
    seconds: float = 0.0
    audio: list[str] = field(default_factory=list)
    error: str | None = None
    cpu_ms_per_frame: dict[str, float] = field(default_factory=dict)
    """CPU time per frame of each pipeline thread, and of all threads of the process."""
    planar_frames: int = 0
    """Frames composited straight on their 4:2:0 planes (:mod:`livebokeh.effects.planar`), not via BGR."""

    @property
    def fps(self) -> float:
        """Frames written per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for ``--stats-json``."""
        d = asdict(self)
        for key in ("input", "output", "mask"):
            d[key] = None if d[key] is None else str(d[key])
        d["fps"] = round(self.fps, 2)
        d["seconds"] = round(self.seconds, 3)
        return d


@dataclass(slots=True)
class ConvertReport:
    """Results of a batch, in input order."""

    results: list[ConvertResult] = field(default_factory=list)

    @property
    def failed(self) -> list[ConvertResult]:
        return [r for r in self.results if r.error]


# -- planning ------------------------------------------------------------------------


def expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files as given; folders expanded to the video files directly inside them."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise InputError(f"folder {p} contains no video files ({', '.join(VIDEO_SUFFIXES)})")
            out.extend(found)
        else:
            out.append(p)
    return out


def _is_video_path(p: Path) -> bool:
    return p.suffix.lower() in CONTAINERS


def plan_outputs(
    inputs: list[Path], output: Path | None, out_dir: Path | None, mask_out: Path | None
) -> list[tuple[Path, Path, Path | None]]:
    """Pair each input with its output and mask path (mask: a video file or a PNG folder).

    In ``--out-dir`` mode the output keeps the input's name; an extension the writer
    cannot produce becomes ``.mp4``.  With several inputs ``--mask-out`` is a folder and
    each input gets ``STEM.mask.mp4`` in it.  A missing output or mask folder is created.
    """
    if output is not None and out_dir is not None:
        raise OutputError("give either -o OUTPUT or --out-dir DIR, not both")
    if output is None and out_dir is None:
        raise OutputError("no output given: pass -o OUTPUT (one input) or --out-dir DIR")
    if output is not None and len(inputs) != 1:
        raise OutputError(f"-o takes one input but {len(inputs)} were given: use --out-dir DIR for several")
    if output is not None:
        container_for(output)
    if out_dir is not None:
        ensure_folder(out_dir)
    if mask_out is not None and len(inputs) > 1:
        if mask_out.exists() and not mask_out.is_dir():
            raise OutputError(f"--mask-out {mask_out} must be a folder when several inputs are converted")
        ensure_folder(mask_out, what="mask folder")
    plan: list[tuple[Path, Path, Path | None]] = []
    for path in inputs:
        if output is not None:
            target = output
        else:
            assert out_dir is not None
            name = path.name if _is_video_path(path) else path.stem + ".mp4"
            target = out_dir / name
        mask: Path | None = None
        if mask_out is not None:
            mask = mask_out / f"{path.stem}.mask.mp4" if len(inputs) > 1 else mask_out
        plan.append((path, target, mask))
    return plan


# -- the pipeline --------------------------------------------------------------------


@dataclass(slots=True)
class _VideoItem:
    frame: Frame
    pts: int
    rotation: int
    mask: Mask | None = None
    alpha: np.ndarray | None = None
    out: np.ndarray | None = None
    vframe: Any = None
    i420: np.ndarray | None = None  # the 4:2:0 path: the decoded planes; ``frame`` is then their half-size BGR copy


@dataclass(slots=True)
class _AudioItem:
    packet: Any


class _Stage(threading.Thread):
    """A pipeline thread: keeps its exception for the caller and always passes the end marker on."""

    def __init__(self, name: str, body: Callable[[], None], downstream: queue.Queue[Any], stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self._body = body
        self._downstream = downstream
        self._stop_event = stop
        self.error: BaseException | None = None
        self.cpu_seconds = 0.0

    def run(self) -> None:
        try:
            self._body()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the calling thread
            self.error = exc
            self._stop_event.set()
            log.debug("%s failed", self.name, exc_info=True)
        finally:
            self.cpu_seconds = time.thread_time()
            _put(self._downstream, _END, self._stop_event, force=True)


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event, *, force: bool = False) -> bool:
    """Put with backpressure; give up when ``stop`` is set (unless ``force``: then drop the oldest)."""
    while True:
        if stop.is_set() and not force:
            return False
        try:
            q.put(item, timeout=_POLL)
            return True
        except queue.Full:
            if force and stop.is_set():
                with contextlib.suppress(queue.Empty):
                    q.get_nowait()


def _get(q: queue.Queue[Any], stop: threading.Event) -> Any:
    """Get, returning the end marker once ``stop`` is set."""
    while True:
        if stop.is_set():
            return _END
        try:
            return q.get(timeout=_POLL)
        except queue.Empty:
            continue


class _MaskPngFolder:
    """A folder of ``NNNNNN.png`` masks that appears under its final name only when complete."""

    def __init__(self, path: Path, *, overwrite: bool) -> None:
        self.path = path
        if path.exists() and not path.is_dir():
            raise OutputError(f"--mask-out {path} is a file: give a folder for PNG masks or a .mp4 name")
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise OutputError(f"mask folder {path} already exists and is not empty: pass --overwrite to replace it")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"cannot create mask folder {path}: {parent} is missing or not writable")
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=parent))
        self.count = 0
        self.closed = False

    def write(self, alpha: np.ndarray) -> None:
        name = self._tmp / f"{self.count:06d}.png"
        if not cv2.imwrite(str(name), alpha, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OutputError(f"cannot write mask {name}: is the disk full?")
        self.count += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        old = None
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old")
            os.replace(self.path, old)
        os.replace(self._tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            shutil.rmtree(self._tmp, ignore_errors=True)


class VideoConverter:
    """Converts video files with one segmenter, matte and compositor (the model is loaded once).

    ``mask_every`` = 1 computes a mask for every frame; ``N`` > 1 computes one every N
    frames and applies the newest mask (via :meth:`Matte.apply_to`, which may move it to
    the current frame) to the frames in between.  ``planar`` lets ``blur`` and ``bokeh``
    work on the decoded 4:2:0 planes where input and output allow it
    (:mod:`livebokeh.effects.planar`); ``False`` always goes through BGR.
    """

    def __init__(
        self,
        *,
        effect: EffectOptions | None = None,
        matte: MatteOptions | None = None,
        segmenter: SegmenterProtocol | SegmenterOptions | None = None,
        encode: EncodeOptions | None = None,
        mask_every: int = 1,
        queue_size: int = QUEUE_SIZE,
        planar: bool = True,
    ) -> None:
        if not isinstance(mask_every, int) or mask_every < 1:
            raise ConfigError(f"mask_every {mask_every!r} is out of range: use a whole number >= 1")
        if segmenter is None or isinstance(segmenter, SegmenterOptions):
            opts = segmenter or SegmenterOptions()
            segmenter = create_segmenter(opts.model, num_threads=opts.threads, person_class=opts.person_class)
        self.segmenter = segmenter
        self.matte_options = matte or MatteOptions()
        self.effect = effect or EffectOptions()
        self.encode = encode or EncodeOptions()
        self.mask_every = mask_every
        self.queue_size = max(1, queue_size)
        self.planar = planar
        self._matte = Matte(self.segmenter, self.matte_options, video=True)

    def close(self) -> None:
        """Release the model."""
        self.segmenter.close()

    def __enter__(self) -> VideoConverter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one file --------------------------------------------------------------------

    def convert(
        self,
        input: str | os.PathLike[str],
        output: str | os.PathLike[str],
        *,
        mask_out: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        on_start: Callable[[int | None], None] | None = None,
        on_frame: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> ConvertResult:
        """Convert one file; raise a :class:`LivebokehError` on bad input or output.

        ``on_start(total_frames_or_None)`` is called once the input is open,
        ``on_frame(n)`` after each written frame.  Setting ``stop`` (or an exception in
        the calling thread, e.g. Ctrl-C) aborts the run and leaves no output behind.
        """
        src, dst = Path(input), Path(output)
        mask_path = Path(mask_out) if mask_out is not None else None
        result = ConvertResult(input=src, output=dst, mask=mask_path)
        started = time.perf_counter()
        container_for(dst)
        with contextlib.suppress(OSError):
            if src.exists() and dst.exists() and src.resolve() == dst.resolve():
                raise OutputError(f"output {dst} is the input file: choose another name or folder")
        check_target(dst, overwrite=overwrite)
        if mask_path is not None and _is_video_path(mask_path):
            check_target(mask_path, overwrite=overwrite)
        with VideoDecoder(src, label="input") as decoder:
            self._run(decoder, src, dst, mask_path, overwrite, result, on_start, on_frame, stop)
        result.seconds = time.perf_counter() - started
        return result

    def _run(
        self,
        decoder: VideoDecoder,
        src: Path,
        dst: Path,
        mask_path: Path | None,
        overwrite: bool,
        result: ConvertResult,
        on_start: Callable[[int | None], None] | None,
        on_frame: Callable[[int], None] | None,
        external_stop: threading.Event | None,
    ) -> None:
        container = decoder.container
        audio_streams = decoder.audio
        skipped_types = [s.type for s in container.streams if s.type not in ("video", "audio")]
        if len(container.streams.video) > 1 or skipped_types:
            log.warning("%s: only the first video stream and the audio streams are kept", src)
        time_base: Fraction = decoder.time_base
        rate = decoder.rate
        color = decoder.color
        width, height = decoder.width, decoder.height
        codec = self.encode.codec or default_codec(dst)
        if on_start is not None:
            on_start(decoder.estimated_frames)

        stop = threading.Event()
        q_decoded: queue.Queue[Any] = queue.Queue(self.queue_size)
        q_masked: queue.Queue[Any] = queue.Queue(self.queue_size)
        q_done: queue.Queue[Any] = queue.Queue(self.queue_size)
        counters = {"planar": 0}
        size: list[tuple[int, int]] = []
        matte = self._matte
        matte.reset()  # a new stream: no temporal state carried over from the last file
        compositor = Compositor(self.effect)
        out_pix_fmt = choose_pix_fmt(codec, width, height)
        planar: PlanarCompositor | None = None
        if (
            self.planar
            and PlanarCompositor.supports(self.effect, width, height, out_pix_fmt, color)
            and max(width, height) // 2 >= VIDEO_WORKING_SIDE
        ):
            # blur/bokeh straight on the decoded planes: no BGR round trip (see effects.planar).
            # The matte then sees the half-size copy: only where that is no smaller than the copy
            # it works on anyway, so small people are found and cropped as in the BGR path.
            planar = PlanarCompositor(self.effect)

        def decode() -> None:
            for got in decoder.pictures_and_audio():
                if stop.is_set():
                    return
                if not isinstance(got, Picture):
                    if not _put(q_decoded, _AudioItem(got), stop):
                        return
                    continue
                if not size:
                    size.append(got.size)
                w, h = size[0]
                i420 = None
                if planar is not None and not got.turns and got.is_i420 and got.size == (w, h):
                    i420 = got.i420()
                    image = i420_half_bgr(i420, w, h)
                else:  # segment and composite upright; turned back before encoding
                    image = got.bgr(size=(w, h), encoder_pix_fmt=out_pix_fmt, upright=True)
                frame = Frame(image=image, timestamp_ns=got.timestamp_ns, index=got.index)
                item = _VideoItem(frame, got.pts, got.rotation)
                item.i420 = i420
                if not _put(q_decoded, item, stop):
                    return

        def infer() -> None:
            last: Mask | None = None
            while True:
                item = _get(q_decoded, stop)
                if item is _END:
                    return
                if isinstance(item, _VideoItem):
                    if last is None or item.frame.index % self.mask_every == 0:
                        last = matte.compute(item.frame)
                    item.mask = last
                if not _put(q_masked, item, stop):
                    return

        def composite() -> None:
            while True:
                item = _get(q_masked, stop)
                if item is _END:
                    return
                if isinstance(item, _VideoItem) and item.i420 is not None:
                    assert item.mask is not None and planar is not None
                    w, h = size[0]
                    item.alpha = matte.apply_to(item.mask, item.frame, size=(w, h))
                    planes = planar.apply(item.i420, item.alpha, half=item.frame.image)
                    item.vframe = av.VideoFrame.from_numpy_buffer(planes, format="yuv420p")
                    item.i420 = None
                    counters["planar"] += 1
                elif isinstance(item, _VideoItem):
                    assert item.mask is not None
                    item.alpha = matte.apply_to(item.mask, item.frame)
                    item.out = compositor.apply(item.frame.image, item.alpha, timestamp_ns=item.frame.timestamp_ns)
                    back = -(item.rotation // 90)  # to the stored orientation the encoder writes
                    item.out = turn(item.out, back)
                    item.alpha = turn(item.alpha, back)
                    # The colour conversion for the encoder happens here, off the encoding thread.
                    h, w = item.out.shape[:2]
                    item.vframe = bgr_to_video_frame(item.out, pix_fmt=choose_pix_fmt(codec, w, h), color=color)
                    item.out = None
                if not _put(q_done, item, stop):
                    return

        stages = [
            _Stage("convert-decode", decode, q_decoded, stop),
            _Stage("convert-infer", infer, q_masked, stop),
            _Stage("convert-composite", composite, q_done, stop),
        ]
        sink: VideoFileSink | None = None
        mask_sink: VideoFileSink | _MaskPngFolder | None = None
        routes: dict[int, Any] = {}
        pending_audio: list[Any] = []
        cpu_main = time.thread_time()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_all = usage.ru_utime + usage.ru_stime
        try:
            for stage in stages:
                stage.start()
            while True:
                if external_stop is not None and external_stop.is_set():
                    raise KeyboardInterrupt
                try:
                    item = q_done.get(timeout=_POLL)
                except queue.Empty:
                    continue
                if item is _END:
                    break
                if isinstance(item, _AudioItem):
                    if sink is None:
                        pending_audio.append(item.packet)
                    else:
                        sink.write_audio(routes[item.packet.stream.index], item.packet)
                    continue
                if sink is None:
                    w, h = item.vframe.width, item.vframe.height
                    sink = VideoFileSink(
                        dst,
                        fps=rate,
                        codec=self.encode.codec,
                        crf=self.encode.crf,
                        preset=self.encode.preset,
                        overwrite=overwrite,
                        size=(w, h),
                        time_base=time_base,
                        rotation=item.rotation,
                        threads=self.encode.threads,
                        thread_type=self.encode.thread_type,
                        color=color,
                        faststart=self.encode.faststart,
                    )
                    for a in audio_streams:
                        route = sink.add_audio(a)
                        routes[a.index] = route
                        result.audio.append(f"#{a.index} {route.codec} {route.how}")
                    if mask_path is not None:
                        mask_sink = self._open_mask(mask_path, rate, time_base, (w, h), item.rotation, overwrite)
                    for packet in pending_audio:
                        sink.write_audio(routes[packet.stream.index], packet)
                    pending_audio.clear()
                sink.write_av(item.vframe, item.pts)
                if isinstance(mask_sink, VideoFileSink):
                    mask_sink.write_gray(item.alpha, item.pts)
                elif mask_sink is not None:
                    mask_sink.write(item.alpha)
                result.frames = sink.frames_written
                if on_frame is not None:
                    on_frame(result.frames)
            for stage in stages:
                stage.join()
            raise_worker_error(stages)
            if sink is None or sink.frames_written == 0:
                raise InputError(f"input {src} has no decodable video frames")
            result.corrupt_skipped = decoder.corrupt_skipped
            result.planar_frames = counters["planar"]
            if mask_sink is not None:
                mask_sink.close()
            sink.close()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            n = max(1, sink.frames_written)
            result.cpu_ms_per_frame = {
                **{s.name.removeprefix("convert-"): round(s.cpu_seconds * 1000 / n, 2) for s in stages},
                "encode": round((time.thread_time() - cpu_main) * 1000 / n, 2),
                "process": round((usage.ru_utime + usage.ru_stime - cpu_all) * 1000 / n, 2),
            }
        except BaseException as exc:
            stop.set()
            for stage in stages:
                stage.join(timeout=5)
            if sink is not None:
                sink.abort()
            if mask_sink is not None:
                mask_sink.abort()
            first = next((s.error for s in stages if s.error is not None), None)
            if first is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)) and first is not exc:
                if isinstance(first, LivebokehError):
                    raise first from None
            raise

    def _open_mask(
        self, path: Path, rate: Fraction, time_base: Fraction, size: tuple[int, int], rotation: int, overwrite: bool
    ) -> VideoFileSink | _MaskPngFolder:
        if _is_video_path(path):
            codec = None if path.suffix.lower() == ".webm" else "libx264"
            return VideoFileSink(
                path,
                fps=rate,
                codec=codec,
                crf=self.encode.crf,
                preset=self.encode.preset,
                overwrite=overwrite,
                size=size,
                time_base=time_base,
                pix_fmt="gray" if codec == "libx264" else None,
                rotation=rotation,
                threads=self.encode.threads,
                thread_type=self.encode.thread_type,
                faststart=self.encode.faststart,
            )
        return _MaskPngFolder(path, overwrite=overwrite)


def run_convert(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    output: Path | None = None,
    out_dir: Path | None = None,
    mask_out: Path | None = None,
    overwrite: bool = False,
    converter: VideoConverter,
    on_start: Callable[[Path, int | None], None] | None = None,
    on_frame: Callable[[int], None] | None = None,
    on_done: Callable[[ConvertResult], None] | None = None,
    stop: threading.Event | None = None,
) -> ConvertReport:
    """Convert every input; a bad file is recorded and skipped, the rest go on.

    Ctrl-C (or ``stop``) ends the whole batch after removing the partial output.
    """
    plan = plan_outputs(expand_inputs(inputs), output, out_dir, mask_out)
    report = ConvertReport()
    for src, dst, mask in plan:
        started = time.perf_counter()
        start_cb: Callable[[int | None], None] | None = None
        if on_start is not None:
            start_cb = functools.partial(on_start, src)
        try:
            result = converter.convert(
                src,
                dst,
                mask_out=mask,
                overwrite=overwrite,
                on_start=start_cb,
                on_frame=on_frame,
                stop=stop,
            )
        except (LivebokehError, SinkError) as exc:
            result = ConvertResult(input=src, output=None, mask=None, error=str(exc))
            result.seconds = time.perf_counter() - started
            log.debug("convert %s failed", src, exc_info=True)
        report.results.append(result)
        if on_done is not None:
            on_done(result)
    return report

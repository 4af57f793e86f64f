"""Video file conversion: wiring only (decode -> mask -> composite -> encode).

Four stages overlap, each in its own thread, joined by small bounded queues
(:class:`~livebokeh.runtime.mailbox.FrameQueue`, chained by
:func:`~livebokeh.runtime.workers.producer` and :func:`~livebokeh.runtime.workers.stage`),
so a slow stage holds the others back instead of letting memory grow::

    decode thread      VideoDecoder: demux, decode, to BGR   (PyAV, GIL released)
    inference thread   Matte.compute on each frame           (TFLite)
    composite thread   Matte.apply_to + Compositor.apply     (OpenCV / NumPy)
    calling thread     ConvertedVideo: encode + mux, audio, mask   (PyAV, libx264 threads)

Audio packets travel down the same queues in demux order, so the muxer sees audio and
video in the order the input had them.  Timestamps (``pts`` and the stream time base)
are carried from input to output unchanged, which keeps variable-frame-rate input and
its audio in sync.  The output is written under a temporary name beside the target and
renamed only when complete (see :class:`~livebokeh.sinks.converted.ConvertedVideo`).
A failing stage stops the others and its error is raised in the calling thread; so is
Ctrl-C there, after the unfinished output is removed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..config import EffectOptions, MatteOptions, SegmenterOptions
from ..effects import Compositor, PlanarCompositor
from ..errors import ConfigError, InputError, LivebokehError, OutputError, SinkError
from ..frames import Frame, Mask
from ..matte import VIDEO_WORKING_SIDE, Matte
from ..matte.upsample import VIDEO_GUIDE_SIDE, guide_size
from ..safe_write import check_target, ensure_folder
from ..segmentation import SegmenterProtocol, create_segmenter
from ..sinks.converted import ConvertedVideo
from ..sinks.video import CONTAINERS, choose_pix_fmt, container_for, default_codec
from ..sources.decoder import Picture, VideoDecoder, turn
from ..yuv import bgr_to_video_frame, i420_half_bgr
from .mailbox import POLL_S, FrameQueue
from .workers import first_error, join_all, producer, raise_worker_error, stage

log = logging.getLogger(__name__)

#: File extensions picked up when a folder is given as input.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp")
#: Items waiting between two stages; each frame is ~6 MB at 1080p.
QUEUE_SIZE = 4
#: Seconds the stage threads get to end once the run is over or aborted.
JOIN_TIMEOUT_S = 5.0


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


@dataclass(frozen=True, slots=True)
class Preroll:
    """Convert one piece of a longer file (see :mod:`livebokeh.runtime.segments`).

    Frames before ``write_from`` go through the matte but are not written, so temporal
    smoothing and tracking carry across the cut; frames before ``matte_from`` are only
    decoded.  Both are timestamps in the input's video time base.
    """

    write_from: int
    matte_from: int | None = None


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


# -- the stages ----------------------------------------------------------------------


@dataclass(slots=True)
class _VideoItem:
    """One frame on its way through the stages."""

    frame: Frame  # upright BGR; on the 4:2:0 path the half-size copy of ``i420``
    pts: int
    rotation: int
    i420: np.ndarray | None = None  # the 4:2:0 path: the decoded planes
    mask: Mask | None = None
    alpha: np.ndarray | None = None
    vframe: Any = None  # what the encoder takes
    preroll: bool = False  # matted, not written (see Preroll)


class _Decode:
    """Decode stage: each picture as an upright BGR frame; audio packets passed on in file order.

    Frames keep the first picture's size (later ones of another size are scaled to it).
    On the 4:2:0 path a frame carries the decoded planes and a half-size BGR copy for the matte.
    With a :class:`Preroll`, pictures before its ``matte_from`` are dropped here and frame
    indices count from the first one kept.
    """

    def __init__(
        self, decoder: VideoDecoder, *, encoder_pix_fmt: str, planar: bool, preroll: Preroll | None = None
    ) -> None:
        self._decoder = decoder
        self._encoder_pix_fmt = encoder_pix_fmt
        self._planar = planar
        self._preroll = preroll

    def __call__(self) -> Iterator[_VideoItem | Any]:
        size: tuple[int, int] | None = None
        preroll, dropped = self._preroll, 0
        for got in self._decoder.pictures_and_audio():
            if not isinstance(got, Picture):
                yield got  # an audio packet
                continue
            if preroll is not None and preroll.matte_from is not None and got.pts < preroll.matte_from:
                dropped += 1  # decoded only to reach the pre-roll
                continue
            if size is None:
                size = got.size
            w, h = size
            index = got.index - dropped
            if self._planar and not got.turns and got.is_i420 and got.size == size:
                i420 = got.i420()
                frame = Frame(image=i420_half_bgr(i420, w, h), timestamp_ns=got.timestamp_ns, index=index)
                item = _VideoItem(frame, got.pts, got.rotation, i420)
            else:  # segmented and composited upright; turned back before encoding
                image = got.bgr(size=size, encoder_pix_fmt=self._encoder_pix_fmt, upright=True)
                item = _VideoItem(Frame(image=image, timestamp_ns=got.timestamp_ns, index=index), got.pts, got.rotation)
            item.preroll = preroll is not None and got.pts < preroll.write_from
            yield item


class _Infer:
    """Inference stage: a mask for every ``every``-th frame; the frames between carry the newest one."""

    def __init__(self, matte: Matte, every: int) -> None:
        self._matte = matte
        self._every = every
        self._last: Mask | None = None

    def __call__(self, item: _VideoItem | Any) -> _VideoItem | Any:
        if isinstance(item, _VideoItem):
            if self._last is None or item.frame.index % self._every == 0:
                self._last = self._matte.compute(item.frame)
            item.mask = self._last
        return item


class _Composite:
    """Composite stage: the mask applied to its frame, turned back to the stored orientation, made an encoder frame."""

    def __init__(
        self,
        matte: Matte,
        compositor: Compositor,
        planar: PlanarCompositor | None,
        *,
        codec: str,
        color: dict[str, int],
        full_alpha: bool = False,
    ) -> None:
        self._matte = matte
        self._compositor = compositor
        self._planar = planar
        self._codec = codec
        self._color = color
        self._full_alpha = full_alpha
        """Whether the alpha is needed at the frame's size (a mask file is written); on the 4:2:0 path it is
        otherwise made at the matte's guide resolution and upsampled inside the blend."""
        self.planar_frames = 0
        """Frames composited on their 4:2:0 planes so far."""

    def __call__(self, item: _VideoItem | Any) -> _VideoItem | Any | None:
        if not isinstance(item, _VideoItem):
            return item
        assert item.mask is not None
        if item.preroll:  # the matte's own state moves on; nothing is written
            size = None if item.i420 is None else (item.i420.shape[1], item.i420.shape[0] * 2 // 3)
            self._matte.apply_to(item.mask, item.frame, size=size)
            return None
        if item.i420 is not None:
            assert self._planar is not None
            h, w = item.i420.shape[0] * 2 // 3, item.i420.shape[1]
            size = (w, h) if self._full_alpha else guide_size((w, h), VIDEO_GUIDE_SIDE)
            item.alpha = self._matte.apply_to(item.mask, item.frame, size=size)
            planes = self._planar.apply(item.i420, item.alpha, half=item.frame.image, reduced=item.frame.reduced)
            item.vframe = av.VideoFrame.from_numpy_buffer(planes, format="yuv420p")
            item.i420 = None
            self.planar_frames += 1
            return item
        item.alpha = self._matte.apply_to(item.mask, item.frame)
        out = self._compositor.apply(
            item.frame.image, item.alpha, timestamp_ns=item.frame.timestamp_ns, reduced=item.frame.reduced
        )
        back = -(item.rotation // 90)  # quarter turns to the stored orientation the encoder writes
        out = turn(out, back)
        item.alpha = turn(item.alpha, back)
        # The colour conversion for the encoder happens here, off the encoding thread.
        h, w = out.shape[:2]
        item.vframe = bgr_to_video_frame(out, pix_fmt=choose_pix_fmt(self._codec, w, h), color=self._color)
        return item


def _finished_items(
    done: FrameQueue[Any], stop: threading.Event, external_stop: threading.Event | None
) -> Iterator[Any]:
    """The last queue's items, for the calling thread; ``KeyboardInterrupt`` once ``external_stop`` is set."""
    while True:
        if external_stop is not None and external_stop.is_set():
            raise KeyboardInterrupt
        item = done.get(timeout=POLL_S)
        if item is None:
            if done.finished or stop.is_set():
                return
            continue
        yield item


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
        preroll: Preroll | None = None,
    ) -> ConvertResult:
        """Convert one file; raise a :class:`LivebokehError` on bad input or output.

        ``on_start(total_frames_or_None)`` is called once the input is open,
        ``on_frame(n)`` after each written frame.  Setting ``stop`` (or an exception in
        the calling thread, e.g. Ctrl-C) aborts the run and leaves no output behind.
        ``preroll`` writes only the frames from a cut on (one piece of a longer file).
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
            self._run(decoder, dst, mask_path, overwrite, result, on_start, on_frame, stop, preroll)
        result.seconds = time.perf_counter() - started
        return result

    def _run(
        self,
        decoder: VideoDecoder,
        dst: Path,
        mask_path: Path | None,
        overwrite: bool,
        result: ConvertResult,
        on_start: Callable[[int | None], None] | None,
        on_frame: Callable[[int], None] | None,
        external_stop: threading.Event | None,
        preroll: Preroll | None = None,
    ) -> None:
        """Wire decode -> infer -> composite in three threads and encode here, then fill ``result``."""
        streams = decoder.container.streams
        if len(streams.video) > 1 or any(s.type not in ("video", "audio") for s in streams):
            log.warning("%s: only the first video stream and the audio streams are kept", decoder.source)
        codec = self.encode.codec or default_codec(dst)
        encoder_pix_fmt = choose_pix_fmt(codec, decoder.width, decoder.height)
        planar = self._planar_compositor(decoder, encoder_pix_fmt)
        self._matte.reset()  # a new stream: no temporal state carried over from the last file
        if on_start is not None:
            on_start(decoder.estimated_frames)

        stop = threading.Event()
        decoded: FrameQueue[Any] = FrameQueue(self.queue_size)
        masked: FrameQueue[Any] = FrameQueue(self.queue_size)
        done: FrameQueue[Any] = FrameQueue(self.queue_size)
        composite = _Composite(
            self._matte,
            Compositor(self.effect),
            planar,
            codec=codec,
            color=decoder.color,
            full_alpha=mask_path is not None,
        )
        workers = [
            producer(
                "convert-decode",
                _Decode(decoder, encoder_pix_fmt=encoder_pix_fmt, planar=planar is not None, preroll=preroll),
                decoded,
                stop,
            ),
            stage("convert-infer", _Infer(self._matte, self.mask_every), decoded, masked, stop),
            stage("convert-composite", composite, masked, done, stop),
        ]
        output = ConvertedVideo(
            dst,
            mask=mask_path,
            overwrite=overwrite,
            rate=decoder.rate,
            time_base=decoder.time_base,
            color=decoder.color,
            audio=decoder.audio,
            codec=self.encode.codec,
            crf=self.encode.crf,
            preset=self.encode.preset,
            threads=self.encode.threads,
            thread_type=self.encode.thread_type,
            faststart=self.encode.faststart,
        )
        cpu_main, cpu_all = time.thread_time(), _process_cpu_seconds()
        try:
            for worker in workers:
                worker.start()
            for item in _finished_items(done, stop, external_stop):  # encode and mux, on this thread
                if isinstance(item, _VideoItem):
                    output.write_video(item.vframe, item.pts, item.rotation, item.alpha)
                    result.frames = output.frames_written
                    if on_frame is not None:
                        on_frame(result.frames)
                else:
                    output.write_audio(item)
            join_all(workers, JOIN_TIMEOUT_S)
            raise_worker_error(workers)
            if output.frames_written == 0:
                raise InputError(f"input {decoder.source} has no decodable video frames")
            output.close()
        except BaseException as exc:
            stop.set()
            for q in (decoded, masked, done):
                q.close()
            join_all(workers, JOIN_TIMEOUT_S)
            output.abort()
            first = first_error(workers)
            if first is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)) and first is not exc:
                if isinstance(first, LivebokehError):
                    raise first from None
            raise
        result.audio = list(output.audio)
        result.corrupt_skipped = decoder.corrupt_skipped
        result.planar_frames = composite.planar_frames
        n = max(1, output.frames_written)
        result.cpu_ms_per_frame = {
            **{w.name.removeprefix("convert-"): round(w.cpu_seconds * 1000 / n, 2) for w in workers},
            "encode": round((time.thread_time() - cpu_main) * 1000 / n, 2),
            "process": round((_process_cpu_seconds() - cpu_all) * 1000 / n, 2),
        }

    def _planar_compositor(self, decoder: VideoDecoder, encoder_pix_fmt: str) -> PlanarCompositor | None:
        """The 4:2:0 compositor where this effect, stream and output allow it, else ``None`` (the BGR path)."""
        w, h = decoder.width, decoder.height
        if (
            self.planar
            and PlanarCompositor.supports(self.effect, w, h, encoder_pix_fmt, decoder.color)
            and max(w, h) // 2 >= VIDEO_WORKING_SIDE
        ):
            # blur/bokeh straight on the decoded planes: no BGR round trip (see effects.planar).
            # The matte then sees the half-size copy: only where that is no smaller than the copy
            # it works on anyway, so small people are found and cropped as in the BGR path.
            return PlanarCompositor(self.effect)
        return None


def _process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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

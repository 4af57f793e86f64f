"""The live pipeline: wiring only, no image maths.

::

    capture --every frame--> FrameQueue --> matte thread --alpha--> FrameQueue --> compositor --> sinks
       \\--newest frame--> Mailbox (one slot) --> inference thread --> MaskCache --/

* The **capture thread** reads the :class:`~livebokeh.sources.Source`, stamps each
  frame with ``time.monotonic_ns()`` and its index, hands every frame to the
  compositor and the newest one to the inference thread.
* The **inference thread** takes the newest frame, shrinks it cheaply towards the
  model input, runs :meth:`Matte.compute` and publishes the mask (stamped with its
  frame's time) in the mask cache, at most ``inference_fps`` times a second and as
  often as the :class:`~livebokeh.runtime.governor.InferenceGovernor` decides: fewer
  masks on a still scene, more when the person moves, within ``cpu_budget``.
* The **matte thread** brings the newest cached mask to every frame with
  :meth:`Matte.apply_to` (moved along the motion, refined at the guide's resolution),
  and the **compositor** (the thread that iterates the :class:`Pipeline`) composites
  the frame with that alpha (:meth:`Compositor.apply`) and writes the result to every
  sink: two stages of one frame's work on two cores, while the next frame's alpha is
  made the current one is composited.  The matte thread waits for a mask only when it is
  the frame's own and a few milliseconds away (at most half a frame, ``OWN_MASK_WAIT``);
  the compositor never waits for inference; before the first mask frames pass through
  unchanged.  Both queues are small and drop the oldest frame
  when the stage behind them falls back (counted as dropped).

Any exception in a thread ends the run and is re-raised by the compositor thread; a
failing sink is reported and dropped while the others go on.  Hotkeys and the HUD are
:class:`~livebokeh.runtime.controls.LiveControls` (``pipeline.controls``, attached to every
sink); the start-up practice run is :func:`~livebokeh.runtime.warmup.warm_up`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..config import EffectOptions, MatteOptions, SegmenterOptions
from ..effects import Compositor
from ..errors import ConfigError, LivebokehError, SinkError
from ..frames import Frame, Mask
from ..matte import Matte, VideoEstimator
from ..matte.upsample import VIDEO_GUIDE_SIDE, guide_size
from ..matte.warp import MaskWarper, predicted_change
from ..segmentation import SegmenterProtocol, create_segmenter
from ..sinks import Sink, SinkClosed, open_sink
from ..sources import Source, open_source
from ..sources.reconnect import with_reconnect
from ..stats import LiveStats
from .controls import LiveControls
from .governor import DEFAULT_CPU_BUDGET, FLOOR_HZ, InferenceGovernor
from .guard import CheckedSegmenter, InferenceGuard, MaskRejected
from .mailbox import FrameQueue, Mailbox
from .warmup import warm_up
from .workers import Worker, join_all, raise_worker_error

log = logging.getLogger(__name__)

__all__ = ["LiveOptions", "MaskCache", "Pipeline"]

POLL_S = 0.05
"""How often blocked threads look at the stop event."""

OPENCV_THREADS = 1
"""OpenCV's thread pool while a live pipeline runs: its calls then run on the thread that makes
them.  The pipeline's own threads (capture, inference, compositor) already spread over the cores,
and OpenCV's pool waits actively between the many small calls of a frame: at 1080p MJPEG here the
process took 68-73 % of a core with one OpenCV thread and 76-86 % with OpenCV's default (2 threads),
interleaved 12-15 s runs at load 0.7-2."""

FALLBACK_FPS = 30.0
"""The most masks per second the governor allows when the source reports no frame rate."""

OWN_MASK_WAIT = 0.5
"""The matte thread waits up to this share of a frame interval for a mask of the frame's own when the
inference thread is computing it or is about to (and masks take less than that): a few milliseconds of
latency on that frame (a mask takes 3-5 ms here at 720p and 1080p) for a mask that is 0 instead of a
gap old when applied.  It never waits longer, so a slow model does not slow the video."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveOptions:
    """How the live pipeline runs.

    ``inference_fps`` caps the model's rate (``None``: as fast as one core allows, up to
    the frame rate).  ``duration`` ends the run after that many seconds.  ``size`` and
    ``fps`` are what to ask a camera for (files are scaled to ``size``).  ``loop``
    replays files and the sample; ``realtime=False`` feeds file and synthetic frames
    as fast as the compositor takes them (capture then waits instead of dropping
    frames).  ``mirror`` flips the virtual camera; ``overwrite`` lets a file
    sink replace a file.  ``queue_frames`` is how far the compositor may lag before
    the oldest frame is dropped.  ``preshrink`` lets the inference thread shrink frames of
    1920 px and more cheaply (to a long side of ``PRESHRINK_SIDE``) before the matte and
    segmenter work on them.  ``stop_timeout`` bounds the join of all threads at shutdown.
    ``reconnect`` keeps a camera run going when the camera is lost: a "camera lost" card is
    shown while it is reopened with backoff (see :mod:`livebokeh.sources.reconnect`).
    ``cpu_budget`` is the whole process's CPU in percent of one core that the inference
    rate adapts to (``None``: no governor, a mask for every frame the model keeps up with);
    ``inference_floor`` the fewest masks per second it may go down to (see
    :mod:`livebokeh.runtime.governor`).  ``opencv_threads`` is the size of OpenCV's own thread
    pool while the pipeline runs (``None``: leave OpenCV's setting); see :data:`OPENCV_THREADS`.
    """

    inference_fps: float | None = None
    duration: float | None = None
    size: tuple[int, int] | None = None
    fps: float | None = None
    loop: bool = False
    realtime: bool = True
    mirror: bool = False
    overwrite: bool = False
    queue_frames: int = 4
    preshrink: bool = True
    stop_timeout: float = 1.0
    reconnect: bool = True
    cpu_budget: float | None = DEFAULT_CPU_BUDGET
    inference_floor: float = FLOOR_HZ
    opencv_threads: int | None = OPENCV_THREADS

    def __post_init__(self) -> None:
        if self.inference_fps is not None and not (
            isinstance(self.inference_fps, (int, float)) and 0 < self.inference_fps <= 1000
        ):
            raise ConfigError(
                f"inference fps {self.inference_fps!r} is out of range: use a number above 0 and at most 1000"
            )
        if self.duration is not None and not (isinstance(self.duration, (int, float)) and self.duration > 0):
            raise ConfigError(f"duration {self.duration!r} is out of range: use a number of seconds above 0")
        if self.fps is not None and not (isinstance(self.fps, (int, float)) and 0 < self.fps <= 240):
            raise ConfigError(f"fps {self.fps!r} is out of range: use a number above 0 and at most 240")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 2):
            raise ConfigError(f"size {self.size!r} is invalid: use (width, height)")
        if not isinstance(self.queue_frames, int) or self.queue_frames < 1:
            raise ConfigError(f"queue_frames {self.queue_frames!r} is out of range: use a whole number >= 1")
        if self.cpu_budget is not None and not (
            isinstance(self.cpu_budget, (int, float)) and 1 <= self.cpu_budget <= 6400
        ):
            raise ConfigError(
                f"cpu budget {self.cpu_budget!r} is out of range: use a percentage of one core from 1 to 6400, or off"
            )
        if not (isinstance(self.inference_floor, (int, float)) and 0 < self.inference_floor <= 1000):
            raise ConfigError(
                f"inference floor {self.inference_floor!r} is out of range: "
                "use masks per second above 0 and at most 1000"
            )
        if self.opencv_threads is not None and not (
            isinstance(self.opencv_threads, int)
            and not isinstance(self.opencv_threads, bool)
            and self.opencv_threads >= 1
        ):
            raise ConfigError(
                f"opencv_threads {self.opencv_threads!r} is out of range: use a whole number >= 1, or None"
            )
        if not self.stop_timeout > 0:
            raise ConfigError(f"stop_timeout {self.stop_timeout!r} is out of range: use a number of seconds above 0")


PRESHRINK_SIDE = 960
"""Long side the inference thread shrinks large frames to: well above the model input and
the matte's low-resolution work sizes, so masks do not change.  Measured on the 2-core dev
machine (min of 3): one inference on 1080p costs 13.0 ms from the full frame and 7.7 ms
from a 960x540 half-size copy (the copy included); at 720p shrinking costs more than it
saves (6.9 ms full, 7.5 ms shrunk), hence the factor-of-two threshold."""


def preshrink_size(size: tuple[int, int], model_hw: tuple[int, int]) -> tuple[int, int] | None:
    """``(width, height)`` to shrink frames of ``size`` to before inference, or ``None`` to leave them.

    Only frames at least twice ``PRESHRINK_SIDE`` (and twice the model input) are shrunk.
    """
    w, h = size
    long_side = max(w, h)
    target = max(PRESHRINK_SIDE, 2 * max(model_hw))
    if long_side < 2 * target:
        return None
    scale = target / long_side
    return max(2, round(w * scale)), max(2, round(h * scale))


def shrink_interpolation(size: tuple[int, int], target: tuple[int, int]) -> int:
    """Bilinear for a reduction up to 2x (it averages 2x2 pixels there), area averaging beyond."""
    return cv2.INTER_LINEAR if 2 * target[0] >= size[0] else cv2.INTER_AREA


MATTED_FRAMES = 2
"""Frames with their alpha that may wait for the compositor before the oldest is dropped."""


@dataclass(slots=True)
class _Matted:
    """A frame on its way from the matte thread to the compositor."""

    frame: Frame
    mask: Mask | None
    alpha: np.ndarray | None
    """The mask's alpha for this frame at the guide's resolution (``None``: pass the frame through)."""
    upsample_ns: int


class MaskCache:
    """The newest mask, published by the inference thread and read by the matte thread.

    The inference thread also says which frame its next mask is for (:meth:`begin`, and
    :meth:`expect` between masks), so that the matte thread can apply a frame's own mask to it
    (:meth:`for_frame`) when that mask is a few milliseconds away, instead of the previous one,
    a whole gap older.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._mask: Mask | None = None
        self._first = threading.Event()
        self._pending: int | None = None  # index of the frame a mask is being computed for
        self._started_ns = 0
        self._due_ns: int | None = None  # an idle inference thread takes the first frame captured from then on
        self._typical_ns = 0.0  # how long a mask takes (moving average of wall time)

    def begin(self, index: int) -> None:
        """The inference thread starts on the frame numbered ``index``."""
        with self._cond:
            self._pending, self._started_ns = index, time.monotonic_ns()
            self._cond.notify_all()

    def publish(self, mask: Mask) -> None:
        """Keep ``mask`` if it is newer than the cached one."""
        with self._cond:
            if self._mask is None or mask.index >= self._mask.index:
                self._mask = mask
            if self._pending is not None:
                took = time.monotonic_ns() - self._started_ns
                self._typical_ns = took if not self._typical_ns else 0.8 * self._typical_ns + 0.2 * took
            self._pending = None
            self._cond.notify_all()
        self._first.set()

    def expect(self, due_ns: int | None) -> None:
        """The next mask is for the first frame captured at or after ``due_ns`` (``None``: none is planned)."""
        with self._cond:
            self._pending, self._due_ns = None, due_ns
            self._cond.notify_all()

    def for_frame(self, frame: Frame, wait_s: float) -> Mask | None:
        """The mask to apply to ``frame``: its own when it is on the way (waiting up to ``wait_s`` for it,
        and only while masks take less than that), else the newest."""
        with self._cond:
            if self._coming(frame) and self._typical_ns <= wait_s * 1e9:
                self._cond.wait_for(lambda: not self._coming(frame), wait_s)
            return self._mask

    def _coming(self, frame: Frame) -> bool:
        """Whether a mask of ``frame``'s own is being computed, or is next from an idle inference thread."""
        if self._mask is not None and self._mask.index >= frame.index:
            return False
        if self._pending is not None:
            return self._pending == frame.index
        return self._due_ns is not None and frame.timestamp_ns >= self._due_ns

    def wait_first(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the first mask; whether one exists."""
        return self._first.wait(timeout)

    def newest(self) -> Mask | None:
        """The newest mask, or ``None`` before the first one."""
        return self._mask

    def clear(self) -> None:
        """Forget the cached mask."""
        with self._cond:
            self._mask = None
            self._pending = self._due_ns = None
            self._first.clear()


class Pipeline:
    """A live source wired through segmentation and compositing to any number of sinks.

    Use it as a context manager and iterate it frame by frame::

        with Pipeline(source="sample", sinks=["null"]) as pipeline:
            for frame, mask in pipeline:
                ...  # frame: the composited Frame; mask: the Mask applied (None before the first)

    or call :meth:`run` to go until the source ends, :meth:`stop` is called or
    ``options.duration`` passes; it returns the stats summary.  The composited
    image is reused two frames later: copy it to keep it.

    ``source`` is a :class:`~livebokeh.sources.Source` or a spec (``camera:0``,
    ``sample``, ``synthetic:1280x720@30``, a file or URL); ``sinks`` are
    :class:`~livebokeh.sinks.Sink` objects or specs (``preview``, ``virtualcam``,
    ``null``, a video file path); the pipeline closes them when it ends, including
    objects passed in.  ``segmenter`` is a ready
    :class:`~livebokeh.segmentation.Segmenter` (not closed by the pipeline) or the
    options to create one.
    """

    def __init__(
        self,
        source: str | Source = "sample",
        sinks: Sequence[str | Sink] = ("null",),
        *,
        effect: EffectOptions | None = None,
        matte: MatteOptions | None = None,
        segmenter: SegmenterProtocol | SegmenterOptions | None = None,
        options: LiveOptions | None = None,
    ) -> None:
        if isinstance(sinks, str):
            sinks = [sinks]
        self.options = options or LiveOptions()
        self.effect_options = effect or EffectOptions()
        self.matte_options = matte or MatteOptions()
        self._source_spec = source
        self._sink_specs = list(sinks)
        self._segmenter_arg = segmenter
        self.stats = LiveStats()
        self.source: Source | None = None
        self.sinks: list[Sink] = []
        self.sink_errors: list[str] = []
        """One message per sink that failed and was dropped."""
        self.segmenter: SegmenterProtocol | None = None
        self.matte: Matte | None = None
        self.compositor: Compositor | None = None
        self._own_segmenter = False
        self._stop = threading.Event()
        self._stop_reason = ""
        self._mailbox: Mailbox[Frame] = Mailbox()
        self._queue: FrameQueue[Frame] = FrameQueue(self.options.queue_frames)
        self._matted: FrameQueue[_Matted] = FrameQueue(MATTED_FRAMES)
        self._cache = MaskCache()
        self._frame_s = 1.0 / FALLBACK_FPS
        """The source's frame interval (``FALLBACK_FPS``'s where it reports no rate); set when the run starts."""
        self.guard = InferenceGuard()
        """Counts failed or rejected masks and decides when to pass frames through."""
        self.governor: InferenceGovernor | None = None
        """Decides when the next mask is computed (``None`` without a CPU budget); made when the run starts."""
        self._workers: list[Worker] = []
        self._started = False
        self._closed = False
        self._failed = False
        self._start_ns = 0
        self._out_bufs: list[np.ndarray] = []
        self._alpha_buf: np.ndarray | None = None
        self._out_i = 0
        self.controls: LiveControls | None = None
        """Hotkeys and HUD (what the preview window is attached to); made when the run starts."""
        self.last_alpha: np.ndarray | None = None
        """``uint8`` alpha applied to the latest frame (``None`` in passthrough), at the matte's guide
        resolution: the compositor upsamples it to the frame in its blend pass."""
        self._alpha_size: tuple[int, int] | None = None
        self._opencv_threads: int | None = None
        """OpenCV's thread count before :meth:`start` changed it (restored by :meth:`close`)."""
        self._shrink_size: tuple[int, int] | None = None
        self._shrink_interp = cv2.INTER_LINEAR
        self.on_sink_dropped: Callable[[str], None] | None = None
        """Called with a one-line message when a sink fails and is dropped (the CLI prints it)."""

    # -- life cycle --------------------------------------------------------------

    def start(self) -> Pipeline:
        """Open the source, the model and the sinks, and start the threads (once)."""
        if self._started:
            return self
        if self._closed:
            raise LivebokehError("this pipeline was closed: make a new Pipeline to run again")
        self._started = True
        if self.options.opencv_threads is not None:
            self._opencv_threads = cv2.getNumThreads()
            cv2.setNumThreads(self.options.opencv_threads)
        try:
            self._open()
        except BaseException:
            self._failed = True
            self.close()
            raise
        return self

    def _open(self) -> None:
        opts = self.options
        self.source = open_source(
            self._source_spec, size=opts.size, fps=opts.fps, loop=opts.loop, realtime=opts.realtime
        )
        if opts.reconnect:
            self.source = with_reconnect(self.source, size=opts.size, fps=opts.fps)
        seg = self._segmenter_arg
        if seg is None or isinstance(seg, SegmenterOptions):
            seg_opts = seg or SegmenterOptions()
            self.segmenter = create_segmenter(
                seg_opts.model, num_threads=seg_opts.threads, person_class=seg_opts.person_class
            )
            self._own_segmenter = True
        else:
            self.segmenter = seg
        self.matte = Matte(CheckedSegmenter(self.segmenter), self.matte_options, video=True)
        self.compositor = Compositor(self.effect_options)
        self.controls = LiveControls(
            compositor=self.compositor,
            started=self.effect_options,
            stop=self.stop,
            stats=self.stats,
            source=self.source,
            guard=self.guard,
            newest_mask=self._cache.newest,
        )
        size, fps = self.source.size, self.source.fps
        rate = fps if fps and fps > 0 else FALLBACK_FPS  # a source that does not know its rate
        self._frame_s = 1.0 / rate
        if opts.cpu_budget is not None:
            ceiling = min(rate, opts.inference_fps) if opts.inference_fps else rate
            self.governor = InferenceGovernor(
                budget_percent=opts.cpu_budget, floor_hz=min(opts.inference_floor, ceiling), ceiling_hz=ceiling
            )
            self.stats.governor = self.governor.report
        self.stats.source = self.source.name
        self.stats.size = size
        if opts.preshrink:
            self._shrink_size = preshrink_size(size, self.segmenter.input_size_for((size[1], size[0], 3)))
            if self._shrink_size is not None:
                self._shrink_interp = shrink_interpolation(size, self._shrink_size)
        w, h = size
        self._out_bufs = [np.empty((h, w, 3), np.uint8) for _ in range(3)]
        aw, ah = self._alpha_size = guide_size((w, h), VIDEO_GUIDE_SIDE)
        self._alpha_buf = np.empty((ah, aw), np.uint8)
        # every stage once before the sinks open: a window appears when frames are ready
        shrink = (self._shrink_size, self._shrink_interp) if self._shrink_size is not None else None
        self.stats.startup_s = warm_up(
            self.matte, self.compositor, size, alpha_buf=self._alpha_buf, out=self._out_bufs[0], shrink=shrink
        )
        if self._stop.is_set():  # stop() came while the model loaded: no sinks, no threads, the run ends
            log.info("live: stopped while starting (%s)", self._stop_reason)
            return
        for spec in self._sink_specs:
            sink = open_sink(spec, mirror=opts.mirror, overwrite=opts.overwrite)
            self.sinks.append(sink)  # before open, so close() releases a half-open sink too
            sink.attach(self.controls)
            sink.open(size, fps)
        self._workers = [
            Worker("capture", self._capture_loop, self._stop, on_exit=self._queue.close),
            Worker("inference", self._inference_loop, self._stop),
            Worker("matte", self._matte_loop, self._stop, on_exit=self._matted.close),
        ]
        self.stats.start()
        self._start_ns = time.monotonic_ns()
        for w_ in self._workers:
            w_.start()
        log.info(
            "live: %s %dx%d @ %g fps -> %s",
            self.stats.source,
            w,
            h,
            fps,
            ", ".join(s.name for s in self.sinks) or "no sinks",
        )

    def stop(self, reason: str = "stopped") -> None:
        """Ask the run to end (thread- and signal-safe); the threads finish within ``stop_timeout``."""
        if not self._stop.is_set():
            self._stop_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether the run was asked to end or has ended."""
        return self._stop.is_set()

    def close(self) -> None:
        """Stop the threads, join them, and release the source, sinks and model (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._mailbox.close()
        self._queue.close()
        self._matted.close()
        alive = join_all(self._workers, self.options.stop_timeout)
        self.stats.stop()
        errors: list[BaseException] = []
        if self.source is not None and "capture" not in alive:
            try:
                self.source.close()
            except Exception as exc:  # noqa: BLE001 - keep releasing the rest
                errors.append(exc)
        failed = self._failed or any(w.error is not None for w in self._workers)
        for sink in self.sinks:
            try:
                if failed:
                    sink.abort()
                else:
                    sink.close()
            except Exception as exc:  # noqa: BLE001 - one sink's failure must not keep others open
                errors.append(exc)
                log.warning("closing sink %s failed: %s", sink.name, exc)
        self.sinks = []
        if self._own_segmenter and self.segmenter is not None and "inference" not in alive:
            self.segmenter.close()
        if self._opencv_threads is not None and not alive:
            cv2.setNumThreads(self._opencv_threads)
        if alive:
            log.warning("live: %s did not stop within %.1f s", ", ".join(alive), self.options.stop_timeout)
        if errors and not failed:
            first = errors[0]
            if isinstance(first, LivebokehError):
                raise first
            raise SinkError(f"closing failed: {first}") from first

    @property
    def threads_alive(self) -> list[str]:
        """Names of the pipeline's threads still running (empty after :meth:`close`)."""
        return [w.name for w in self._workers if w.is_alive()]

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None and not (isinstance(exc_type, type) and issubclass(exc_type, KeyboardInterrupt)):
            self._failed = True
        self.close()

    # -- threads -----------------------------------------------------------------

    def _capture_loop(self, stop: threading.Event) -> None:
        assert self.source is not None
        read = self.source.read
        stats = self.stats
        mailbox, queue = self._mailbox, self._queue
        end_ns = self._start_ns + int(self.options.duration * 1e9) if self.options.duration else None
        paced = self.options.realtime
        source = self.source
        index = 0
        while not stop.is_set():
            t0 = time.monotonic_ns()
            image = read()
            now = time.monotonic_ns()
            if image is None:
                log.info("live: source %s ended after %d frames", stats.source, index)
                self._stop_reason = self._stop_reason or "source ended"
                return
            if stop.is_set():
                return
            stats.stage("capture", now - t0)
            frame = Frame(image=image, timestamp_ns=now, index=index)
            index += 1
            stats.captured(now)
            if paced:
                if queue.put(frame):
                    stats.frames_dropped += 1
            else:  # frames on demand (a file as fast as possible): wait for the compositor, drop nothing
                while not queue.put_wait(frame, POLL_S):
                    if stop.is_set():
                        return
            if source.is_card(image):  # "camera lost": shown as is, not segmented
                stats.camera_lost = max(1, source.losses)
            elif mailbox.put(frame):
                stats.inference_skipped += 1
            if end_ns is not None and now >= end_ns:
                self._stop_reason = self._stop_reason or "duration reached"
                return

    def _inference_loop(self, stop: threading.Event) -> None:
        assert self.matte is not None
        compute = self.matte.compute
        mailbox, cache, stats = self._mailbox, self._cache, self.stats
        governor = self.governor
        estimator = self.matte.estimator if isinstance(self.matte.estimator, VideoEstimator) else None
        warper = MaskWarper() if governor is not None else None
        cap = self.options.inference_fps
        gap_ns = int(1e9 / cap) if cap else 0
        # Frames are picked by their capture times: the next mask is for the first frame captured at least
        # the gap (less half a frame) after the last one's.  Waiting a gap of wall time from the last start
        # instead let the schedule drift against the camera's clock: at a mask every frame it skipped one
        # now and then, in bursts, and the mask applied to the next frame was two frames old.
        slack_ns = int(0.5e9 * self._frame_s)
        last_ts: int | None = None
        previous: Mask | None = None
        shrink = self._shrink_size
        while not stop.is_set():
            frame = mailbox.get(timeout=POLL_S)
            if frame is None:
                if mailbox.closed:
                    return
                continue
            if gap_ns and last_ts is not None and frame.timestamp_ns < last_ts + gap_ns - slack_ns:
                continue  # too soon after the last mask's frame: wait for a later one
            last_ts = frame.timestamp_ns
            t0 = time.monotonic_ns()
            cache.begin(frame.index)
            if shrink is not None:
                frame = Frame(image=self._shrunk(frame, shrink), timestamp_ns=frame.timestamp_ns, index=frame.index)
            try:
                mask = compute(frame)
            except Exception as exc:  # noqa: BLE001 - that mask is discarded and counted; the stream goes on
                cache.expect(None)
                stats.inference_errors += 1
                stats.masks_rejected += isinstance(exc, MaskRejected)
                backoff = self.guard.failed(exc)
                if backoff and stop.wait(backoff):
                    return
                continue
            self.guard.succeeded()
            now = time.monotonic_ns()
            cache.publish(mask)
            stats.stage("inference", now - t0)
            stats.inferred(now)
            if governor is not None and warper is not None:
                change = predicted_change(warper, previous, mask) if previous is not None else None
                gap_ns = int(governor.observed(change, time.thread_time()) * 1e9)  # within 1/inference_fps
                stats.governed(change, governor.limited_by)
                if estimator is not None:
                    estimator.cost_level = governor.cost_level
                previous = mask
            cache.expect(last_ts + gap_ns - slack_ns if gap_ns else last_ts + 1)

    def _shrunk(self, frame: Frame, size: tuple[int, int]) -> np.ndarray:
        """``frame`` shrunk to ``size`` for the model: its shared half-size level when that is the size.

        A 2x bilinear reduction averages 2 x 2 pixels, as the frame's own halving does, and the
        compositor halves the same frame for its guide image: one of the two threads makes it.
        """
        level = frame.reduced(max(size))
        if (level.shape[1], level.shape[0]) == size:
            return level
        return cv2.resize(frame.image, size, interpolation=self._shrink_interp)

    # -- compositor (the iterating thread) ------------------------------------------

    def __iter__(self) -> Iterator[tuple[Frame, Mask | None]]:
        """Composited frames with the mask applied to each; started here if not yet.

        A pipeline that the loop itself started (no ``with``, no :meth:`start`) is
        closed when the loop ends, also on ``break``.
        """
        own = not self._started
        self.start()
        try:
            while True:
                item = self.next_frame()
                if item is None:
                    return
                yield item
        finally:
            if self._stop.is_set() or self._matted.finished:
                self.stats.stop()
            if own:
                self.close()

    def next_frame(self) -> tuple[Frame, Mask | None] | None:
        """Composite and send out the next frame; ``None`` when the run has ended.

        Raises the error of any thread that failed.
        """
        self.start()
        queue = self._matted
        while True:
            if self._stop.is_set():
                raise_worker_error(self._workers)
                return None
            item = queue.get(timeout=POLL_S)
            if item is None:
                if queue.finished:
                    raise_worker_error(self._workers)
                    self._stop.set()
                    return None
                continue
            return self._composite(item)

    def _matte_loop(self, stop: threading.Event) -> None:
        """The matte thread: every frame from capture with the alpha of the newest mask, to the compositor."""
        frames, matted, stats, cache = self._queue, self._matted, self.stats, self._cache
        paced = self.options.realtime
        while not stop.is_set():
            frame = frames.get(timeout=POLL_S)
            if frame is None:
                if frames.finished:
                    return
                continue
            if not paced:
                # Frames on demand have no clock to keep up with: wait for the first mask
                # instead of passing frames through.
                while cache.newest() is None and not stop.is_set():
                    cache.wait_first(POLL_S)
                if stop.is_set():
                    return
            item = self._matte(frame)
            if paced:
                if matted.put(item):
                    stats.frames_dropped += 1
            else:  # wait for the compositor, drop nothing
                while not matted.put_wait(item, POLL_S):
                    if stop.is_set():
                        return

    def _matte(self, frame: Frame) -> _Matted:
        """``frame`` with the newest mask and its alpha (none while passing frames through)."""
        assert self.matte is not None and self.controls is not None
        t0 = time.monotonic_ns()
        mask = None if self._show_as_is(frame) else self._cache.for_frame(frame, OWN_MASK_WAIT * self._frame_s)
        t1 = time.monotonic_ns()
        self.stats.stage("wait", t1 - t0)
        if mask is None or self.controls.bypass:
            return _Matted(frame, mask, None, 0)
        alpha = self.matte.apply_to(mask, frame, size=self._alpha_size)
        return _Matted(frame, mask, alpha, time.monotonic_ns() - t1)

    def _composite(self, item: _Matted) -> tuple[Frame, Mask | None]:
        assert self.compositor is not None and self.controls is not None
        stats = self.stats
        frame, mask, alpha = item.frame, item.mask, item.alpha
        bypass = self.controls.bypass or alpha is None
        t0 = time.monotonic_ns()
        if mask is None or alpha is None or bypass:
            image = frame.image
            self.last_alpha = None
            t1 = t0
        else:
            self.last_alpha = alpha
            out = self._out_bufs[self._out_i]
            self._out_i = (self._out_i + 1) % len(self._out_bufs)
            if self.controls.view_mask:
                image = self.compositor.view_mask(alpha, out)
            else:
                image = self.compositor.apply(
                    frame.image, alpha, out=out, timestamp_ns=frame.timestamp_ns, reduced=frame.reduced
                )
            t1 = time.monotonic_ns()
            stats.stage("upsample", item.upsample_ns)
            stats.stage("composite", t1 - t0)
        result = Frame(image=image, timestamp_ns=frame.timestamp_ns, index=frame.index)
        if self.sinks:
            self._write_sinks(result)
        t2 = time.monotonic_ns()
        stats.stage("sinks", t2 - t1)
        stats.stage("frame", item.upsample_ns + t2 - t0)
        stats.composited(t2, None if mask is None or bypass else abs(frame.timestamp_ns - mask.timestamp_ns))
        return result, (None if bypass else mask)

    def _show_as_is(self, frame: Frame) -> bool:
        """Status cards (camera lost), and every frame while a failing model's last mask is too old."""
        assert self.source is not None
        return self.source.is_card(frame.image) or self.guard.passthrough()

    def _write_sinks(self, frame: Frame) -> None:
        for sink in list(self.sinks):
            try:
                sink.write(frame)
            except SinkClosed as exc:
                self._drop_sink(sink, str(exc), failed=False)
            except Exception as exc:  # noqa: BLE001 - one sink failing must not stop the others
                msg = str(exc) if isinstance(exc, LivebokehError) else f"{type(exc).__name__}: {exc}"
                log.debug("sink %s failed", sink.name, exc_info=True)
                self._drop_sink(sink, msg, failed=True)

    def _drop_sink(self, sink: Sink, message: str, *, failed: bool) -> None:
        self.sinks.remove(sink)
        text = f"sink {sink.name} {'failed' if failed else 'closed'}: {message}"
        if failed:
            self.sink_errors.append(text)
        self.stats.sinks_dropped.append(sink.name)
        try:
            (sink.abort if failed else sink.close)()
        except Exception:  # noqa: BLE001 - it already failed; closing is best effort
            log.debug("closing dropped sink %s failed", sink.name, exc_info=True)
        if self.on_sink_dropped is not None:
            self.on_sink_dropped(text + (" (others keep running)" if self.sinks else ""))
        else:
            log.warning("%s", text)
        if not self.sinks:
            if failed:
                self._failed = True
                raise SinkError(text)
            self.stop("all sinks closed")

    def run(self) -> dict[str, Any]:
        """Run until the source ends, :meth:`stop` is called or the duration passes; return the stats."""
        try:
            with self:
                for _ in self:
                    pass
        finally:
            self.stats.stop()
        return self.stats.summary()

    @property
    def stop_reason(self) -> str:
        """Why the run ended (``duration reached``, ``source ended``, ``quit``...)."""
        return self._stop_reason

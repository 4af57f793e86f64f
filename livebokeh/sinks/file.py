"""Record the processed live stream into a video file (wraps :class:`~.video.VideoFileSink`).

Encoding runs in its own :class:`~livebokeh.runtime.workers.Worker` thread behind a
small bounded :class:`~livebokeh.runtime.mailbox.FrameQueue`, so the compositor does
not wait for the encoder frame by frame; when the encoder falls behind by more than
the queue, :meth:`FileSink.write` blocks (backpressure: every recorded frame matters).
Timestamps follow the capture clock, so a recording keeps real time even when frames
were dropped upstream.  The file appears under its name only when the recording ends
cleanly; an encoder error is raised by the next ``write`` (the pipeline then drops
this sink and reports it).  Closing waits for the queued frames to be encoded, within
:data:`FINISH_TIMEOUT_S`; aborting stops after the frame being encoded, within
:data:`ABORT_TIMEOUT_S`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LivebokehError, SinkError
from ..frames import Frame
from ..runtime.mailbox import FrameQueue
from ..runtime.workers import Worker, join_all
from ..safe_write import check_target
from .base import BaseSink

if TYPE_CHECKING:
    from .video import VideoFileSink

log = logging.getLogger(__name__)

__all__ = ["FileSink"]

LIVE_PRESET = "veryfast"
LIVE_CRF = 20
QUEUE_FRAMES = 8
"""Frames the encoder thread may lag behind before ``write`` waits."""
FINISH_TIMEOUT_S = 30.0
"""How long closing waits for the encoder to write what is queued (a few frames)."""
ABORT_TIMEOUT_S = 2.0
"""How long aborting waits for the encoder to finish the frame it is on."""


class FileSink(BaseSink):
    """A video file written while the pipeline runs (``.mp4``, ``.mkv``, ``.webm``, ``.mov``)."""

    def __init__(
        self, path: str | Path, *, overwrite: bool = False, crf: int = LIVE_CRF, preset: str | None = LIVE_PRESET
    ) -> None:
        from .video import container_for

        self.path = Path(path)
        self.name = str(self.path)
        container_for(self.path)  # unsupported extension -> OutputError now, not mid-run
        check_target(self.path, overwrite=overwrite)  # existing file, missing folder -> now too
        self.overwrite = overwrite
        self.crf = crf
        self.preset = preset
        self._writer: VideoFileSink | None = None
        self._t0: int | None = None
        self._last_pts = -1
        self._fps = 30.0
        self._stop = threading.Event()
        self._queue: FrameQueue[tuple[np.ndarray, int]] = FrameQueue(QUEUE_FRAMES)
        self._pool: list[np.ndarray] = []
        self._slot = 0
        self._worker: Worker | None = None

    def open(self, size: tuple[int, int], fps: float) -> None:
        from .video import VideoFileSink

        self._fps = fps
        codec_preset = self.preset if self.path.suffix.lower() in (".mp4", ".mkv", ".mov") else None
        # No faststart: moving the index of a long recording to the front would hold up the stop.
        self._writer = VideoFileSink(
            self.path, fps=fps, crf=self.crf, preset=codec_preset, overwrite=self.overwrite, size=size, faststart=False
        )
        w, h = size
        # One buffer more than can be queued or encoding at once, so a copy never overwrites a pending frame.
        self._pool = [np.empty((h, w, 3), np.uint8) for _ in range(QUEUE_FRAMES + 2)]
        # When the encoder ends for any reason the queue closes, so a write waiting for room wakes up.
        self._worker = Worker(f"encode {self.path.name}", self._encode_loop, self._stop, on_exit=self._queue.close)
        self._worker.start()

    def _encode_loop(self, stop: threading.Event) -> None:
        writer = self._writer
        assert writer is not None
        for image, pts in self._queue.drain(stop):
            writer.write(image, pts=pts)

    def _raise_error(self) -> None:
        exc = self._worker.error if self._worker is not None else None
        if exc is None:
            return
        if isinstance(exc, LivebokehError):
            raise exc
        raise SinkError(f"recording to {self.path} failed: {exc}") from exc

    def write(self, frame: Frame) -> None:
        if self._writer is None or self._worker is None:
            raise SinkError(f"video file {self.path} was not opened")
        self._raise_error()
        if not self._worker.is_alive():
            raise SinkError(f"recording to {self.path} stopped")
        if self._t0 is None:
            self._t0 = frame.timestamp_ns
        pts = max(self._last_pts + 1, round((frame.timestamp_ns - self._t0) * self._fps / 1e9))
        self._last_pts = pts
        buf = self._pool[self._slot]
        self._slot = (self._slot + 1) % len(self._pool)
        np.copyto(buf, frame.image)  # the compositor reuses its output buffers
        if not self._queue.put_until((buf, pts), self._stop):  # waits while the encoder is behind
            self._raise_error()
            raise SinkError(f"recording to {self.path} stopped")

    @property
    def frames_written(self) -> int:
        return self._writer.frames_written if self._writer is not None else 0

    def _finish_thread(self, timeout: float) -> bool:
        """Close the queue (the encoder drains it, or stops at once if told to) and join; whether it ended."""
        self._queue.close()
        if self._worker is None:
            return True
        return not join_all([self._worker], timeout)

    def _release(self) -> None:
        if not self._finish_thread(FINISH_TIMEOUT_S):
            # The encoder still holds the file: leave it to the exit clean-up rather than pull it away.
            raise SinkError(f"recording to {self.path} did not finish within {FINISH_TIMEOUT_S:g} s: nothing kept")
        if self._writer is not None:
            if self._worker is not None and self._worker.error is not None:
                self._writer.abort()
                self._raise_error()
            self._writer.close()

    def abort(self) -> None:
        """Stop encoding and remove the partial file (a failure or interruption)."""
        if not self._closed:
            self._closed = True
            self._stop.set()
            ended = self._finish_thread(ABORT_TIMEOUT_S)
            if self._writer is not None and ended:
                self._writer.abort()

"""Record the processed live stream into a video file (wraps :class:`~.video.VideoFileSink`).

Encoding runs in its own thread behind a small bounded queue, so the compositor does
not wait for the encoder frame by frame; when the encoder falls behind by more than
the queue, :meth:`FileSink.write` blocks (backpressure: every recorded frame matters).
Timestamps follow the capture clock, so a recording keeps real time even when frames
were dropped upstream.  The file appears under its name only when the recording ends
cleanly; an encoder error is raised by the next ``write`` (the pipeline then drops
this sink and reports it).
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LivebokehError, SinkError
from ..frames import Frame
from ..safe_write import check_target
from . import BaseSink

if TYPE_CHECKING:
    from .video import VideoFileSink

log = logging.getLogger(__name__)

__all__ = ["FileSink"]

LIVE_PRESET = "veryfast"
LIVE_CRF = 20
QUEUE_FRAMES = 8
"""Frames the encoder thread may lag behind before ``write`` waits."""
_END = None


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
        self._queue: queue.Queue[tuple[np.ndarray, int] | None] = queue.Queue(QUEUE_FRAMES)
        self._pool: list[np.ndarray] = []
        self._slot = 0
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._abandon = threading.Event()

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
        self._thread = threading.Thread(target=self._encode_loop, name=f"encode {self.path.name}", daemon=True)
        self._thread.start()

    def _encode_loop(self) -> None:
        writer = self._writer
        assert writer is not None
        while True:
            item = self._queue.get()
            if item is _END or self._abandon.is_set():
                return
            image, pts = item
            try:
                writer.write(image, pts=pts)
            except BaseException as exc:  # noqa: BLE001 - handed to the compositor thread by write()
                self._error = exc
                return

    def _raise_error(self) -> None:
        exc = self._error
        if exc is None:
            return
        if isinstance(exc, LivebokehError):
            raise exc
        raise SinkError(f"recording to {self.path} failed: {exc}") from exc

    def write(self, frame: Frame) -> None:
        if self._writer is None or self._thread is None:
            raise SinkError(f"video file {self.path} was not opened")
        self._raise_error()
        if not self._thread.is_alive():
            raise SinkError(f"recording to {self.path} stopped")
        if self._t0 is None:
            self._t0 = frame.timestamp_ns
        pts = max(self._last_pts + 1, round((frame.timestamp_ns - self._t0) * self._fps / 1e9))
        self._last_pts = pts
        buf = self._pool[self._slot]
        self._slot = (self._slot + 1) % len(self._pool)
        np.copyto(buf, frame.image)  # the compositor reuses its output buffers
        while True:
            try:
                self._queue.put((buf, pts), timeout=0.5)
                return
            except queue.Full:
                self._raise_error()
                if not self._thread.is_alive():
                    raise SinkError(f"recording to {self.path} stopped") from None

    @property
    def frames_written(self) -> int:
        return self._writer.frames_written if self._writer is not None else 0

    def _finish_thread(self) -> None:
        if self._thread is None:
            return
        while self._thread.is_alive():
            try:
                self._queue.put(_END, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _release(self) -> None:
        self._finish_thread()
        if self._writer is not None:
            if self._error is not None:
                self._writer.abort()
                self._raise_error()
            self._writer.close()

    def abort(self) -> None:
        """Stop encoding and remove the partial file (a failure or interruption)."""
        if not self._closed:
            self._closed = True
            self._abandon.set()
            self._finish_thread()
            if self._writer is not None:
                self._writer.abort()

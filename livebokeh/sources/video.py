"""A video file or stream played as if it were a camera.

Decoded by :class:`~livebokeh.sources.decoder.VideoDecoder`, paced in real time against
``time.monotonic_ns()`` at the stream's frame rate, optionally looped and scaled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, SourceError
from .base import BaseSource
from .decoder import Picture, VideoDecoder
from .pacing import Pacer

log = logging.getLogger(__name__)

__all__ = ["VideoSource"]


class VideoSource(BaseSource):
    """Frames of a video file or URL, delivered at its frame rate (or as fast as possible)."""

    def __init__(
        self,
        path: str | Path,
        *,
        loop: bool = False,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        realtime: bool = True,
        name: str | None = None,
    ) -> None:
        self._target = str(path)
        self.name = name or self._target
        self.loop = loop
        self.realtime = realtime
        self._decoder = VideoDecoder(self._target, label="video", timeout=10.0)
        src_w, src_h = self._decoder.width, self._decoder.height
        if src_w < 2 or src_h < 2:
            self._decoder.close()
            raise InputError(f"video {self._target} reports no picture size: is it a video file?")
        self._fps = float(fps or self._decoder.fps)
        self._size = size or (src_w, src_h)
        self._pacer = Pacer(self._fps)
        self._frames: Iterator[Picture] = self._decoder.pictures()
        self.frames_read = 0
        log.info("video source %s: %dx%d @ %.3g fps%s", self.name, *self._size, self._fps, " (looping)" if loop else "")

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def fps(self) -> float:
        return self._fps

    def _next_decoded(self) -> Picture | None:
        for attempt in range(2):
            try:
                return next(self._frames)
            except StopIteration:
                if not self.loop or attempt or self.frames_read == 0:
                    return None
                self._decoder.rewind()  # for --loop
                self._frames = self._decoder.pictures()
            except InputError as exc:  # the file is damaged past this point: a source failure mid-run
                raise SourceError(str(exc)) from exc
        return None

    def read(self) -> np.ndarray | None:
        """Decode the next frame and wait until it is due; ``None`` at the end (without ``loop``)."""
        if self._closed:
            return None
        decoded = self._next_decoded()
        if decoded is None:
            return None
        image = decoded.bgr()
        if (image.shape[1], image.shape[0]) != self._size:
            w, h = self._size
            interp = cv2.INTER_AREA if w < image.shape[1] else cv2.INTER_LINEAR
            image = cv2.resize(image, (w, h), interpolation=interp)
        self.frames_read += 1
        if self.realtime:
            self._pacer.wait()
        return np.ascontiguousarray(image)

    def _release(self) -> None:
        self._decoder.close()

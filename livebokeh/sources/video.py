"""A video file or stream played as if it were a camera.

Decoded with PyAV (threaded decoding), paced in real time against
``time.monotonic_ns()`` at the stream's frame rate, optionally looped and scaled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import InputError, SourceError
from . import BaseSource
from .pacing import Pacer

log = logging.getLogger(__name__)

__all__ = ["VideoSource"]


def _open_container(target: str) -> Any:
    import av

    try:
        return av.open(target, mode="r", timeout=10.0)
    except FileNotFoundError as exc:
        raise InputError(f"video {target} does not exist: check the path") from exc
    except PermissionError as exc:
        raise InputError(f"video {target} cannot be read (permission denied): fix its permissions") from exc
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"video {target} cannot be opened: {exc}") from exc


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
        self._container = _open_container(self._target)
        streams = self._container.streams.video
        if not streams:
            self._container.close()
            raise InputError(f"video {self._target} has no video stream: give a video file")
        self._stream = streams[0]
        self._stream.thread_type = "AUTO"
        ctx = self._stream.codec_context
        src_w, src_h = int(ctx.width or 0), int(ctx.height or 0)
        if src_w < 2 or src_h < 2:
            self._container.close()
            raise InputError(f"video {self._target} reports no picture size: is it a video file?")
        rate = self._stream.average_rate or self._stream.guessed_rate
        self._fps = float(fps or (float(rate) if rate else 0.0) or 30.0)
        self._size = size or (src_w, src_h)
        self._pacer = Pacer(self._fps)
        self._frames: Iterator[Any] = self._container.decode(self._stream)
        self.frames_read = 0
        log.info("video source %s: %dx%d @ %.3g fps%s", self.name, *self._size, self._fps, " (looping)" if loop else "")

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def fps(self) -> float:
        return self._fps

    def _restart(self) -> bool:
        """Rewind for ``--loop``; return ``False`` if the stream cannot restart."""
        import av

        try:
            self._container.seek(0, stream=self._stream)
        except (av.FFmpegError, OSError, ValueError):
            log.debug("seek failed on %s; reopening", self.name, exc_info=True)
            self._container.close()
            self._container = _open_container(self._target)
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
        self._frames = self._container.decode(self._stream)
        return True

    def _next_decoded(self) -> Any | None:
        import av

        for attempt in range(2):
            try:
                return next(self._frames)
            except StopIteration:
                if not self.loop or attempt or self.frames_read == 0:
                    return None
                self._restart()
            except (av.FFmpegError, OSError) as exc:
                raise SourceError(f"video {self.name} failed while decoding frame {self.frames_read}: {exc}") from exc
        return None

    def read(self) -> np.ndarray | None:
        """Decode the next frame and wait until it is due; ``None`` at the end (without ``loop``)."""
        if self._closed:
            return None
        decoded = self._next_decoded()
        if decoded is None:
            return None
        image = decoded.to_ndarray(format="bgr24")
        if (image.shape[1], image.shape[0]) != self._size:
            w, h = self._size
            interp = cv2.INTER_AREA if w < image.shape[1] else cv2.INTER_LINEAR
            image = cv2.resize(image, (w, h), interpolation=interp)
        self.frames_read += 1
        if self.realtime:
            self._pacer.wait()
        return np.ascontiguousarray(image)

    def _release(self) -> None:
        self._container.close()

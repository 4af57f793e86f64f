"""A webcam through OpenCV ``VideoCapture``.

Asks for the requested size and frame rate and for MJPG (which lets most USB cameras
deliver 720p/1080p at 30 fps), then reports what the camera actually delivers.
Frames are read into a small ring of reused buffers, so capture does not allocate.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import CameraOpenError, SourceError
from .base import BaseSource

log = logging.getLogger(__name__)

__all__ = ["CameraSource"]

RING = 12
"""Reused capture buffers; more than the frames the pipeline can hold at once."""
LOST_AFTER_S = 2.0
"""A camera that delivers nothing for this long mid-run is treated as gone."""
FIRST_FRAME_S = 5.0


def _fourcc_text(value: float) -> str:
    code = int(value)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if text.isprintable() and text.strip() else "?"


def _describe(device: int | str) -> str:
    if isinstance(device, int) and sys.platform.startswith("linux"):
        return f"camera {device} (/dev/video{device})"
    return f"camera {device}"


class CameraSource(BaseSource):
    """Live frames from camera ``device`` (an index or a device path)."""

    capture_factory: Callable[..., Any] = cv2.VideoCapture
    """How ``VideoCapture`` is made; tests replace it with a fake camera."""

    def __init__(
        self,
        device: int | str = 0,
        *,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        capture_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.device = device
        self.name = _describe(device)
        hint = "check that it is connected and not used by another program, or try --source sample"
        if isinstance(device, int) and sys.platform.startswith("linux") and not Path(f"/dev/video{device}").exists():
            raise CameraOpenError(f"{self.name} does not exist: {hint}")
        factory = capture_factory or type(self).capture_factory
        level = _quiet_opencv()
        try:
            self._cap = factory(device)
        finally:
            _restore_opencv(level)
        if self._cap is None or not self._cap.isOpened():
            raise CameraOpenError(f"{self.name} cannot be opened: {hint}")
        self._cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        if size:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        first = self._read_first()
        self._size = (int(first.shape[1]), int(first.shape[0]))
        reported = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._fps = reported if 0 < reported <= 240 else float(fps or 30.0)
        self.pixel_format = _fourcc_text(self._cap.get(cv2.CAP_PROP_FOURCC))
        self._ring = [first] + [np.empty_like(first) for _ in range(RING - 1)]
        self._slot = 0
        self._pending: np.ndarray | None = first
        self.frames_read = 0
        self.delivered = f"{self.name}: {self._size[0]}x{self._size[1]} @ {self._fps:g} fps, {self.pixel_format}"
        if size and size != self._size:
            self.delivered += f" (asked for {size[0]}x{size[1]})"
        log.info("%s", self.delivered)

    def _read_first(self) -> np.ndarray:
        deadline = time.monotonic() + FIRST_FRAME_S
        while time.monotonic() < deadline:
            ok, image = self._cap.read()
            if ok and image is not None and image.ndim == 3 and image.shape[2] == 3:
                return np.ascontiguousarray(image)
            time.sleep(0.02)
        self._cap.release()
        raise CameraOpenError(
            f"{self.name} opened but delivered no picture in {FIRST_FRAME_S:g} s: try another camera or --source sample"
        )

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def fps(self) -> float:
        return self._fps

    def read(self) -> np.ndarray | None:
        """The next camera frame; :class:`SourceError` if the camera stops delivering."""
        if self._closed:
            return None
        if self._pending is not None:
            first, self._pending = self._pending, None
            self.frames_read += 1
            return first
        self._slot = (self._slot + 1) % RING
        buf = self._ring[self._slot]
        deadline = time.monotonic() + LOST_AFTER_S
        while True:
            ok, image = self._cap.read(buf)
            if ok and image is not None:
                if image.shape != buf.shape:
                    raise SourceError(
                        f"{self.name} changed its picture size to {image.shape[1]}x{image.shape[0]} mid-run: "
                        "restart livebokeh"
                    )
                self.frames_read += 1
                return image
            if self._closed:
                return None
            if time.monotonic() > deadline:
                raise SourceError(
                    f"{self.name} stopped delivering frames after {self.frames_read} frames "
                    "(unplugged or taken by another program?): reconnect it and start again"
                )
            time.sleep(0.01)

    def _release(self) -> None:
        self._cap.release()


def _quiet_opencv() -> int | None:
    """Silence OpenCV's own warnings while probing a camera (our error message says it better)."""
    try:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        return int(level)
    except AttributeError:
        return None


def _restore_opencv(level: int | None) -> None:
    if level is not None:
        cv2.utils.logging.setLogLevel(level)

"""Fakes for the live-pipeline tests: a segmenter, a camera and sinks that misbehave on purpose."""

from __future__ import annotations

import threading
import time

import numpy as np

from livebokeh.errors import SinkError
from livebokeh.frames import Frame
from livebokeh.sinks import BaseSink


class FakeSegmenter:
    """A person-shaped blob at 64x36, optionally slow, blocked, or failing after some calls."""

    name = "fake"
    runtime = "none"

    def __init__(self, *, delay: float = 0.0, fail_after: int | None = None, gate: threading.Event | None = None):
        self.delay = delay
        self.fail_after = fail_after
        self.gate = gate
        self.calls = 0
        self.closed = False
        mask = np.zeros((36, 64), np.float32)
        mask[8:, 20:44] = 1.0
        self.mask = mask

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        return 36, 64

    def segment(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("model exploded")
        if self.gate is not None and threading.current_thread() is not threading.main_thread():
            self.gate.wait(5.0)  # the inference thread waits; the warm-up (main thread) passes
        if self.delay:
            time.sleep(self.delay)
        return self.mask.copy()

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        return self.segment(image)

    def close(self) -> None:
        self.closed = True


class RecordingSink(BaseSink):
    """Keeps a copy of (a few) frames and counts all of them."""

    def __init__(self, name: str = "recorder", keep: int = 5, delay: float = 0.0) -> None:
        self.name = name
        self.keep = keep
        self.delay = delay
        self.frames: list[np.ndarray] = []
        self.count = 0
        self.opened_with: tuple[tuple[int, int], float] | None = None

    def open(self, size: tuple[int, int], fps: float) -> None:
        self.opened_with = (size, fps)

    def write(self, frame: Frame) -> None:
        self.count += 1
        if len(self.frames) < self.keep:
            self.frames.append(frame.image.copy())
        if self.delay:
            time.sleep(self.delay)

    @property
    def closed(self) -> bool:
        return self._closed


class FailingSink(RecordingSink):
    """Raises :class:`SinkError` on write number ``fail_at``."""

    def __init__(self, fail_at: int = 3, exc: Exception | None = None) -> None:
        super().__init__(name="failing")
        self.fail_at = fail_at
        self.exc = exc or SinkError("virtual camera closed by another program")

    def write(self, frame: Frame) -> None:
        super().write(frame)
        if self.count >= self.fail_at:
            raise self.exc


class FakeCapture:
    """Stands in for ``cv2.VideoCapture``: delivers ``frames`` frames at ``fps``, then fails forever."""

    def __init__(self, device: object = 0, *, frames: int = 1_000_000, fps: float = 30.0, opened: bool = True):
        self.device = device
        self.remaining = frames
        self.fps = fps
        self.opened = opened
        self.props: dict[int, float] = {}
        self.released = False
        self._next = time.monotonic()
        self._i = 0

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's spelling
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        import cv2

        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        return self.props.get(prop, 0.0)

    def read(self, image: np.ndarray | None = None) -> tuple[bool, np.ndarray | None]:
        if self.released or self.remaining <= 0:
            time.sleep(0.005)
            return False, None
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + 1 / self.fps, time.monotonic() - 1 / self.fps)
        self.remaining -= 1
        self._i += 1
        w = int(self.props.get(3, 0) or 160)  # CAP_PROP_FRAME_WIDTH
        h = int(self.props.get(4, 0) or 90)
        if image is None or image.shape != (h, w, 3):
            image = np.empty((h, w, 3), np.uint8)
        image[...] = (self._i * 7) % 256
        return True, image

    def release(self) -> None:
        self.released = True

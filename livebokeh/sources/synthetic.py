"""Generated frames for tests and benchmarks: a person moving like a hand-held camera.

The whole loop is computed once when the source opens, so delivering a frame costs
nothing and does not distort measurements.  The picture is the first frame of the
bundled sample clip (a real person, so the segmenter has something to find), or a
drawn figure if the clip is missing; it drifts along a closed path so the loop has
no jump, and a small marker sweeps across so every frame differs.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from ..errors import ConfigError
from .base import MAX_SYNTHETIC_FPS, BaseSource
from .pacing import Pacer

log = logging.getLogger(__name__)

__all__ = ["SyntheticSource"]

LOOP_BYTES = 160_000_000
"""Memory budget for the precomputed loop (frames = budget / frame size, 8 to 60)."""


def _drawn_person(w: int, h: int) -> np.ndarray:
    """A backdrop with a head-and-shoulders figure, for when the sample clip is unavailable."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (120 + 80 * np.sin(xx / 37.0)).astype(np.uint8)
    img[..., 1] = (90 + 60 * np.cos(yy / 23.0)).astype(np.uint8)
    img[..., 2] = (60 + 40 * np.sin((xx + yy) / 51.0)).astype(np.uint8)
    cx, s = w // 2, min(w, h)
    cv2.ellipse(img, (cx, h), (int(0.36 * s), int(0.42 * s)), 0, 180, 360, (60, 40, 150), -1)
    cv2.rectangle(img, (cx - int(0.07 * s), int(0.50 * h)), (cx + int(0.07 * s), int(0.62 * h)), (120, 150, 200), -1)
    cv2.ellipse(img, (cx, int(0.40 * h)), (int(0.13 * s), int(0.17 * s)), 0, 0, 360, (130, 160, 215), -1)
    cv2.ellipse(img, (cx, int(0.29 * h)), (int(0.14 * s), int(0.08 * s)), 0, 180, 360, (30, 30, 40), -1)
    return img


def _sample_picture() -> np.ndarray | None:
    try:
        from .decoder import VideoDecoder
        from .sample import sample_path

        with VideoDecoder(sample_path()) as clip:
            for picture in clip.pictures():
                return picture.bgr()
    except Exception:  # noqa: BLE001 - any failure falls back to the drawn figure
        log.debug("sample clip unavailable for synthetic frames", exc_info=True)
    return None


def _cover(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale ``image`` to cover ``w x h`` and crop the centre."""
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    sw, sh = max(w, round(iw * scale)), max(h, round(ih * scale))
    scaled = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x0, y0 = (sw - w) // 2, (sh - h) // 2
    return scaled[y0 : y0 + h, x0 : x0 + w]


class SyntheticSource(BaseSource):
    """A precomputed loop of ``width x height`` frames delivered at ``fps``."""

    def __init__(
        self,
        *,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        realtime: bool = True,
        frames: int | None = None,
        person: bool = True,
    ) -> None:
        if width < 16 or height < 16 or width > 8192 or height > 8192:
            raise ConfigError(f"synthetic size {width}x{height} is out of range: use 16x16 to 8192x8192")
        if not 0 < fps <= MAX_SYNTHETIC_FPS:
            raise ConfigError(f"synthetic frame rate {fps:g} is out of range: use 1 to {MAX_SYNTHETIC_FPS}")
        self.name = f"synthetic:{width}x{height}@{fps:g}"
        self._size = (width, height)
        self._fps = float(fps)
        self.realtime = realtime
        count = frames or int(min(60, max(8, LOOP_BYTES // (width * height * 3))))
        margin_x, margin_y = max(2, width // 25), max(2, height // 25)
        pw, ph = width + 2 * margin_x, height + 2 * margin_y
        picture = _sample_picture() if person else None
        big = _cover(picture, pw, ph) if picture is not None else _drawn_person(pw, ph)
        self._frames: list[np.ndarray] = []
        for i in range(count):
            t = 2 * math.pi * i / count
            x = int(round(margin_x * (1 + 0.9 * math.cos(t))))
            y = int(round(margin_y * (1 + 0.9 * math.sin(2 * t))))
            frame = np.ascontiguousarray(big[y : y + height, x : x + width])
            bx = int((width - width // 20) * i / max(1, count - 1))
            cv2.rectangle(frame, (bx, height - height // 20), (bx + width // 20, height - 1), (0, 220, 255), -1)
            frame.setflags(write=False)
            self._frames.append(frame)
        self._pacer = Pacer(self._fps)
        self._i = 0
        log.info("synthetic source %s: %d precomputed frames", self.name, count)

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def loop_length(self) -> int:
        """Number of distinct precomputed frames."""
        return len(self._frames)

    @property
    def loop_frames(self) -> list[np.ndarray]:
        """The precomputed frames (read-only), in playing order."""
        return list(self._frames)

    def read(self) -> np.ndarray | None:
        """The next precomputed frame (read-only), when it is due."""
        if self._closed:
            return None
        if self.realtime:
            self._pacer.wait()
        frame = self._frames[self._i % len(self._frames)]
        self._i += 1
        return frame

    def _release(self) -> None:
        self._frames = []

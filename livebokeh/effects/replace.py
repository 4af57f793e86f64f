"""``replace:IMAGE`` and ``replace:VIDEO``: a picture or a looping clip behind the person.

Backgrounds are cover-fitted: scaled by one factor until they cover the frame, then
cropped centred - never stretched.  The fitted picture is kept at frame size and
reused; a video is decoded (:class:`~livebokeh.sources.decoder.VideoDecoder`) only when the
frame it shows changes.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..sources.decoder import VideoDecoder
from ..sources.images import IMAGE_SUFFIXES, read_image

log = logging.getLogger(__name__)

# Frame times and clock times that differ by less than this are the same instant
# (float seconds from different time bases rarely compare equal).
_TIME_SLACK = 1e-4


def cover_fit(image: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Scale ``image`` uniformly to cover ``size`` = ``(width, height)`` and crop the centre."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    sw, sh = max(w, math.ceil(iw * scale - 1e-6)), max(h, math.ceil(ih * scale - 1e-6))
    x0, y0 = (sw - w) // 2, (sh - h) // 2
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = image if (sw, sh) == (iw, ih) else cv2.resize(image, (sw, sh), interpolation=interp)
    if out is None:
        out = np.empty((h, w, 3), np.uint8)
    np.copyto(out, scaled[y0 : y0 + h, x0 : x0 + w])
    return out


class ImageBackground:
    """A still picture, cover-fitted to the frame size (refitted only when the size changes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.source = read_image(self.path)
        self._fitted: np.ndarray | None = None

    def frame(self, size: tuple[int, int], t: float | None = None) -> np.ndarray:
        """The background at frame ``size`` = ``(width, height)``; ``t`` is ignored."""
        w, h = size
        if self._fitted is None or self._fitted.shape[:2] != (h, w):
            self._fitted = cover_fit(self.source, size)
        return self._fitted

    def close(self) -> None:
        """Nothing to release."""


class VideoBackground:
    """A clip played in a loop, the frame shown chosen by time so it keeps its own speed.

    :meth:`frame` takes the time in seconds since the background started; the clip
    wraps at its end.  Decoding only moves forward; on wrap the decoder rewinds.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"background {self.path} does not exist: check the path")
        self._decoder = VideoDecoder(self.path, label="background")
        self._pictures = self._decoder.pictures()
        self.fps = self._decoder.fps
        self.duration: float | None = self._decoder.duration
        self._t0: float | None = None
        self._current: np.ndarray | None = None  # decoded picture at source size
        self._current_t = -math.inf
        self._pending: tuple[float, np.ndarray] | None = None
        self._last_t = 0.0
        self._fitted: np.ndarray | None = None
        self._fitted_id = -1
        self._current_id = 0
        if self._peek() is None:
            raise InputError(f"background video {self.path} has no frames: give another video")

    def _peek(self) -> tuple[float, np.ndarray] | None:
        """The next decoded frame as ``(time since the clip's first frame, BGR array)``, or None at the end."""
        if self._pending is None:
            try:
                picture = next(self._pictures)
            except StopIteration:
                return None
            except Exception as exc:  # a damaged clip: play what decoded so far
                log.warning("background %s: decoding stopped: %s", self.path, exc)
                return None
            if self._t0 is None:
                self._t0 = picture.time
            self._pending = (picture.time - self._t0, picture.bgr())
        return self._pending

    def _rewind(self) -> None:
        self._decoder.rewind()
        self._pictures = self._decoder.pictures()
        self._pending = None
        self._current_t = -math.inf

    def _advance_to(self, t: float) -> None:
        t += _TIME_SLACK
        if self.duration:
            t = math.fmod(t, self.duration)
        if t < self._current_t:
            self._rewind()
        for _ in range(100_000):
            nxt = self._peek()
            if nxt is None:  # end of clip: now the length is known for sure
                end = self._last_t + 1.0 / self.fps
                if self.duration is None or abs(self.duration - end) > 0.5 / self.fps:
                    self.duration = end
                if self._current is None:
                    raise InputError(f"background video {self.path} has no frames: give another video")
                t = math.fmod(t, self.duration)
                if t >= self._current_t:
                    return
                self._rewind()
                continue
            if nxt[0] > t and self._current_t != -math.inf:
                return
            self._current_t, self._current = nxt
            self._last_t = max(self._last_t, nxt[0])
            self._current_id += 1
            self._pending = None

    def frame(self, size: tuple[int, int], t: float | None = None) -> np.ndarray:
        """The clip's picture at time ``t`` seconds (looped), cover-fitted to ``size`` = ``(width, height)``."""
        self._advance_to(max(0.0, t or 0.0))
        assert self._current is not None
        w, h = size
        if self._fitted is None or self._fitted.shape[:2] != (h, w):
            self._fitted = np.empty((h, w, 3), np.uint8)
            self._fitted_id = -1
        if self._fitted_id != self._current_id:
            cover_fit(self._current, size, out=self._fitted)
            self._fitted_id = self._current_id
        return self._fitted

    def close(self) -> None:
        """Close the file."""
        self._decoder.close()


def open_background(path: str | Path) -> ImageBackground | VideoBackground:
    """Open the file of ``replace:PATH``: a still image by its suffix, anything else as video."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"background {path} does not exist: give an image or video file (replace:PATH)")
    if path.is_dir():
        raise InputError(f"background {path} is a directory: give an image or video file (replace:PATH)")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageBackground(path)
    return VideoBackground(path)

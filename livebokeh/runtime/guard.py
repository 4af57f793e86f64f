"""Inference faults in the live pipeline: bad masks are discarded and counted, the stream never stops.

Two parts:

* :class:`CheckedSegmenter` wraps the segmenter the matte uses and rejects garbage
  output - not an array, the wrong shape, NaN or infinite values, values far outside
  ``[0, 1]`` - with :class:`MaskRejected` *before* it reaches the matte's temporal
  state, so one bad mask cannot poison the masks after it.
* :class:`InferenceGuard` is the inference thread's policy: every failure (an
  exception from the model or a rejected mask) is counted and that mask discarded.
  After :data:`WARN_AFTER` failures in a row the HUD and the log say so and the
  compositor keeps using the last good mask (by default for as long as the model
  fails: a stale matte still hides the room, passing frames through would suddenly
  show it to the call); with ``stale_after`` set, frames pass through unchanged once
  that mask is older than so many seconds.  With no good mask at all, frames pass
  through (a visible warning, never a freeze).  Retries back off up to ``max_backoff``
  seconds so a broken model does not burn a core.  The first success after a
  failure streak clears the warning.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from ..errors import LivebokehError
from ..segmentation import SegmenterProtocol

log = logging.getLogger(__name__)

__all__ = ["CheckedSegmenter", "InferenceGuard", "MaskRejected"]

WARN_AFTER = 3
"""Failures in a row before the warning shows."""
STALE_AFTER_S: float | None = None
"""Age of the last good mask after which a failing model means passthrough (``None``: never)."""
MAX_BACKOFF_S = 1.0
RANGE_SLACK = 1e-3


class MaskRejected(LivebokehError):
    """The segmenter returned something that is not a usable mask; it was discarded."""


class CheckedSegmenter:
    """A segmenter whose every output is checked (shape, finiteness, range) before anyone uses it."""

    def __init__(self, inner: SegmenterProtocol) -> None:
        self.inner = inner

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        """Passed through to the wrapped segmenter."""
        return self.inner.input_size_for(frame_shape)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """The wrapped segmenter's mask, checked."""
        return self._check(self.inner.segment(image), image)

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        """The wrapped segmenter's video mask, checked."""
        return self._check(self.inner.segment_for_video(image, timestamp_ns), image)

    def close(self) -> None:
        """Close the wrapped segmenter."""
        self.inner.close()

    def _check(self, mask: object, image: np.ndarray) -> np.ndarray:
        expected = tuple(self.inner.input_size_for(image.shape))
        if not isinstance(mask, np.ndarray):
            raise MaskRejected(f"segmenter returned {type(mask).__name__}, not an array")
        if mask.shape != expected:
            raise MaskRejected(f"segmenter returned a mask of shape {mask.shape}, expected {expected}")
        if mask.dtype.kind != "f":
            raise MaskRejected(f"segmenter returned a {mask.dtype} mask, expected float32 in [0, 1]")
        lo, hi = float(np.min(mask)), float(np.max(mask))  # NaN propagates into both
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise MaskRejected("segmenter returned a mask with NaN or infinite values")
        if lo < -RANGE_SLACK or hi > 1 + RANGE_SLACK:
            raise MaskRejected(f"segmenter returned values in [{lo:.3g}, {hi:.3g}], expected [0, 1]")
        return mask


class InferenceGuard:
    """Counts inference failures and decides what the compositor shows while the model is failing.

    Thread-safe: the inference thread reports, the compositor and the HUD ask.
    """

    def __init__(
        self,
        *,
        warn_after: int = WARN_AFTER,
        stale_after: float | None = STALE_AFTER_S,
        max_backoff: float = MAX_BACKOFF_S,
    ) -> None:
        self.warn_after = warn_after
        self.stale_after_ns = None if stale_after is None else int(stale_after * 1e9)
        self.max_backoff = max_backoff
        self.failures = 0
        """Masks discarded so far (model raised or returned garbage)."""
        self.rejected = 0
        """Of those, masks rejected as garbage (NaN, wrong shape, out of range)."""
        self.consecutive = 0
        self.last_error = ""
        self._last_ok_ns: int | None = None
        self._lock = threading.Lock()
        self._warned = False

    def succeeded(self) -> None:
        """A good mask was published."""
        with self._lock:
            recovered = self.consecutive >= self.warn_after
            self.consecutive = 0
            self._last_ok_ns = time.monotonic_ns()
        if recovered:
            log.warning("inference works again after %d discarded masks", self.failures)

    def failed(self, exc: BaseException) -> float:
        """Count a failure; return how long the inference thread should wait before the next try."""
        text = str(exc) if isinstance(exc, LivebokehError) else f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.failures += 1
            self.consecutive += 1
            if isinstance(exc, MaskRejected):
                self.rejected += 1
            self.last_error = text
            consecutive = self.consecutive
        if consecutive == 1:
            log.warning("inference failed, mask discarded: %s", text)
        elif consecutive == self.warn_after:
            then = (
                f", passing frames through unchanged after {self.stale_after_ns / 1e9:g} s"
                if self.stale_after_ns is not None
                else ""
            )
            mode = "keeping the last good mask" if self._last_ok_ns is not None else "passing frames through unchanged"
            log.warning("inference failed %d times in a row (%s): %s%s", consecutive, text, mode, then)
        else:
            log.debug("inference failed again: %s", text, exc_info=exc)
        if consecutive < self.warn_after:
            return 0.0
        return min(self.max_backoff, 0.05 * 2 ** (consecutive - self.warn_after))

    @property
    def failing(self) -> bool:
        """Whether the model has failed :attr:`warn_after` times or more in a row."""
        return self.consecutive >= self.warn_after

    def passthrough(self, now_ns: int | None = None) -> bool:
        """Whether the compositor should show frames unchanged (failing with no good mask, or one too old)."""
        if not self.failing:
            return False
        last = self._last_ok_ns
        if last is None:
            return True
        if self.stale_after_ns is None:
            return False
        now = time.monotonic_ns() if now_ns is None else now_ns
        return now - last > self.stale_after_ns

    def warning(self) -> str | None:
        """A short HUD line while the model is failing, else ``None``."""
        if not self.failing:
            return None
        mode = "passthrough" if self.passthrough() else "last good mask"
        return f"inference failing ({self.failures} masks discarded): {mode}"

"""A camera that survives being unplugged: a "camera lost" card while it is gone, reconnect with backoff.

:class:`ReconnectingSource` wraps a camera source.  When the camera stops
delivering (unplugged, taken by another program) the wrapped ``read`` raises
:class:`~livebokeh.errors.SourceError`; instead of ending the run, this wrapper
releases the camera, logs a warning, and from then on delivers a rendered status
card ("camera lost - reconnecting") at the stream's frame rate, so every sink shows
a clear picture instead of a frozen last frame.  A helper thread tries to reopen
the camera with exponential backoff; when it succeeds, live frames resume (resized
to the stream's size if the camera now delivers another one).

It also watches the rate the camera really delivers: a camera slower than its
nominal rate (low light, a busy USB bus) is reported once, and :attr:`measured_fps`
says what it gives.

The pipeline asks :meth:`is_card` for each frame so that cards are shown as they
are (not blurred, not sent to the model).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from ..errors import LivebokehError, SourceError
from .base import BaseSource, Source

log = logging.getLogger(__name__)

__all__ = ["ReconnectingSource", "render_card", "with_reconnect"]

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 8.0
CARD_RING = 4
"""Card buffers in rotation: more than the frames the pipeline holds at once, so a card is never redrawn in use."""
RATE_WINDOW_S = 5.0
SLOW_RATIO = 0.8
"""A camera delivering less than this share of its nominal rate is reported as slow."""


def render_card(size: tuple[int, int], title: str, detail: str = "", out: np.ndarray | None = None) -> np.ndarray:
    """A dark BGR card of ``size`` = ``(width, height)`` with a warning ``title`` and a smaller ``detail`` line."""
    w, h = size
    if out is None:
        out = np.empty((h, w, 3), np.uint8)
    out[:] = (40, 32, 32)
    bar = max(2, h // 60)
    out[:bar] = out[-bar:] = (0, 140, 255)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for text, rel_y, rel_scale, color in ((title, 0.47, 1.0, (255, 255, 255)), (detail, 0.60, 0.55, (200, 200, 200))):
        if not text:
            continue
        scale = max(0.3, h / 360 * rel_scale)
        thick = max(1, round(scale * 2))
        (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
        if tw > 0.92 * w:  # shrink long lines to fit
            scale *= 0.92 * w / tw
            thick = max(1, round(scale * 2))
            (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
        org = ((w - tw) // 2, int(h * rel_y) + th // 2)
        cv2.putText(out, text, org, font, scale, color, thick, cv2.LINE_AA)
    return out


class ReconnectingSource(BaseSource):
    """Wraps a camera: a status card while it is lost, reopened with backoff when it returns.

    ``open_camera`` makes a fresh camera source (called again on every reconnect
    attempt; it raises a :class:`LivebokehError` while the device is missing).
    ``first`` is an already opened camera (otherwise ``open_camera`` is called now).
    """

    def __init__(
        self,
        open_camera: Callable[[], Source],
        *,
        first: Source | None = None,
        backoff_start: float = BACKOFF_START_S,
        backoff_max: float = BACKOFF_MAX_S,
    ) -> None:
        self._open_camera = open_camera
        self._camera: Source | None = first if first is not None else open_camera()
        self.name = self._camera.name
        self._size = self._camera.size
        self._fps = self._camera.fps
        self.delivered = self._camera.delivered
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self.status: str | None = None
        """``None`` while live frames flow; a one-line warning while the camera is lost."""
        self.losses = 0
        """Times the camera was lost."""
        self.reconnects = 0
        """Times it came back."""
        self.measured_fps: float | None = None
        """Rate the camera really delivered over the last few seconds (``None`` until measured)."""
        self.slow_reported = False
        # Card and rescale buffers are made on first need (a lost camera is rare; 1080p buffers are 6 MB each).
        self._cards: list[np.ndarray] = []
        self._card_i = 0
        self._card_text = ("", "")
        self._resized: list[np.ndarray] = []
        self._resized_i = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._new_camera: Source | None = None
        self._thread: threading.Thread | None = None
        self._attempts = 0
        self._next_try = 0.0
        self._lost_error = ""
        self._next_card_ns = 0
        self._window_start = time.monotonic()
        self._window_frames = 0

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def lost(self) -> bool:
        """Whether the camera is gone right now (cards are being delivered)."""
        return self._camera is None

    def is_card(self, image: np.ndarray) -> bool:
        """Whether ``image`` is one of this source's status cards (show as is, do not segment)."""
        return any(image is card for card in self._cards)

    # -- reading -----------------------------------------------------------------------

    def read(self) -> np.ndarray | None:
        """The next camera frame, or a "camera lost" card while the camera is gone."""
        if self._closed:
            return None
        camera = self._camera
        if camera is None:
            camera = self._take_reconnected()
        if camera is None:
            return self._card_frame()
        try:
            image = camera.read()
        except (SourceError, cv2.error, OSError) as exc:  # some drivers raise instead of failing the read
            self._lose(camera, str(exc) if isinstance(exc, SourceError) else f"{self.name} failed: {exc}")
            return self._card_frame()
        if image is None:
            return None
        if image.shape[1] != self._size[0] or image.shape[0] != self._size[1] or image.ndim != 3:
            image = self._fit(image)
        self._count_frame()
        return image

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """A frame of another size (a camera that came back in another mode) scaled to the stream's size."""
        if not self._resized:
            w, h = self._size
            self._resized = [np.empty((h, w, 3), np.uint8) for _ in range(CARD_RING)]
        out = self._resized[self._resized_i]
        self._resized_i = (self._resized_i + 1) % len(self._resized)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        cv2.resize(image, self._size, dst=out, interpolation=cv2.INTER_AREA)
        return out

    def _count_frame(self) -> None:
        self._window_frames += 1
        now = time.monotonic()
        span = now - self._window_start
        if span < RATE_WINDOW_S:
            return
        self.measured_fps = self._window_frames / span
        self._window_start, self._window_frames = now, 0
        if self.measured_fps < SLOW_RATIO * self._fps and not self.slow_reported:
            self.slow_reported = True
            log.warning(
                "%s delivers %.1f fps, not the %g fps it reported: the output follows the camera "
                "(more light or a smaller --size usually helps)",
                self.name,
                self.measured_fps,
                self._fps,
            )

    def _card_frame(self) -> np.ndarray | None:
        """The status card, paced at the stream's frame rate."""
        period_ns = int(1e9 / self._fps)
        now = time.monotonic_ns()
        if self._next_card_ns > now:
            if self._stop.wait((self._next_card_ns - now) / 1e9) or self._closed:
                return None
            now = time.monotonic_ns()
        self._next_card_ns = max(self._next_card_ns + period_ns, now)
        wait_s = max(0.0, self._next_try - time.monotonic())
        detail = f"reconnecting (attempt {self._attempts + 1} in {wait_s:.0f} s)" if wait_s >= 1 else "reconnecting..."
        text = (f"{self.name} lost", detail)
        if not self._cards:
            w, h = self._size
            self._cards = [np.zeros((h, w, 3), np.uint8) for _ in range(CARD_RING)]
        if text != self._card_text:  # redraw into the next buffer only when the words change
            self._card_text = text
            self._card_i = (self._card_i + 1) % len(self._cards)
            render_card(self._size, *text, out=self._cards[self._card_i])
        return self._cards[self._card_i]

    # -- losing and finding the camera --------------------------------------------------

    def _lose(self, camera: Source, reason: str) -> None:
        self._camera = None
        self.losses += 1
        self._lost_error = reason
        self.status = f"{self.name} lost: reconnecting"
        log.warning("%s; showing a 'camera lost' picture and reconnecting", reason.split(": reconnect it")[0])
        try:
            camera.close()
        except Exception:  # noqa: BLE001 - the device is already gone
            log.debug("closing the lost camera failed", exc_info=True)
        self._attempts = 0
        self._next_try = time.monotonic() + self.backoff_start
        self._thread = threading.Thread(target=self._reconnect_loop, name="camera-reconnect", daemon=True)
        self._thread.start()

    def _reconnect_loop(self) -> None:
        delay = self.backoff_start
        while not self._stop.wait(max(0.0, self._next_try - time.monotonic())):
            self._attempts += 1
            try:
                camera = self._open_camera()
            except LivebokehError as exc:
                log.debug("reconnect attempt %d failed: %s", self._attempts, exc)
                delay = min(delay * 2, self.backoff_max)
                self._next_try = time.monotonic() + delay
                continue
            except Exception as exc:  # noqa: BLE001 - an odd driver error is one more failed attempt
                log.debug("reconnect attempt %d failed: %r", self._attempts, exc)
                delay = min(delay * 2, self.backoff_max)
                self._next_try = time.monotonic() + delay
                continue
            with self._lock:
                if self._stop.is_set():
                    camera.close()
                    return
                self._new_camera = camera
            return

    def _take_reconnected(self) -> Source | None:
        with self._lock:
            camera, self._new_camera = self._new_camera, None
        if camera is None:
            return None
        if self._thread is not None:
            self._thread.join(0.1)
            self._thread = None
        self._camera = camera
        self.reconnects += 1
        self.status = None
        self._window_start, self._window_frames = time.monotonic(), 0
        got = camera.size
        note = "" if got == self._size else f" (delivers {got[0]}x{got[1]}, scaled to {self._size[0]}x{self._size[1]})"
        log.warning("%s is back after %d attempt(s)%s", self.name, self._attempts, note)
        return camera

    def _release(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(1.0)
        with self._lock:
            leftovers = [c for c in (self._camera, self._new_camera) if c is not None]
            self._camera = self._new_camera = None
        for camera in leftovers:
            camera.close()


def with_reconnect(source: Source, *, size: tuple[int, int] | None = None, fps: float | None = None) -> Source:
    """Wrap a :class:`~livebokeh.sources.camera.CameraSource` in a :class:`ReconnectingSource`; others pass through.

    The camera is reopened with the same device, ``size`` and ``fps`` request and capture factory.
    """
    from .camera import CameraSource

    if not isinstance(source, CameraSource):
        return source
    device = source.device
    factory = type(source).capture_factory

    def reopen() -> Source:
        return CameraSource(device, size=size, fps=fps, capture_factory=factory)

    return ReconnectingSource(reopen, first=source)

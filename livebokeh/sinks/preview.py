"""An OpenCV preview window with a HUD and hotkeys.

The HUD shows output fps, inference rate, mask age and process CPU.  Hotkeys:
``b`` cycle effects, ``m`` mask view, space bypass, ``+``/``-`` strength, ``h`` hide
the HUD, ``q``/Esc quit.  Closing the window ends this sink (:class:`SinkClosed`).
Every call runs on the thread that writes frames (the compositor).
"""

from __future__ import annotations

import logging
import os
import sys

import cv2
import numpy as np

from ..errors import SinkError
from ..frames import Frame
from .base import BaseSink, Controls, SinkClosed

log = logging.getLogger(__name__)

__all__ = ["PreviewSink", "display_available"]

WINDOW = "livebokeh"
KEYS = {27: "esc", 32: "space", 43: "+", 61: "+", 45: "-", 95: "-", 171: "+", 173: "-"}
HELP = "b effect  m mask  space bypass  +/- strength  h HUD  q quit"


def display_available() -> bool:
    """Whether a window can be expected to open (a display on Linux; always elsewhere)."""
    if not sys.platform.startswith("linux"):
        return True
    if os.environ.get("WAYLAND_DISPLAY"):
        return True
    display = os.environ.get("DISPLAY", "")
    if not display:
        return False
    if display.startswith(":"):  # local X server: its socket must exist (Qt aborts the process otherwise)
        number = display[1:].split(".")[0]
        return os.path.exists(f"/tmp/.X11-unix/X{number}")
    return True


def _qt_fonts() -> None:
    """Point OpenCV's bundled Qt at the system fonts (it ships none and complains on stderr)."""
    if not sys.platform.startswith("linux") or "QT_QPA_FONTDIR" in os.environ:
        return
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
        if os.path.isdir(folder):
            os.environ["QT_QPA_FONTDIR"] = folder
            return


def _budget(value: object) -> str:
    """`` / 40 % budget`` for the HUD's CPU figure, or nothing without a budget."""
    return f" / {value:.0f} % budget" if isinstance(value, float) and value == value else ""


class PreviewSink(BaseSink):
    """Shows frames in a window; hotkeys go to the pipeline's :class:`Controls`."""

    name = "preview"

    def __init__(self, *, title: str = WINDOW, hud: bool = True) -> None:
        self.title = title
        self.show_hud = hud
        self._controls: Controls | None = None
        self._canvas: np.ndarray | None = None
        self._opened = False
        self.frames = 0

    def attach(self, controls: Controls) -> None:
        self._controls = controls

    def open(self, size: tuple[int, int], fps: float) -> None:
        if not display_available():
            raise SinkError(
                "the preview window needs a display (DISPLAY is not set): use --sink FILE.mp4 or --sink virtualcam"
            )
        _qt_fonts()
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
            w, h = size
            scale = min(1.0, 1280 / w, 720 / h)
            cv2.resizeWindow(self.title, max(1, int(w * scale)), max(1, int(h * scale)))
        except cv2.error as exc:
            raise SinkError(f"the preview window cannot open: {str(exc).strip().splitlines()[-1]}") from exc
        self._opened = True

    def handle_key(self, code: int) -> None:
        """Apply one key code from ``waitKey`` (``h`` here, the rest via the pipeline)."""
        if code < 0:
            return
        code &= 0xFF
        key = KEYS.get(code) or chr(code).lower()
        if key == "h":
            self.show_hud = not self.show_hud
        elif self._controls is not None:
            self._controls.handle_key("q" if key == "esc" else key)

    def _draw_hud(self, image: np.ndarray) -> np.ndarray:
        if self._canvas is None or self._canvas.shape != image.shape:
            self._canvas = np.empty_like(image)
        canvas = self._canvas
        np.copyto(canvas, image)
        figures = self._controls.hud() if self._controls is not None else {}
        h = canvas.shape[0]
        scale = max(0.5, h / 1080)
        lines = [
            f"out {figures.get('output_fps', 0.0):5.1f} fps   inference {figures.get('inference_hz', 0.0):5.1f} Hz",
            f"mask age {figures.get('mask_age_ms', float('nan')):5.0f} ms"
            f"   CPU {figures.get('cpu_percent', 0.0):4.0f} %" + _budget(figures.get("cpu_budget")),
        ]
        status = figures.get("status")
        if isinstance(status, str) and status:
            lines.append(status)
        lines.append(HELP)
        pad = int(10 * scale)
        line_h = int(34 * scale)
        box_h = pad * 2 + line_h * len(lines)
        box_w = min(canvas.shape[1], int(720 * scale))
        region = canvas[:box_h, :box_w]
        region //= 3  # darken behind the text
        for i, text in enumerate(lines):
            y = pad + line_h * (i + 1) - int(8 * scale)
            cv2.putText(
                canvas,
                text,
                (pad, y),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.8 * scale,
                (255, 255, 255),
                max(1, int(2 * scale)),
                cv2.LINE_AA,
            )
        return canvas

    def write(self, frame: Frame) -> None:
        if not self._opened:
            raise SinkError("preview window was not opened")
        image = self._draw_hud(frame.image) if self.show_hud else frame.image
        try:
            cv2.imshow(self.title, image)
            code = cv2.waitKeyEx(1)
            if self.frames > 2 and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                raise SinkClosed("preview window was closed")
        except cv2.error as exc:
            raise SinkError(f"preview window failed: {str(exc).strip().splitlines()[-1]}") from exc
        self.frames += 1
        self.handle_key(code)

    def _release(self) -> None:
        if self._opened:
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                log.debug("closing the preview window failed", exc_info=True)

"""A virtual camera that video-call apps can pick, through ``pyvirtualcam``.

v4l2loopback on Linux, OBS Virtual Camera on Windows and macOS.  ``pyvirtualcam`` is
imported only when this sink opens; if it is missing, or no device exists, the error
is one line that says how to fix it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import cv2
import numpy as np

from ..errors import SinkError
from ..frames import Frame
from .base import BaseSink

log = logging.getLogger(__name__)

__all__ = ["VirtualCamSink", "no_device_hint"]


def no_device_hint() -> str:
    """How to create a virtual camera device on this operating system."""
    if sys.platform.startswith("linux"):
        return (
            "create one with: sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=livebokeh "
            "(package v4l2loopback-dkms)"
        )
    return "install OBS Studio and start its Virtual Camera once"


class VirtualCamSink(BaseSink):
    """Sends BGR frames to a virtual camera at the source's size and frame rate.

    ``mirror`` flips left-right (what a selfie view shows); ``device`` picks a device
    (e.g. ``/dev/video10``); ``backend`` picks a pyvirtualcam backend by name.
    """

    name = "virtualcam"

    def __init__(self, *, mirror: bool = False, device: str | None = None, backend: str | None = None) -> None:
        self.mirror = mirror
        self.device = device
        self.backend = backend
        self._cam: Any = None
        self._flip: np.ndarray | None = None
        self.frames = 0

    def open(self, size: tuple[int, int], fps: float) -> None:
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise SinkError("the virtual camera needs pyvirtualcam: pip install 'livebokeh[virtualcam]'") from exc
        width, height = size
        try:
            self._cam = pyvirtualcam.Camera(
                width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR, device=self.device, backend=self.backend
            )
        except Exception as exc:  # noqa: BLE001 - pyvirtualcam raises RuntimeError/ValueError per backend
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.debug("pyvirtualcam: %s", detail)
            if "no v4l2 loopback device" in detail.lower() or "not installed" in detail.lower():
                raise SinkError(f"no virtual camera device found: {no_device_hint()}") from exc
            raise SinkError(f"the virtual camera cannot start ({detail}): {no_device_hint()}") from exc
        self.name = f"virtualcam {self._cam.device}"
        log.info("virtual camera %s: %dx%d @ %g fps", self._cam.device, width, height, fps)

    def write(self, frame: Frame) -> None:
        if self._cam is None:
            raise SinkError("virtual camera was not opened")
        image = frame.image
        if self.mirror:
            if self._flip is None or self._flip.shape != image.shape:
                self._flip = np.empty_like(image)
            image = cv2.flip(image, 1, dst=self._flip)
        try:
            self._cam.send(image)
        except Exception as exc:  # noqa: BLE001 - device gone or closed by another program
            raise SinkError(f"{self.name} stopped accepting frames: {exc}") from exc
        self.frames += 1

    def _release(self) -> None:
        if self._cam is not None:
            try:
                self._cam.close()
            except Exception:  # noqa: BLE001 - closing a device that already vanished
                log.debug("closing %s failed", self.name, exc_info=True)
            self._cam = None

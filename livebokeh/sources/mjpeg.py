"""A camera in MJPEG mode, imitated: frames stored as JPEG and decoded one per ``read``.

At 720p and 1080p a USB (UVC) webcam delivers Motion-JPEG - USB 2 has no bandwidth for
raw frames at 30 fps - so with a real camera every frame costs a JPEG decode in the
capture thread (OpenCV's ``VideoCapture`` runs it inside ``read``).  A raw synthetic
source hides that cost; :class:`MjpegSource` puts it back: the frames are encoded once
when the source opens (4:2:2, as webcams send them) and each ``read`` decodes one.

:func:`jpeg_decoder` picks the decoder: libjpeg-turbo through PyTurboJPEG when both are
installed (``pip install 'pyturbojpeg<2'``, Debian/Ubuntu ``libturbojpeg0``), with its fast
integer IDCT, else ``cv2.imdecode``.  PyTurboJPEG 2 needs libjpeg-turbo 3, which Debian 12
does not ship; 1.x runs on libjpeg-turbo 2 and 3 alike.  ``LIVEBOKEH_JPEG=opencv`` forces OpenCV.
``scripts/jpeg_decode.py`` measures both on this machine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError
from .base import BaseSource
from .camera import RING
from .pacing import Pacer

log = logging.getLogger(__name__)

__all__ = ["JpegDecoder", "MjpegSource", "encode_jpeg", "jpeg_decoder"]

QUALITY = 85
"""JPEG quality of the stored frames: a webcam's MJPEG stream is typically 80-90."""


def encode_jpeg(image: np.ndarray, quality: int = QUALITY) -> np.ndarray:
    """``image`` (BGR) as JPEG bytes with 4:2:2 chroma, as a UVC camera sends it."""
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        quality,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    ]
    ok, data = cv2.imencode(".jpg", image, params)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise ConfigError(f"cannot encode a {image.shape} frame as JPEG")
    return data


class JpegDecoder:
    """Decodes JPEG bytes to a BGR ``uint8`` image: libjpeg-turbo directly, or OpenCV.

    ``name`` says which (``turbojpeg`` or ``opencv``).
    """

    def __init__(self, turbo: Any = None) -> None:
        self._turbo = turbo
        self.name = "turbojpeg" if turbo is not None else "opencv"
        if turbo is not None:
            import turbojpeg

            self._pixel_format = turbojpeg.TJPF_BGR
            self._flags = turbojpeg.TJFLAG_FASTDCT

    def decode(self, data: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
        """The BGR picture of one JPEG (``data``: a ``uint8`` array of its bytes).

        libjpeg-turbo decodes into ``dst`` when given (a C-contiguous BGR array of the picture's
        size), as OpenCV's ``VideoCapture.read`` does into the buffer it is passed; OpenCV's
        ``imdecode`` makes a new array.
        """
        if self._turbo is not None:
            image: np.ndarray = self._turbo.decode(data, pixel_format=self._pixel_format, flags=self._flags, dst=dst)
            return image
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if decoded is None:
            raise ConfigError("a stored JPEG frame could not be decoded")
        return decoded


def _turbo() -> Any:
    """A PyTurboJPEG decoder, or ``None`` where the package or the libjpeg-turbo library is missing or too old."""
    try:
        from turbojpeg import TurboJPEG
    except ImportError:
        return None
    try:
        return TurboJPEG()
    except Exception as exc:  # noqa: BLE001 - library missing or of another major version: OpenCV decodes
        log.debug("PyTurboJPEG cannot load libjpeg-turbo (%s); using cv2.imdecode", exc)
        return None


def jpeg_decoder(prefer: str | None = None) -> JpegDecoder:
    """The fastest JPEG decoder here: ``prefer`` (``turbojpeg``/``opencv``, else ``$LIVEBOKEH_JPEG``, else auto)."""
    prefer = prefer or os.environ.get("LIVEBOKEH_JPEG", "") or "auto"
    if prefer not in ("auto", "turbojpeg", "opencv"):
        raise ConfigError(f"JPEG decoder {prefer!r} is unknown: use turbojpeg, opencv or auto")
    turbo = _turbo() if prefer != "opencv" else None
    if turbo is None and prefer == "turbojpeg":
        raise ConfigError(
            "the turbojpeg decoder needs PyTurboJPEG and libjpeg-turbo: pip install pyturbojpeg "
            "(and apt install libturbojpeg0)"
        )
    return JpegDecoder(turbo)


class MjpegSource(BaseSource):
    """Frames kept as JPEG and decoded one per :meth:`read`, paced at ``fps`` like a camera.

    ``frames`` (BGR images) are encoded when the source is made; ``loop`` starts over
    at the end (a camera never ends), else :meth:`read` returns ``None`` there.
    ``decoder`` is a :class:`JpegDecoder` (default :func:`jpeg_decoder`).
    """

    def __init__(
        self,
        frames: Iterable[np.ndarray],
        *,
        fps: float,
        name: str,
        loop: bool = True,
        realtime: bool = True,
        decoder: JpegDecoder | None = None,
    ) -> None:
        self._jpegs: list[np.ndarray] = []
        size: tuple[int, int] | None = None
        for image in frames:
            size = size or (image.shape[1], image.shape[0])
            if (image.shape[1], image.shape[0]) != size:
                raise ConfigError(f"source {name}: frames of {size[0]}x{size[1]} and {image.shape[1]}x{image.shape[0]}")
            self._jpegs.append(encode_jpeg(image))
        if size is None:
            raise ConfigError(f"source {name} has no frames to encode")
        self._size = size
        self._fps = float(fps)
        self.name = name
        self.loop = loop
        self.realtime = realtime
        self.decoder = decoder or jpeg_decoder()
        self._pacer = Pacer(self._fps)
        self._i = 0
        self.frames_decoded = 0
        # Decoded into reused buffers, as CameraSource reads the camera (the same ring size).
        self._ring = [np.empty((size[1], size[0], 3), np.uint8) for _ in range(RING)]
        mean_kb = sum(j.size for j in self._jpegs) / len(self._jpegs) / 1024
        log.info(
            "%s: %d frames stored as JPEG (%.0f KiB each), decoded with %s",
            name,
            len(self._jpegs),
            mean_kb,
            self.decoder.name,
        )

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def loop_length(self) -> int:
        """Number of stored frames."""
        return len(self._jpegs)

    def read(self) -> np.ndarray | None:
        """Decode the next stored frame and wait until it is due; ``None`` at the end without ``loop``."""
        if self._closed or (not self.loop and self._i >= len(self._jpegs)):
            return None
        if self.realtime:  # the frame arrives, then it is decoded - as in VideoCapture.read
            self._pacer.wait()
        image = self.decoder.decode(self._jpegs[self._i % len(self._jpegs)], self._ring[self._i % RING])
        self._i += 1
        self.frames_decoded += 1
        return image

    def _release(self) -> None:
        self._jpegs = []
        self._ring = []

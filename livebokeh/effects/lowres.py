"""The shared machinery of the blurred backgrounds: masked, normalised blur at reduced resolution.

The frame is reduced by an integer factor ``f`` in one pass that weights every pixel
by how much it is background (:func:`~livebokeh.effects._kernels.masked_downsample`),
so the person never enters the sums.  The effect's kernel (Gaussian for ``blur``, an
aperture for ``bokeh``) then blurs colour and weight alike, and colour / weight is
the background with the person filled in from its surroundings - no halo.  The small
result is upsampled along x here; the compositor finishes the upsampling along y in
its blend pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import cv2
import numpy as np

from . import _kernels
from .falloff import FALLOFF_NEAR, falloff_map

# Weight of the frame's mean background colour in the normalised blur: only where no
# background is near (deep inside a large person) does it show.
FILL_EPS = 1e-3
# Largest reduction factor: the integer kernels sum up to this many rows in 16 bits.
MAX_FACTOR = 200


class LowresBackground(ABC):
    """A background computed at ``1/f`` resolution with the person excluded."""

    #: blur in linear light with highlights boosted (lens blur) rather than on display values
    hdr: bool = False

    def __init__(self, strength: float, falloff: bool) -> None:
        self.strength = float(strength)
        self.falloff = bool(falloff)
        self._key: tuple[int, int, int] | None = None

    @abstractmethod
    def size(self, height: int) -> float:
        """Blur size in full-resolution pixels (sigma or aperture radius) for a frame ``height``."""

    @abstractmethod
    def factor(self, height: int) -> int:
        """Reduction factor for a frame ``height``."""

    @abstractmethod
    def blur(self, acc: np.ndarray, f: int, size: float, out: np.ndarray) -> None:
        """Blur the 4-channel sums ``acc`` (reduced by ``f``) with the kernel of full-resolution ``size``."""

    def is_identity(self, height: int) -> bool:
        """True when the blur is too small to see (strength 0): the frame passes through."""
        return self.size(height) < 0.5

    def _ensure(self, h: int, w: int, f: int) -> None:
        if self._key == (h, w, f):
            return
        sh, sw = -(-h // f), -(-w // f)
        self.acc = np.zeros((sh, sw, 4), np.float32)
        self.blurred = np.zeros_like(self.acc)
        self.blurred_near = np.zeros_like(self.acc)
        self.t = np.zeros((sh, sw), np.float32)
        self.bg_small = np.zeros((sh, sw, 3), np.uint8)
        self.bgx = np.zeros((sh + 1, sw * f, 3), np.uint8)
        self.fill = np.zeros(3, np.float32)
        u = np.clip((np.arange(h, dtype=np.float64) + 0.5) / f - 0.5, 0.0, sh - 1)
        self.y0s = np.minimum(np.floor(u).astype(np.int64), sh - 1)
        self.fys = np.round((u - self.y0s) * 128).astype(np.int32)  # 7-bit fraction for the integer blend
        self.scratch: dict[str, np.ndarray] = {}
        self._falloff_scratch: dict[str, np.ndarray] = {}
        self._key = (h, w, f)

    def render(self, image: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Background for ``image`` as ``(bgx, y0s, fys)`` for :func:`~livebokeh.effects._kernels.blend_lowres`."""
        f = self.factor(alpha.shape[0])
        self.small(image, alpha)
        sh, sw = self.bg_small.shape[:2]
        cv2.resize(self.bg_small, (sw * f, sh), dst=self.bgx[:sh], interpolation=cv2.INTER_LINEAR)
        self.bgx[sh] = self.bgx[sh - 1]
        return self.bgx, self.y0s, self.fys

    def small(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """The background at ``1/f`` resolution (``ceil(H/f) x ceil(W/f) x 3`` ``uint8``, reused buffer).

        Sample ``(i, j)`` stands for the centre of the ``f x f`` block it sums, so scaling
        it by ``f`` (pixel centres aligned, as ``cv2.resize`` does) lays it over the frame.
        """
        h, w = alpha.shape
        f = self.factor(h)
        self._ensure(h, w, f)
        _kernels.masked_downsample(image, alpha, f, self.hdr, self.acc, self.scratch)
        sums = cv2.sumElems(self.acc)  # 4 channels: weighted colour and weight
        if sums[3] > 1e-6:
            self.fill[:] = np.divide(sums[:3], sums[3])
        else:  # the person fills the frame: nothing to fill from
            self.fill[:] = 0.2 if self.hdr else 128.0
        size = self.size(h)
        self.blur(self.acc, f, size, self.blurred)
        if self.falloff:
            self.blur(self.acc, f, size * FALLOFF_NEAR, self.blurred_near)
            falloff_map(self.acc[:, :, 3], f, h, self.t, self._falloff_scratch)
            _kernels.normalize(self.blurred_near, self.blurred, self.t, self.hdr, self.fill, FILL_EPS, self.bg_small)
        else:
            _kernels.normalize(self.blurred, None, None, self.hdr, self.fill, FILL_EPS, self.bg_small)
        return self.bg_small

"""``bokeh``: lens blur with a round or polygonal aperture and highlight bloom.

A lens spreads every out-of-focus point over the shape of its aperture, in linear
light.  Here the background is blurred with that shape (an anti-aliased disc, or a
polygon with ``blades`` sides) at reduced resolution, in approximately linear light
(gamma 2), with near-white pixels - clipped highlights, whose true brightness the
sensor lost - boosted so that a small light spreads into a bright disc instead of
fading into a grey smudge.  The convolution is a sum of horizontal runs read from
row prefix sums, so its cost grows with the radius, not its square.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from . import _kernels
from .lowres import MAX_FACTOR, LowresBackground

# A disc of radius R has the same spread (standard deviation R/2) as a Gaussian of
# sigma R/2, so bokeh at a given strength looks as strong as blur at that strength.
RADIUS_PER_HEIGHT = 0.08
# Aperture radius at reduced resolution: enough pixels for a round disc.
LOWRES_RADIUS = 6.0
_SUPERSAMPLE = 8
_WEIGHT_STEPS = 32


def bokeh_radius(strength: float, height: int) -> float:
    """Aperture radius in full-resolution pixels for ``strength`` in ``[0, 1]`` at frame ``height``."""
    return float(strength) * RADIUS_PER_HEIGHT * height


def aperture_kernel(radius: float, blades: int = 0) -> np.ndarray:
    """Anti-aliased aperture of ``radius`` pixels: a disc, or a regular polygon with ``blades`` sides.

    Weights are in ``[0, 1]`` (1 inside, fractional on the rim); the normalised blur
    does not need them to sum to one.
    """
    r = max(1, math.ceil(radius - 1e-6))
    s = _SUPERSAMPLE
    offs = (np.arange(s) + 0.5) / s - 0.5
    coords = np.arange(-r, r + 1, dtype=np.float64)
    sub = (coords[:, None] + offs[None, :]).ravel()
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    if blades >= 3:
        apothem = radius * math.cos(math.pi / blades)
        inside = np.ones(yy.shape, bool)
        for k in range(blades):
            theta = math.pi / 2 + (2 * k + 1) * math.pi / blades  # a vertex points up
            inside &= xx * math.cos(theta) + yy * math.sin(theta) <= apothem
    else:
        inside = xx * xx + yy * yy <= radius * radius
    n = 2 * r + 1
    weights = inside.reshape(n, s, n, s).mean(axis=(1, 3))
    return np.round(weights * _WEIGHT_STEPS) / _WEIGHT_STEPS


@lru_cache(maxsize=32)
def aperture_runs(radius: float, blades: int = 0) -> tuple[int, tuple[np.ndarray, ...]]:
    """The aperture as ``(r, (dy, x0, x1, weight))``: horizontal runs of equal weight, ``|dy|, |x| <= r``."""
    kernel = aperture_kernel(radius, blades)
    r = kernel.shape[0] // 2
    dys, x0s, x1s, ws = [], [], [], []
    for row in range(kernel.shape[0]):
        x = 0
        vals = kernel[row]
        while x < vals.size:
            if vals[x] == 0:
                x += 1
                continue
            end = x
            while end + 1 < vals.size and vals[end + 1] == vals[x]:
                end += 1
            dys.append(row - r)
            x0s.append(x - r)
            x1s.append(end - r)
            ws.append(float(vals[x]))
            x = end + 1
    runs = (
        np.asarray(dys, np.int64),
        np.asarray(x0s, np.int64),
        np.asarray(x1s, np.int64),
        np.asarray(ws, np.float32),
    )
    for a in runs:
        a.setflags(write=False)
    return r, runs


class BokehBackground(LowresBackground):
    """Masked lens blur (person excluded) at ``1/f`` resolution, in linear light with highlight bloom."""

    hdr = True

    def __init__(self, strength: float, falloff: bool, blades: int = 0) -> None:
        super().__init__(strength, falloff)
        self.blades = int(blades)
        self._prefix: dict[int, np.ndarray] = {}
        self._scratch: dict[str, np.ndarray] = {}

    def size(self, height: int) -> float:
        return bokeh_radius(self.strength, height)

    def factor(self, height: int) -> int:
        return min(MAX_FACTOR, max(1, int(self.size(height) / LOWRES_RADIUS + 0.5)))

    def blur(self, acc: np.ndarray, f: int, size: float, out: np.ndarray) -> None:
        # quantise the radius a little so the cached run lists get reused
        radius = max(0.5, round(size / f * 8) / 8)
        r, runs = aperture_runs(radius, self.blades)
        prefix = self._prefix_buffer(acc.shape, r)
        _kernels.prefix_rows(acc, r, prefix)
        _kernels.conv_runs(prefix, runs, r, out, self._scratch)

    def _prefix_buffer(self, shape: tuple[int, ...], r: int) -> np.ndarray:
        sh, sw, ch = shape
        buf = self._prefix.get(r)
        if buf is None or buf.shape != (sh + 2 * r, (sw + 2 * r + 1) * ch):
            buf = np.zeros((sh + 2 * r, (sw + 2 * r + 1) * ch), np.float32)
            self._prefix[r] = buf
        return buf

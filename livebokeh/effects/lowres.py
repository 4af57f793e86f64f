"""The shared machinery of the blurred backgrounds: masked, normalised blur at reduced resolution.

The frame is reduced by an integer factor ``f`` in one pass that weights every pixel
by how much it is background (:func:`~livebokeh.effects._kernels.masked_downsample`),
so the person never enters the sums.  The effect's kernel (Gaussian for ``blur``, an
aperture for ``bokeh``) then blurs colour and weight alike, and colour / weight is
the background with the person filled in from its surroundings - no halo.  The small
result is upsampled along x here; the compositor finishes the upsampling along y in
its blend pass.

Where the blur is large, that pass need not read the full-resolution frame: ``blur``
sums a copy halved ``k`` times (2 x 2 area averages, the frame's own shared levels when
the caller has them, see :meth:`LowresBackground.level_scale`) in blocks of
``f / 2**k`` pixels, with the alpha at that copy's size.  A Gaussian of sigma ``f``-ish
cannot tell a 4 x 4 average from its pixels: against summing the full frame, a 1080p
composite changes by at most a few levels near the person's edge (mean 0.3).  ``bokeh``
always sums the full frame: its highlight boost is per pixel, and averaging first would
dim small lights.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

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
        self._key: tuple[int, ...] | None = None
        self._levels: dict[str, np.ndarray] = {}

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

    def level_scale(self, f: int) -> int:
        """How much smaller (a power of two) the copy of the frame is that the background is summed from.

        The largest that still leaves 2 x 2 of its pixels in each block of ``f`` frame
        pixels (1: the full frame); always 1 for ``hdr`` backgrounds.
        """
        scale = 1
        if not self.hdr:
            while 4 * scale <= f:
                scale *= 2
        return scale

    def _ensure(self, h: int, w: int, step: int, block: int, level_hw: tuple[int, int]) -> None:
        """Buffers for a ``h x w`` frame summed from a copy of ``level_hw`` in blocks of ``block`` of its pixels."""
        key = (h, w, step, block, *level_hw)
        if self._key == key:
            return
        lh, lw = level_hw
        f = block
        sh, sw = -(-lh // f), -(-lw // f)
        self.acc = np.zeros((sh, sw, 4), np.float32)
        self.blurred = np.zeros_like(self.acc)
        self.blurred_near = np.zeros_like(self.acc)
        self.t = np.zeros((sh, sw), np.float32)
        self.bg_small = np.zeros((sh, sw, 3), np.uint8)
        self.bg_fine = np.zeros((sh, sw, 3), np.uint16)
        self.bgx = np.zeros((sh + 1, max(sw * step, w), 3), np.uint8)
        self.fill = np.zeros(3, np.float32)
        self.y0s, self.fys = row_map(h, sh, step)
        self.scratch: dict[str, np.ndarray] = {}
        self._falloff_scratch: dict[str, np.ndarray] = {}
        self._key = key

    def render(
        self, image: np.ndarray, alpha: np.ndarray, reduced: Callable[[int], np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Background for ``image`` as ``(bgx, y0s, fys)`` for :func:`~livebokeh.effects._kernels.blend_lowres`.

        ``alpha`` and ``reduced`` are as in :meth:`small`.
        """
        self.small(image, alpha, reduced)
        return scale_rows(self.bg_small, self.step, self.bgx), self.y0s, self.fys

    def small(
        self,
        image: np.ndarray,
        alpha: np.ndarray,
        reduced: Callable[[int], np.ndarray] | None = None,
        *,
        fine: bool = False,
    ) -> np.ndarray:
        """The background at ``1/step`` resolution (``ceil(H/step) x ceil(W/step) x 3`` ``uint8``, reused buffer).

        ``fine``: ``uint16`` with :data:`~._kernels.FINE_BITS` bits of fraction instead, for a blend that
        rounds once, at the end (:func:`~._kernels.blend_lowres` on 4:2:0 planes).

        Sample ``(i, j)`` stands for the centre of the ``step x step`` block it sums, so
        scaling it by :attr:`step` (pixel centres aligned, as ``cv2.resize`` does) lays it
        over the frame.  ``alpha`` (``uint8``, 255 = person) is at the frame's size or
        smaller (e.g. the matte's guide resolution); ``reduced(min_side)``, when given,
        returns the frame halved as often as its long side stays at least ``min_side``
        (:meth:`~livebokeh.frames.Frame.reduced`), so levels the caller made already are
        not made again.
        """
        h, w = image.shape[:2]
        f = self.factor(h)
        scale = self.level_scale(f)
        level = image if scale == 1 else _halved(image, scale, reduced, self._levels)
        block = max(1, round(f / scale))
        step = block * scale
        self._ensure(h, w, step, block, (level.shape[0], level.shape[1]))
        level_alpha = _alpha_at(alpha, (level.shape[0], level.shape[1]), self._levels)
        _kernels.masked_downsample(level, level_alpha, block, self.hdr, self.acc, self.scratch)
        sums = cv2.sumElems(self.acc)  # 4 channels: weighted colour and weight
        if sums[3] > 1e-6:
            self.fill[:] = np.divide(sums[:3], sums[3])
        else:  # the person fills the frame: nothing to fill from
            self.fill[:] = 0.2 if self.hdr else 128.0
        size = self.size(h)
        self.blur(self.acc, step, size, self.blurred)
        out = self.bg_fine if fine else self.bg_small
        if self.falloff:
            self.blur(self.acc, step, size * FALLOFF_NEAR, self.blurred_near)
            falloff_map(self.acc[:, :, 3], step, h, self.t, self._falloff_scratch)
            _kernels.normalize(self.blurred_near, self.blurred, self.t, self.hdr, self.fill, FILL_EPS, out)
        else:
            _kernels.normalize(self.blurred, None, None, self.hdr, self.fill, FILL_EPS, out)
        return out

    @property
    def step(self) -> int:
        """Frame pixels per sample of :meth:`small`'s result (``f``, or the nearest multiple of the level's scale)."""
        assert self._key is not None, "small() or render() has not run yet"
        return self._key[2]


def scale_rows(small: np.ndarray, step: int, out: np.ndarray) -> np.ndarray:
    """``small`` (``sh x sw``, a plane or BGR) scaled by ``step`` along x only, into ``out``; returns ``out``.

    ``out`` has one row more than ``small`` (a copy of its last, so row ``y0 + 1`` always
    exists for :func:`row_map`'s ``y0``) and may be wider than ``sw * step``: a frame a few
    pixels wider than its halved copies cover gets the last column repeated.
    """
    sh, sw = small.shape[:2]
    cv2.resize(small, (sw * step, sh), dst=out[:sh, : sw * step], interpolation=cv2.INTER_LINEAR)
    if out.shape[1] > sw * step:
        out[:sh, sw * step :] = out[:sh, sw * step - 1 : sw * step]
    out[sh] = out[sh - 1]
    return out


def row_map(height: int, rows: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``height`` rows, the two of ``rows`` rows (scaled by ``step``) it lies between: ``(y0s, fys)``.

    Row ``y`` is row ``y0s[y]`` plus ``fys[y] / 128`` (a 7-bit fraction, for the integer
    blends) of the way to row ``y0s[y] + 1``; pixel centres aligned as ``cv2.resize`` lays
    them, clamped at the edges.
    """
    u = np.clip((np.arange(height, dtype=np.float64) + 0.5) / step - 0.5, 0.0, rows - 1)
    y0s = np.minimum(np.floor(u).astype(np.int64), rows - 1)
    return y0s, np.round((u - y0s) * 128).astype(np.int32)


def _halved(
    image: np.ndarray, scale: int, reduced: Callable[[int], np.ndarray] | None, buffers: dict[str, np.ndarray]
) -> np.ndarray:
    """``image`` halved (2 x 2 area averages) until it is ``scale`` (a power of two) times smaller.

    From ``reduced`` when it has that level; otherwise made here, in reused buffers.
    """
    h, w = image.shape[:2]
    long_side, sizes = max(h, w), []
    k = scale.bit_length() - 1
    for _ in range(k):
        h, w, long_side = h // 2, w // 2, long_side // 2
        sizes.append((h, w))
    if reduced is not None:
        level = reduced(long_side)
        if level.shape[:2] == sizes[-1]:
            return level
    level = image
    for i, (lh, lw) in enumerate(sizes):
        level = cv2.resize(
            level, (lw, lh), dst=_buffer(buffers, f"image{i}", (lh, lw, 3)), interpolation=cv2.INTER_AREA
        )
    return level


def _alpha_at(alpha: np.ndarray, hw: tuple[int, int], buffers: dict[str, np.ndarray]) -> np.ndarray:
    """``alpha`` at ``hw`` = ``(height, width)``: as is, halved like a frame when larger, interpolated when smaller."""
    if alpha.shape == hw:
        return alpha
    th, tw = hw
    i = 0
    while alpha.shape[0] // 2 >= th and alpha.shape[1] // 2 >= tw:  # area halvings, as the frame's levels
        h, w = alpha.shape[0] // 2, alpha.shape[1] // 2
        alpha = cv2.resize(alpha, (w, h), dst=_buffer(buffers, f"alpha{i}", (h, w)), interpolation=cv2.INTER_AREA)
        i += 1
    if alpha.shape == hw:
        return alpha
    interpolation = cv2.INTER_AREA if alpha.shape[0] > th else cv2.INTER_LINEAR
    return cv2.resize(alpha, (tw, th), dst=_buffer(buffers, "alpha_at", hw), interpolation=interpolation)


def _buffer(buffers: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    buf = buffers.get(name)
    if buf is None or buf.shape != shape:
        buf = np.empty(shape, np.uint8)
        buffers[name] = buf
    return buf

"""Temporal smoothing of the mask: converge where the scene is still, follow where it moves.

Each new model mask ``p`` is blended into a running average ``m`` with a per-pixel
rate ``k``: small (averaging out the model's frame-to-frame jitter) where the frame
did not change, 1 (follow at once) where it moved.  The output ``s`` then follows
``m`` with two rules that make a still edge *stop* changing rather than creep:

* a dead band: where the scene is still, ``s`` only moves to ``m`` once they differ
  by more than ``deadband`` - the average itself still wanders by a little;
* hysteresis around 0.5: a pixel that is person (``s >= 0.5``) only becomes background
  once ``p < 0.5 - hysteresis`` (and the other way round), so a probability hovering
  at 0.5 does not flip the edge back and forth.

Runs on the inference side, at mask resolution (a few tens of microseconds).  Its output, and the
compositor's smoothed alpha (:class:`GuideSmoother`), are then pushed out of the band of doubt
(:func:`decisive`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..effects import _kernels


@dataclass(frozen=True, slots=True)
class TemporalSettings:
    """Rates and thresholds of :class:`TemporalFilter` (grey levels are 0-255)."""

    still_rate: float = 0.15
    motion_grey: float = 25.0
    deadband: float = 0.05
    hysteresis: float = 0.12


class TemporalFilter:
    """Motion-aware blending plus hysteresis; feed it masks of one stream in order."""

    def __init__(self, settings: TemporalSettings | None = None) -> None:
        self.settings = settings or TemporalSettings()
        self._state: np.ndarray | None = None
        self._average: np.ndarray = np.zeros((1, 1), np.float32)
        self._grey: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the state (a new stream, or a jump in the picture)."""
        self._state = None
        self._grey = None

    def motion(self, grey: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Per-pixel motion in ``[0, 1]`` at ``shape`` from the change of the grey frame since the last call."""
        prev = self._grey
        if prev is None or prev.shape != grey.shape:
            return np.ones(shape, np.float32)
        diff = cv2.absdiff(grey, prev)
        diff = cv2.blur(diff, (5, 5))
        # dilate so the motion region covers the mask's soft edge around a moving contour
        diff = cv2.dilate(diff, np.ones((5, 5), np.uint8))
        m = cv2.resize(diff, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32)
        return np.clip(m * np.float32(1.0 / self.settings.motion_grey), 0.0, 1.0)

    def update(self, prob: np.ndarray, grey: np.ndarray) -> np.ndarray:
        """Blend ``prob`` (float32 ``[0, 1]``) into the state; ``grey`` is the frame's small uint8 grey copy."""
        st = self.settings
        if self._state is not None and self._state.shape != prob.shape:
            size = (prob.shape[1], prob.shape[0])
            self._state = cv2.resize(self._state, size, interpolation=cv2.INTER_LINEAR)
            self._average = cv2.resize(self._average, size, interpolation=cv2.INTER_LINEAR)
        motion = self.motion(grey, prob.shape[:2])
        self._grey = grey.copy()
        if self._state is None:
            self._average = prob.astype(np.float32, copy=True)
            self._state = prob.astype(np.float32, copy=True)
            return self._state.copy()
        rate = st.still_rate + (1.0 - st.still_rate) * motion
        average = self._average
        average += rate * (prob - average)
        state = self._state
        move = (motion >= 0.5) | (np.abs(average - state) > st.deadband)
        new = np.where(move, average, state)
        # hysteresis: only flip sides of 0.5 when the model is clearly on the other side
        was_fg = state >= 0.5
        hold_fg = was_fg & (new < 0.5) & (prob > 0.5 - st.hysteresis)
        hold_bg = ~was_fg & (new >= 0.5) & (prob < 0.5 + st.hysteresis)
        new[hold_fg] = 0.5
        new[hold_bg] = np.float32(0.5 - 1.0 / 512.0)
        np.clip(new, 0.0, 1.0, out=new)
        self._state = new
        return new.copy()


DECISIVE_BAND = (0.4, 0.6)
"""A video mask leaves :class:`TemporalFilter` pushed out of this band of probabilities (:func:`decisive`).

In a crowd the selfie model is unsure of large areas (0.3-0.7) and its answer there moves from frame to
frame; a mask that says "half a person" over them shows a ghost of the sharp picture over the blur whose
outline crawls with every step, and that is what makes such a file expensive to encode.  Pushed out of the
band, each place is either kept or blurred, while an edge keeps its sub-pixel position (a model ramp of two
or three pixels still has a pixel inside the band).  Not with ``quality="best"``: the matting model's soft
edge is what it is run for.  The applier does the same to the refined alpha (:class:`~.apply.VideoApplier`).
On the 1080p seven-person clip (``bench convert``): 0.59 -> 0.65 of a plain transcode's speed.  Through
the video path, portraits-large (every 2nd image, 720p): IoU 0.9650 -> 0.9651, boundary F1 0.5846 -> 0.5919;
moving-person clips IoU equal or up (one -0.002); talking-head instability against raw
0.34/0.27/0.29/0.32 -> 0.35/0.27/0.31/0.34."""


def decisive(prob: np.ndarray, low: float, high: float) -> np.ndarray:
    """``prob`` pushed out of ``[low, high]``: 0 below, 1 above, a smoothstep between (a new ``float32`` array).

    Monotonic, and a probability halfway between ``low`` and ``high`` stays where it is, so a
    contour drawn at that level does not move.
    """
    t = np.subtract(prob, np.float32(low), dtype=np.float32)
    t *= np.float32(1.0 / (high - low))
    np.clip(t, 0.0, 1.0, out=t)
    out = np.multiply(t, t)
    t *= np.float32(-2.0)
    t += np.float32(3.0)
    out *= t
    return out


STILL_FLOOR = 0.05
""":class:`GuideSmoother`'s rate where the picture did not change at all: the share of a new alpha that lands per
frame there, so that a correction (a mask that settles after the person stopped) still arrives."""

JITTER = 0.2
"""An alpha step smaller than this where the picture did not change is the model's frame-to-frame jitter ..."""

JITTER_FLOOR = 0.01
"""... and lands at this rate instead of ``STILL_FLOOR``.  Talking-head clips, temporal instability against the
raw model: 0.46/0.38/0.37/0.40 with one floor of 0.05, 0.34/0.27/0.29/0.32 with this; a single floor of 0.02
reaches 0.32/0.30/0.30/0.33 but lags behind moving people (moving-person clips, IoU with a fresh mask every
frame 0.86 -> 0.78), where this costs less than 0.001."""


class GuideSmoother:
    """Compositor-side smoothing at guide resolution: alpha changes where the picture changes.

    The mask is low-resolution, so when a person moves, its soft edge also sweeps over
    background pixels next to them that did not change at all - a visible shimmer
    around a talking head.  Here each pixel of the refined alpha moves towards the new
    value at a rate set by how much *that pixel of the frame* changed (plus a small
    floor, so a correction in a still region still lands; smaller still for a small step,
    which is jitter).  When the mask is reused
    for several frames (inference slower than the camera), a new mask is compared with
    the frame the previous mask was first shown on, so everything that moved while
    waiting for it is updated at once.  Costs a few array operations at guide resolution.
    """

    def __init__(
        self,
        floor: float = STILL_FLOOR,
        change_grey: float = 30.0,
        jitter: float = JITTER,
        jitter_floor: float = JITTER_FLOOR,
    ) -> None:
        self.floor = floor
        self.change = change_grey / 255.0
        self.jitter = jitter
        self.jitter_floor = jitter_floor
        self._alpha: np.ndarray | None = None
        self._guide: np.ndarray | None = None
        self._key: object = None
        self._key_guide: np.ndarray | None = None
        self._rows: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous frame."""
        self._alpha = None
        self._guide = None
        self._key = None
        self._key_guide = None

    def update(self, alpha: np.ndarray, guide: np.ndarray, key: object = None) -> np.ndarray:
        """Smooth ``alpha`` (float32, guide resolution) given this frame's ``guide`` (float32 grey).

        ``key`` identifies the mask ``alpha`` came from (e.g. its frame index); ``None``
        means a new mask every frame.
        """
        prev, prev_guide = self._alpha, self._guide
        new_mask = key is None or key != self._key
        reference = self._key_guide if new_mask and self._key_guide is not None else prev_guide
        self._guide = guide
        if new_mask:
            self._key, self._key_guide = key, guide
        if prev is None or prev_guide is None or reference is None or prev.shape != alpha.shape:
            self._alpha = alpha
            return alpha
        use_reference = reference is not prev_guide and reference.shape == guide.shape
        scale, floor = np.float32((1.0 - self.floor) / self.change), np.float32(self.floor)
        jitter, jitter_floor = np.float32(self.jitter), np.float32(self.jitter_floor)
        h, w = alpha.shape
        if _kernels.numba_here() and h >= 2 and w >= 2 and _all_float32(alpha, prev, guide, prev_guide, reference):
            out = np.empty_like(alpha)
            rows = self._rows if self._rows is not None and self._rows.shape == alpha.shape else np.empty_like(alpha)
            self._rows = rows
            lower_by = np.float32(floor - jitter_floor)
            _nb_smooth(guide, prev_guide, reference, use_reference, alpha, prev, scale, floor, jitter, lower_by,
                       jitter_floor, out, rows)  # fmt: skip
        else:
            change = cv2.absdiff(guide, prev_guide)
            if use_reference:
                change = cv2.max(change, cv2.absdiff(guide, reference))
            rate = cv2.blur(change, (3, 3))
            rate *= scale
            rate += floor
            np.minimum(rate, 1.0, out=rate)
            step = alpha - prev
            # a small step is the model's jitter unless the picture changed: it gets the lower floor
            small = np.abs(step) < jitter
            lowered = np.maximum(rate - np.float32(floor - jitter_floor), jitter_floor)
            rate = np.where(small, lowered, rate)
            out = prev + rate * step
        self._alpha = out
        return out


def _all_float32(*arrays: np.ndarray) -> bool:
    return all(a.dtype == np.float32 for a in arrays)


@_kernels.kernel
def _nb_smooth(
    guide, prev_guide, reference, use_reference, alpha, prev, scale, floor, jitter, lower_by, jitter_floor, out, rows
):  # type: ignore[no-untyped-def]
    """:meth:`GuideSmoother.update` after its bookkeeping, in two passes (the numpy path makes a dozen maps).

    The picture's change ``|guide - prev_guide|`` (the larger of it and ``|guide - reference|``
    with ``use_reference``) is summed along x into ``rows``; its 3 x 3 mean (edges mirrored
    as ``cv2.blur`` does) gives the rate ``r = min(mean * scale + floor, 1)``, lowered by
    ``lower_by`` (not below ``jitter_floor``) where the step is smaller than ``jitter``; then
    ``out = prev + r * (alpha - prev)``.  At least 2 x 2 pixels.
    """
    h, w = alpha.shape
    for y in range(h):
        g, pg, rf, rs = guide[y], prev_guide[y], reference[y], rows[y]
        c_left = abs(g[1] - pg[1])
        c_mid = abs(g[0] - pg[0])
        if use_reference:
            c_left = max(c_left, abs(g[1] - rf[1]))
            c_mid = max(c_mid, abs(g[0] - rf[0]))
        for x in range(w):
            xr = x + 1 if x + 1 < w else w - 2
            c_right = abs(g[xr] - pg[xr])
            if use_reference:
                c_right = max(c_right, abs(g[xr] - rf[xr]))
            rs[x] = c_left + c_mid + c_right
            c_left, c_mid = c_mid, c_right
    ninth = np.float32(1.0 / 9.0)
    one = np.float32(1.0)
    for y in range(h):
        up = rows[y - 1 if y > 0 else 1]
        mid = rows[y]
        down = rows[y + 1 if y + 1 < h else h - 2]
        a, p, o = alpha[y], prev[y], out[y]
        for x in range(w):
            r = min((up[x] + mid[x] + down[x]) * ninth * scale + floor, one)
            step = a[x] - p[x]
            if abs(step) < jitter:
                r = max(r - lower_by, jitter_floor)
            o[x] = p[x] + r * step

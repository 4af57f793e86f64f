"""Bring a low-resolution mask to full resolution.

:func:`bilinear` is the plain baseline.  :func:`guided` is the edge-aware path: a
guided filter (He et al., 2010) run on a reduced-resolution grey copy of the frame,
with the mask bilinearly brought to that resolution as the filter input.  Where the
frame has an edge near the mask's edge, the output edge snaps to it; in flat regions
the filter is a plain local mean; soft values (hair) stay soft because nothing is
thresholded.  The filtered ``uint8`` alpha is then bilinearly scaled to full size,
which costs less than scaling the float mask.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import cv2
import numpy as np

from ..effects import _kernels
from ..frames import Frame

VIDEO_GUIDE_SIDE = 480
"""Long side of the guide image for video: the filter's cost is fixed, not per full-res pixel.

For 1080p and 4K that is one of the frame's exact halvings (480 x 270), which the model input and the
compositor's blur share.  Smaller halvings were tried as guides and cost matte quality (``eval --videos``,
same run): 720p's 320 x 180 raised liveportrait-s18's temporal instability from 0.294 to 0.306 of the raw
model's, and 854 x 480's 427 x 240 cost davis16-breakdance 0.001 of IoU, for 1-2 points of a core at
720p (17.6-18.2 against 19.1-20.3 % in 720p MJPEG live)."""

EPS = 1e-3
"""The guided filter's regularisation (grey levels in [0, 1]): a local contrast well below ``sqrt(EPS)`` is smoothed
over, one above it is an edge the alpha follows."""

PHOTO_GUIDE_SIDE = 1024
"""Long side of the guide image for photos (a 12 MP photo is refined at ~1 MP)."""


def bilinear(mask: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Bilinear upsample of a float32 ``[0, 1]`` mask to ``size`` = ``(width, height)`` as uint8 alpha."""
    up = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
    return cv2.convertScaleAbs(up, dst=out, alpha=255.0)


def guide_size(frame_size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``(width, height)`` of the guide image: ``frame_size`` scaled so its long side is at most ``max_side``."""
    w, h = frame_size
    scale = min(1.0, max_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def guide_source(image: np.ndarray, max_side: int) -> np.ndarray:
    """``uint8`` BGR copy of a frame at :func:`guide_size` resolution (the frame itself when it is that small).

    Large frames are first decimated (nearest) to twice the target, then area-averaged, so
    a 1080p frame costs well under a millisecond.  :func:`guide_image` and
    :func:`colour_guide` of this copy equal theirs of the frame, so a caller that needs
    both shrinks the frame once.
    """
    h, w = image.shape[:2]
    gw, gh = guide_size((w, h), max_side)
    small = image
    if gw * 2 < w:  # cheap decimation to twice the target, then a proper area average
        small = cv2.resize(image, (2 * gw, 2 * gh), interpolation=cv2.INTER_NEAREST)
    if (small.shape[1], small.shape[0]) != (gw, gh):
        small = cv2.resize(small, (gw, gh), interpolation=cv2.INTER_AREA)
    return small


def guide_image(image: np.ndarray, max_side: int) -> np.ndarray:
    """Grey ``float32`` ``[0, 1]`` copy of a BGR frame at :func:`guide_size` resolution (see :func:`guide_source`)."""
    grey = cv2.cvtColor(guide_source(image, max_side), cv2.COLOR_BGR2GRAY)
    return grey.astype(np.float32) * np.float32(1.0 / 255.0)


def frame_guide(frame: Frame, max_side: int) -> np.ndarray:
    """:func:`guide_image` of a :class:`~livebokeh.frames.Frame`, made from its shared reduced copies.

    The frame's own :meth:`~livebokeh.frames.Frame.resized` copy at the guide's size: its
    nearest halving, finished with a bilinear step where the guide is not a halving
    (720p: 640 x 360 -> 480 x 270), which costs a tenth of an area average by such a
    fractional factor (0.15 vs 1.65 ms here).
    """
    w, h = frame.size
    return guide_image(frame.resized(guide_size((w, h), max_side)), max_side)


def colour_guide(image: np.ndarray, max_side: int) -> np.ndarray:
    """BGR ``float32`` ``[0, 1]`` copy of a frame at :func:`guide_size` resolution (for :func:`colour_line`)."""
    return guide_source(image, max_side).astype(np.float32) * np.float32(1.0 / 255.0)


COLOUR_FIT = 0.25
"""How far off the line from ``B`` to ``F`` a pixel's colour may lie before :func:`colour_line` trusts its own
estimate less than the mask's: at a distance of ``sqrt(COLOUR_FIT)`` times the line's length the two count
equally.  A colour far off the line (a third colour: a strand of hair over a patterned wall, an earring) is
explained by neither mean, and its position along the line says little."""


def colour_line(
    src: np.ndarray,
    colour: np.ndarray,
    radius: int,
    *,
    low: float = 0.1,
    high: float = 0.9,
    min_contrast: float = 0.003,
    fit: float = COLOUR_FIT,
) -> np.ndarray:
    """Re-estimate alpha in the uncertain band of ``src`` from local person and background colours.

    For every pixel where ``low < src < high``, the mean colour ``F`` of the confident
    person pixels and ``B`` of the confident background pixels within ``radius`` are
    found with box filters, and alpha becomes the position of the pixel's colour on
    the line from ``B`` to ``F`` (the colour-line model of matting).  That estimate is
    weighted against ``src`` by how well the line explains the colour: with ``d`` the
    colour's distance from the line, the estimate's weight is ``1 / (1 + d^2 / (fit |F - B|^2))``.
    Where there is no confident pixel of one kind nearby, or ``F`` and ``B`` are alike (their
    squared distance at most ``min_contrast``; the weight already distrusts a short line),
    ``src`` is kept.  ``src`` and ``colour`` (BGR float32) have the same size.
    """
    band = (src > low) & (src < high)
    ys, xs = np.nonzero(band)
    out = src.astype(np.float32)  # a copy: only the band changes
    if ys.size == 0:
        return out
    k = (2 * radius + 1, 2 * radius + 1)
    fg = (src > high).astype(np.float32)
    bg = (src < low).astype(np.float32)
    # The box sums cover the whole picture (that is what a box filter costs); everything per
    # pixel after them is needed, and computed, only in the band (a few % of the pixels).
    n_fg = cv2.boxFilter(fg, -1, k, normalize=False)[ys, xs]
    n_bg = cv2.boxFilter(bg, -1, k, normalize=False)[ys, xs]
    sum_f = cv2.boxFilter(cv2.multiply(colour, cv2.merge((fg, fg, fg))), -1, k, normalize=False)[ys, xs]
    sum_b = cv2.boxFilter(cv2.multiply(colour, cv2.merge((bg, bg, bg))), -1, k, normalize=False)[ys, xs]
    mean_f = sum_f / np.maximum(n_fg, 1.0)[:, None]
    mean_b = sum_b / np.maximum(n_bg, 1.0)[:, None]
    d = mean_f - mean_b
    n2 = np.maximum((d * d).sum(axis=1), 1e-6)
    c = colour[ys, xs] - mean_b
    t = (c * d).sum(axis=1) / n2  # the position on the line; off it by c - t d
    off2 = np.square(c - t[:, None] * d).sum(axis=1)
    weight = 1.0 / (1.0 + off2 / (fit * n2))
    alpha = np.clip(t, 0.0, 1.0)
    use = (n_fg >= 1) & (n_bg >= 1) & (n2 > min_contrast)
    ys, xs = ys[use], xs[use]
    before = out[ys, xs]
    out[ys, xs] = before + weight[use] * (alpha[use] - before)
    return out


COLOUR_PASSES = (2.0, 1.0)
"""Window radii of the colour-line passes (:func:`colour_refine`), in guided-filter radii.  The first pass,
with the wide window, finds the colours on both sides of the model's blurred edge; the filtered result has
a narrower band, whose confident pixels lie closer to the contour, so the second pass takes its colours from
nearer.  Dev portraits (400, ``--quality fast``), boundary F1 over raw: one pass at 3 radii (what was here
before) +0.049, two passes +0.058, two passes weighted by fit (:data:`COLOUR_FIT`) +0.060."""


def colour_refine(src: np.ndarray, colour: np.ndarray, guide: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """The soft band of ``src`` re-estimated by the colour-line passes of :data:`COLOUR_PASSES`.

    Between two passes the band is smoothed by the guided filter (``guide``, ``radius``,
    ``eps``: the filter the caller runs on the result), which also narrows it.  All maps at
    the guide's size.
    """
    for i, scale in enumerate(COLOUR_PASSES):
        if i:
            src = np.clip(guided_filter(guide, src, radius, eps), 0.0, 1.0)
        src = colour_line(src, colour, max(1, int(round(scale * radius))))
    return src


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float, subsample: int = 1) -> np.ndarray:
    """Grey guided filter of ``src`` by ``guide`` (both float32, same shape); returns float32.

    With ``subsample`` > 1 this is the *fast* guided filter (He & Sun, 2015): the
    linear coefficients are computed on copies ``subsample`` times smaller and
    scaled back up, and only the final ``a * guide + b`` runs at full size, so the
    output edge still follows the full-resolution guide.
    """
    h, w = guide.shape[:2]
    if subsample > 1:
        size = (max(1, w // subsample), max(1, h // subsample))
        small_i = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)
        small_p = cv2.resize(src, size, interpolation=cv2.INTER_AREA)
        r = max(1, radius // subsample)
    else:
        small_i, small_p, r = guide, src, radius
    k = (2 * r + 1, 2 * r + 1)
    # Each step writes over a map the filter no longer needs: the same arithmetic as fresh
    # arrays, with a third of the allocations (a photo's guide maps are 3 MB each).
    mean_i = cv2.boxFilter(small_i, -1, k)
    mean_p = cv2.boxFilter(small_p, -1, k)
    tmp = cv2.multiply(small_i, small_p)
    corr_ip = cv2.boxFilter(tmp, -1, k)
    cv2.multiply(small_i, small_i, dst=tmp)
    corr_ii = cv2.boxFilter(tmp, -1, k)
    var_i = np.subtract(corr_ii, np.multiply(mean_i, mean_i, out=tmp), out=corr_ii)
    cov_ip = np.subtract(corr_ip, np.multiply(mean_i, mean_p, out=tmp), out=corr_ip)
    a = np.divide(cov_ip, np.add(var_i, np.float32(eps), out=var_i), out=cov_ip)
    b = np.subtract(mean_p, np.multiply(a, mean_i, out=tmp), out=mean_p)
    mean_a = cv2.boxFilter(a, -1, k, dst=mean_i)
    mean_b = cv2.boxFilter(b, -1, k, dst=tmp)
    if subsample > 1:
        if _kernels.numba_here() and guide.dtype == np.float32 and mean_a.shape[0] >= 2:
            # along x by OpenCV on the small maps' rows; along y, and applied, in one pass
            ax = cv2.resize(mean_a, (w, mean_a.shape[0]), interpolation=cv2.INTER_LINEAR)
            bx = cv2.resize(mean_b, (w, mean_b.shape[0]), interpolation=cv2.INTER_LINEAR)
            out = np.empty_like(guide)
            _nb_rows_linear(ax, bx, guide, *_linear_map(h, mean_a.shape[0]), out)
            return out
        mean_a = cv2.resize(mean_a, (w, h), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.asarray(cv2.add(cv2.multiply(mean_a, guide, dst=mean_a), mean_b, dst=mean_a))


@functools.lru_cache(maxsize=16)
def _linear_map(size: int, small: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``size`` samples, the two of ``small`` samples it lies between and its weight on the second.

    Pixel centres aligned and edges clamped, as ``cv2.resize`` lays them for ``INTER_LINEAR``.
    """
    u = (np.arange(size, dtype=np.float64) + 0.5) * (small / size) - 0.5
    i0 = np.floor(u).astype(np.int64)
    wt = (u - i0).astype(np.float32)
    low, high = i0 < 0, i0 >= small - 1
    wt[low | high] = 0.0
    i0 = np.clip(i0, 0, small - 1)
    i1 = np.minimum(i0 + 1, small - 1)
    for a in (i0, i1, wt):
        a.setflags(write=False)
    return i0, i1, wt


@_kernels.kernel
def _nb_rows_linear(ax, bx, guide, y0s, y1s, wys, out):  # type: ignore[no-untyped-def]
    """``out = A * guide + B``, ``A`` and ``B`` being ``ax`` and ``bx`` (already at ``guide``'s width) scaled along y.

    ``y0s, y1s, wys`` are :func:`_linear_map`'s: the same samples as finishing the two
    ``cv2.resize`` calls and a multiply-add, without the two full-size maps in between.
    """
    h, w = out.shape
    one = np.float32(1.0)
    for y in range(h):
        wy = wys[y]
        vy = one - wy
        a0, a1, b0, b1 = ax[y0s[y]], ax[y1s[y]], bx[y0s[y]], bx[y1s[y]]
        g, o = guide[y], out[y]
        for x in range(w):
            o[x] = (a0[x] * vy + a1[x] * wy) * g[x] + (b0[x] * vy + b1[x] * wy)


def filter_radius(guide_shape: tuple[int, ...], mask_shape: tuple[int, ...]) -> int:
    """Filter radius in guide pixels: about three mask pixels, at least 2.

    The window must reach from the mask's blurred edge to the real contour in the
    guide; the model's edge is typically one to two of its own pixels off.
    """
    ratio = max(guide_shape[0] / max(1, mask_shape[0]), guide_shape[1] / max(1, mask_shape[1]))
    return max(2, int(round(ratio * 3.0)))


def guided(
    mask: np.ndarray,
    guide: np.ndarray,
    size: tuple[int, int],
    *,
    eps: float = EPS,
    radius: int | None = None,
    out: np.ndarray | None = None,
    smoother: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    subsample: int = 1,
    colour: np.ndarray | None = None,
) -> np.ndarray:
    """Edge-aware upsample: ``mask`` (float32, any resolution) -> uint8 alpha of ``size`` = ``(width, height)``.

    ``guide`` is :func:`guide_image` of the frame the alpha will be applied to.
    ``smoother(alpha, guide)``, if given, post-processes the filtered alpha at guide
    resolution (temporal smoothing in video).  ``subsample`` > 1 computes the filter's
    coefficients at a coarser scale (see :func:`guided_filter`), for video.  ``colour``
    (:func:`colour_guide` of the frame) first re-estimates the soft edge band from
    local colours (:func:`colour_refine`; photos, where a few more milliseconds are free).
    """
    gh, gw = guide.shape[:2]
    src = cv2.resize(mask, (gw, gh), interpolation=cv2.INTER_LINEAR) if mask.shape[:2] != (gh, gw) else mask
    r = radius if radius is not None else filter_radius(guide.shape, mask.shape)
    if colour is not None:
        src = colour_refine(src, colour, guide, r, eps)
    q = guided_filter(guide, src, r, eps, subsample)
    if smoother is not None:
        q = smoother(q, guide)
    q8 = cv2.convertScaleAbs(q, alpha=255.0)  # saturates to [0, 255]
    if (gw, gh) == size:
        if out is None:
            return q8
        out[...] = q8
        return out
    return cv2.resize(q8, size, dst=out, interpolation=cv2.INTER_LINEAR)

"""The per-pixel kernels behind the effects, with numba and pure-numpy implementations.

Only two passes touch every full-resolution pixel:

* :func:`masked_downsample` reads the frame and the alpha once and sums, per block of
  ``f x f`` pixels, the background-weighted colour (person pixels weigh nothing) and
  the weight itself.  Everything blurry then happens on these small sums.
* one blend (:func:`blend_lowres`, :func:`blend` or :func:`blend_color`) reads the
  frame and the alpha once more and writes ``out = bg + a * (fg - bg)``; for the
  blurred effects it upsamples the low-resolution background in the same pass.  Every
  blend loop computes its samples with the one pixel kernel :func:`_mix_fine` (as
  :func:`_mix` where the background is in whole levels), on BGR frames and on 4:2:0
  planes alike.

With numba (``cache=True``, single-threaded, compiled lazily on first use) the loops
are written so that LLVM vectorises the inner ones.  Without numba, or with
``LIVEBOKEH_NO_NUMBA=1``, the numpy versions compute the same numbers, with
temporary arrays.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

# numba is optional (the numpy path gives the same pictures, only slower) and is
# imported on first use, so that commands which composite nothing start faster.
_HAVE_NUMBA = importlib.util.find_spec("numba") is not None
_use_numba = _HAVE_NUMBA and os.environ.get("LIVEBOKEH_NO_NUMBA", "") not in ("1", "true", "yes")

# Background weight of a pixel: (1 - EDGE_CUT * alpha)^2, clipped at 0.  Pixels that are
# even 1/EDGE_CUT person are left out of the background, so the colour mixed into the
# soft edge of the matte cannot glow around the silhouette.
EDGE_CUT = 8
# Highlight bloom for the lens blur: in linear light, pixels whose luminance is above
# HDR_KNEE are taken to be clipped highlights and scaled up towards (1 + HDR_GAIN) so
# that, spread over the aperture, a small light still reads as a bright disc.
HDR_KNEE = 0.7
HDR_GAIN = 24.0
LUMA_B, LUMA_G, LUMA_R = 0.0722, 0.7152, 0.2126  # Rec. 709, linear light
# The darkest byte a pixel's brightest sample can have and still pass the knee: its luminance is at most
# that sample's linear value (the luma weights sum to 1), so below it the boost is nothing.
HDR_MIN_BYTE = math.ceil(255 * math.sqrt(HDR_KNEE))
HDR_RUN = 64  # pixels checked for HDR_MIN_BYTE at a time
BLEND_RUN = 128
"""Pixels per run the lowres blends check: a run whose alpha is all 255 or all 0 is copied from the frame
or the background, so only runs with an edge in them are mixed (40 % of the runs of a matte of the bundled
sample clip at 1080p; 128 was faster than 32, 64 and 256 there)."""


FINE_BITS = 8
"""Bits of fraction in a ``uint16`` low-resolution background (:func:`normalize`, :func:`blend_lowres`).

Rounded to whole levels, a background 8 times smaller than the frame turns each sample's rounding
into an 8 x 8 patch one level off that lies on the sample grid, not on the picture, and changes
from frame to frame as the camera moves; the encoder spends its bits on those patches.  Kept
with a fraction through the upsampling and rounded once in the blend, a blurred 1080p pan
encodes with x264 (CRF 18) to 1.22 MB instead of 2.14 MB, as small as the exact full-size
Gaussian blur of the same frames (150 frames of the seven-person group clip)."""


def fraction_bits(a: np.ndarray) -> int:
    """Bits of fraction the samples of ``a`` carry: :data:`FINE_BITS` for ``uint16``, else 0."""
    return FINE_BITS if a.dtype == np.uint16 else 0


_thread_backend: ContextVar[bool | None] = ContextVar("livebokeh_kernels", default=None)
"""The backend chosen for this thread by :func:`backend` (``None``: the process's, :func:`set_backend`)."""


def _numba() -> bool:
    """Whether the kernels called now run on numba: this thread's choice, else the process's."""
    chosen = _thread_backend.get()
    return _use_numba if chosen is None else chosen


@contextmanager
def backend(name: str | None) -> Iterator[None]:
    """Run the kernels called in this block (on this thread) with ``name``: ``numba``, ``numpy``, or ``None`` (as set).

    ``numba`` falls back to ``numpy`` where numba is not installed.  A compositor made for
    one picture uses ``numpy``: importing numba and loading its compiled kernels costs more
    than they save there (see :class:`~livebokeh.runtime.photo.PhotoProcessor`).
    """
    if name not in (None, "numba", "numpy"):
        raise ValueError(f"backend {name!r} is unknown: use numba, numpy or None")
    token = _thread_backend.set(None if name is None else (name == "numba" and _HAVE_NUMBA))
    try:
        yield
    finally:
        _thread_backend.reset(token)


def numba_available() -> bool:
    """True when numba is importable (whether or not it is switched on)."""
    return _HAVE_NUMBA


def using_numba() -> bool:
    """True when the numba kernels are used."""
    return _use_numba


def numba_here() -> bool:
    """True when the numba kernels are used on this thread (:func:`backend` may have chosen for it)."""
    return _numba()


def set_backend(name: str) -> None:
    """Choose ``"numba"`` or ``"numpy"`` kernels (for tests and benchmarks)."""
    global _use_numba
    if name not in ("numba", "numpy"):
        raise ValueError(f"backend {name!r} is unknown: use numba or numpy")
    if name == "numba" and not _HAVE_NUMBA:
        raise RuntimeError("numba is not installed: pip install numba")
    _use_numba = name == "numba"


_helpers: list[Callable[..., Any]] = []
_compile_lock = threading.Lock()
_helpers_registered = False


def _inline(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``fn`` as a helper of the kernels: plain Python here, inlined into every kernel that calls it.

    Numba sees it through ``numba.extending.register_jitable(inline="always")``, applied
    with the first compile (so numba is still imported only then); the kernel's own
    loop then holds the helper's code, as if it were written out in place.
    """
    _helpers.append(fn)
    return fn


def _compile(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``numba.njit`` of ``fn`` (cached on disk when numba can), with the helpers made known to numba first."""
    global _helpers_registered
    import numba
    from numba.extending import register_jitable

    if not _helpers_registered:
        for helper in _helpers:
            register_jitable(inline="always")(helper)
        _helpers_registered = True
    try:
        return numba.njit(cache=True, fastmath=True, nogil=True)(fn)  # type: ignore[no-any-return]
    except RuntimeError as exc:  # no writable cache folder: compile every run instead
        log.warning("numba cannot cache %s (%s); set NUMBA_CACHE_DIR to a writable folder", fn.__name__, exc)
        return numba.njit(fastmath=True, nogil=True)(fn)  # type: ignore[no-any-return]


def _jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`_compile` applied on the first call (numba imported then, not at import time).

    A kernel may call :func:`_inline` helpers, not other ``_jit`` kernels (this wrapper
    is a Python function, which compiled code cannot call).
    """
    compiled: list[Callable[..., Any]] = []

    def call(*args: Any) -> Any:
        if not compiled:
            with _compile_lock:
                if not compiled:
                    compiled.append(_compile(fn))
        return compiled[0](*args)

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    return call


kernel = _jit
""":func:`_jit` for kernels elsewhere in the package (they follow the same rules and share the cache)."""


# --------------------------------------------------------------------------- numba
#
# Integer kernels keep every intermediate exact modulo 2**16 and truncate to uint8 at
# the end, which lets LLVM run them on 16-bit lanes: twice the pixels per instruction
# of float32.  Alpha 0-255 becomes a weight 0-256 as ``a + (a >> 7)`` so that 255
# gives the foreground exactly.


@_jit
def _nb_downsample_u8(img, alpha, f, acc, num_row, den_row, w3):  # type: ignore[no-untyped-def]
    h, w = alpha.shape
    sh, sw = acc.shape[0], acc.shape[1]
    n = w * 3
    for ys in range(sh):
        num_row[:] = 0
        den_row[:] = 0
        y0 = ys * f
        y1 = min(h, (ys + 1) * f)
        # num_row holds sums of (w8 * v + 128) >> 8 ~ w * v * 255/256, den_row sums of w8 ~ 255 w
        num_scale = np.float32(256.0 / (255.0 * f * (y1 - y0)))
        den_scale = np.float32(1.0 / (255.0 * f * (y1 - y0)))
        # Rows go in groups of four: one weight per pixel column of the group, from the
        # largest alpha in it (so the person is, if anything, left out more), applied to
        # the group's mean colour.  Every pixel is read; the weighting work is quartered.
        # Rows left over at the end of a block go one by one.
        y = y0
        while y < y1:
            if y + 4 <= y1:
                a0, a1, a2, a3 = alpha[y], alpha[y + 1], alpha[y + 2], alpha[y + 3]
                f0, f1, f2, f3 = img[y].ravel(), img[y + 1].ravel(), img[y + 2].ravel(), img[y + 3].ravel()
                for x in range(w):
                    top = max(max(a0[x], a1[x]), max(a2[x], a3[x]))
                    b = max(np.int32(255) - np.int32(top) * np.int32(EDGE_CUT), np.int32(0))
                    wt = np.uint8((b * b + np.int32(255)) >> np.int32(8))
                    den_row[x] += np.uint16(wt) * np.uint16(4)
                    w3[3 * x] = wt
                    w3[3 * x + 1] = wt
                    w3[3 * x + 2] = wt
                for i in range(n):
                    v = (
                        np.int32(f0[i]) + np.int32(f1[i]) + np.int32(f2[i]) + np.int32(f3[i]) + np.int32(2)
                    ) >> np.int32(2)
                    num_row[i] += np.uint16(((np.int32(w3[i]) * v + np.int32(128)) >> np.int32(8)) * np.int32(4))
                y += 4
            else:
                ar = alpha[y]
                fr = img[y].ravel()
                for x in range(w):
                    b = max(np.int32(255) - np.int32(ar[x]) * np.int32(EDGE_CUT), np.int32(0))
                    wt = np.uint8((b * b + np.int32(255)) >> np.int32(8))
                    den_row[x] += np.uint16(wt)
                    w3[3 * x] = wt
                    w3[3 * x + 1] = wt
                    w3[3 * x + 2] = wt
                for i in range(n):
                    num_row[i] += np.uint16((np.int32(w3[i]) * np.int32(fr[i]) + np.int32(128)) >> np.int32(8))
                y += 1
        for xs in range(sw):
            a0 = 0
            a1 = 0
            a2 = 0
            a3 = 0
            for x in range(xs * f, min(w, (xs + 1) * f)):
                a0 += num_row[3 * x]
                a1 += num_row[3 * x + 1]
                a2 += num_row[3 * x + 2]
                a3 += den_row[x]
            acc[ys, xs, 0] = a0 * num_scale
            acc[ys, xs, 1] = a1 * num_scale
            acc[ys, xs, 2] = a2 * num_scale
            acc[ys, xs, 3] = a3 * den_scale


@_jit
def _nb_downsample_hdr(img, alpha, f, acc, num_row, den_row, w3):  # type: ignore[no-untyped-def]
    h, w = alpha.shape
    sh, sw = acc.shape[0], acc.shape[1]
    n = w * 3
    inv255 = np.float32(1.0 / 255.0)
    knee = np.float32(HDR_KNEE)
    slope = np.float32(1.0 / (1.0 - HDR_KNEE))
    gain = np.float32(HDR_GAIN)
    norm = np.float32(1.0 / (f * f))
    bright = np.uint8(HDR_MIN_BYTE)
    for ys in range(sh):
        num_row[:] = 0.0
        den_row[:] = 0.0
        for y in range(ys * f, min(h, (ys + 1) * f)):
            ar = alpha[y]
            fr = img[y].ravel()
            for x in range(w):
                b = max(np.float32(255 - np.int32(ar[x]) * EDGE_CUT), np.float32(0.0)) * inv255
                wt = b * b
                den_row[x] += wt
                ws = wt * inv255 * inv255
                w3[3 * x] = ws
                w3[3 * x + 1] = ws
                w3[3 * x + 2] = ws
            # Only a pixel with a sample of at least HDR_MIN_BYTE can pass the knee, so the boost is worked out
            # only for the runs of HDR_RUN pixels that hold one (1 % of the runs of `bench composite`'s scene,
            # about 40 % on the bundled sample clip); the result is the same as working it out everywhere.
            for x0 in range(0, w, HDR_RUN):
                x1 = min(w, x0 + HDR_RUN)
                run = fr[3 * x0 : 3 * x1]
                top = np.uint8(0)
                for i in range(run.size):  # (this form LLVM vectorises)
                    v = run[i]
                    top = v if v > top else top
                if top < bright:
                    continue
                w3_run = w3[3 * x0 : 3 * x1]
                for x in range(x1 - x0):
                    # one boost per pixel, from its linear luminance: near-white highlights
                    # bloom and keep their hue; saturated colours are not mistaken for lights
                    cb = np.float32(run[3 * x]) * inv255
                    cg = np.float32(run[3 * x + 1]) * inv255
                    cr = np.float32(run[3 * x + 2]) * inv255
                    lum = LUMA_B * cb * cb + LUMA_G * cg * cg + LUMA_R * cr * cr
                    t = min(max((lum - knee) * slope, np.float32(0.0)), np.float32(1.0))
                    wb = w3_run[3 * x] * (np.float32(1.0) + gain * t * t)  # the pixel's weight, boosted
                    w3_run[3 * x] = wb
                    w3_run[3 * x + 1] = wb
                    w3_run[3 * x + 2] = wb
            for i in range(n):
                v = np.float32(fr[i])
                num_row[i] += w3[i] * v * v
        for xs in range(sw):
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            a3 = np.float32(0.0)
            for x in range(xs * f, min(w, (xs + 1) * f)):
                a0 += num_row[3 * x]
                a1 += num_row[3 * x + 1]
                a2 += num_row[3 * x + 2]
                a3 += den_row[x]
            acc[ys, xs, 0] = a0 * norm
            acc[ys, xs, 1] = a1 * norm
            acc[ys, xs, 2] = a2 * norm
            acc[ys, xs, 3] = a3 * norm


@_jit
def _nb_normalize(acc0, acc1, t, hdr, fill, eps, out, row, scale):  # type: ignore[no-untyped-def]
    sh, sw = out.shape[0], out.shape[1]
    two = acc1.shape[0] == sh
    n = sw * 3
    for y in range(sh):
        # the normalised colours of the row first, then (a loop LLVM vectorises) their display values
        for x in range(sw):
            d0 = acc0[y, x, 3] + eps
            d1 = d0
            tt = np.float32(0.0)
            if two:
                d1 = acc1[y, x, 3] + eps
                tt = t[y, x]
            for c in range(3):
                v = (acc0[y, x, c] + eps * fill[c]) / d0
                if two:
                    v1 = (acc1[y, x, c] + eps * fill[c]) / d1
                    v = v + (v1 - v) * tt
                row[3 * x + c] = v
        o = out[y].ravel()
        if hdr:
            for i in range(n):
                v = np.float32(255.0) * np.sqrt(min(max(row[i], np.float32(0.0)), np.float32(1.0)))
                o[i] = np.uint16(v * scale + np.float32(0.5))
        else:
            for i in range(n):
                v = min(max(row[i], np.float32(0.0)), np.float32(255.0))
                o[i] = np.uint16(v * scale + np.float32(0.5))


@_jit
def _nb_prefix_rows(acc, r, prefix):  # type: ignore[no-untyped-def]
    sh, sw, ch = acc.shape
    for y in range(sh):
        row = prefix[y + r]
        for c in range(ch):
            run = np.float32(0.0)
            for xp in range(sw + 2 * r):
                x = xp - r
                if 0 <= x < sw:
                    run += acc[y, x, c]
                row[(xp + 1) * ch + c] = run


@_jit
def _nb_conv_runs(prefix, dys, x0s, x1s, ws, r, out, tmp):  # type: ignore[no-untyped-def]
    sh, sw, ch = out.shape
    n = sw * ch
    for y in range(sh):
        tmp[:] = 0.0
        for k in range(dys.shape[0]):
            row = prefix[y + dys[k] + r]
            off1 = (x1s[k] + r + 1) * ch
            off0 = (x0s[k] + r) * ch
            wk = np.float32(ws[k])
            hi = row[off1 : off1 + n]
            lo = row[off0 : off0 + n]
            for i in range(n):  # slices (not offsets) let LLVM vectorise this loop
                tmp[i] += wk * (hi[i] - lo[i])
        o = out[y].ravel()
        for i in range(n):
            o[i] = tmp[i]


@_inline
def _mix(f, b, a):  # type: ignore[no-untyped-def]
    """The one blend, on one sample: ``b + a * (f - b) / 255`` for ``uint8`` ``f`` (front), ``b`` (back), ``a`` (alpha).

    Fixed point 8.8: alpha 0-255 becomes a weight 0-256 as ``a + (a >> 7)``, so 255
    gives ``f`` and 0 gives ``b`` exactly; the result is rounded.
    """
    return _mix_fine(f, np.int32(b), a, np.int32(0))


@_inline
def _mix_fine(f, b, a, bits):  # type: ignore[no-untyped-def]
    """:func:`_mix` with a background ``b`` (``int32``) that carries ``bits`` bits of fraction.

    ``((b << 8) + ((f << bits) - b) * w) / 2**(8 + bits)``, rounded once: alpha 255 still gives
    ``f``, and 0 the background rounded.
    """
    w = np.int32(a)
    w = w + (w >> np.int32(7))
    return np.uint8(
        ((b << np.int32(8)) + ((np.int32(f) << bits) - b) * w + (np.int32(128) << bits)) >> (np.int32(8) + bits)
    )


@_inline
def _lerp_wide(r0, r1, fy):  # type: ignore[no-untyped-def]
    """``r0 + fy / 128 * (r1 - r0)`` on one sample, rounded to the samples' own precision, as ``int32``."""
    q = np.int32(r0)
    return q + (((np.int32(r1) - q) * fy + np.int32(64)) >> np.int32(7))


@_inline
def _spread3(ar, a3):  # type: ignore[no-untyped-def]
    """Each alpha of the row ``ar`` three times into ``a3``, to line up with the row's B, G, R samples."""
    for x in range(ar.shape[0]):
        a = ar[x]
        a3[3 * x] = a
        a3[3 * x + 1] = a
        a3[3 * x + 2] = a


@_inline
def _lerp_rows(r0, r1, fy):  # type: ignore[no-untyped-def]
    """``r0 + fy / 128 * (r1 - r0)`` on one ``uint8`` sample, rounded (``fy`` in 0-128)."""
    return np.uint8(_lerp_wide(r0, r1, fy))


WIDEN_FACTORS = (2, 4, 8)
"""Whole factors by which :func:`_nb_widen_rows` scales alpha rows (480 -> 1920 for a 1080p frame's guide)."""


@_jit
def _nb_widen_rows(src, f, out):  # type: ignore[no-untyped-def]
    """``src`` (``h x sw`` uint8) scaled along x by ``f`` (2, 4 or 8) into ``out`` (``h x f sw``).

    Exactly ``cv2.resize(src, (f sw, h), interpolation=INTER_LINEAR)``: output pixel ``f j + k``
    samples ``src`` at ``j + (k + 1/2) / f - 1/2``, between pixel ``j`` and its left neighbour for the
    first half of the phases and its right one for the second (the edge pixel repeated), and for
    these factors the weights are whole sixteenths, which OpenCV's 11-bit weights hold exactly and
    round the same way.  OpenCV runs its generic two-pass resize on one channel: 0.25 ms at
    270 x 480 -> 1920, this 0.045.
    """
    h, sw = src.shape
    for y in range(h):
        r = src[y]
        o = out[y]
        for j in range(sw):
            q = np.int32(r[j])
            p = np.int32(r[j - 1]) if j > 0 else q
            n = np.int32(r[j + 1]) if j + 1 < sw else q
            if f == 4:
                o[4 * j] = np.uint8((3 * p + 5 * q + 4) >> 3)
                o[4 * j + 1] = np.uint8((p + 7 * q + 4) >> 3)
                o[4 * j + 2] = np.uint8((7 * q + n + 4) >> 3)
                o[4 * j + 3] = np.uint8((5 * q + 3 * n + 4) >> 3)
            elif f == 2:
                o[2 * j] = np.uint8((p + 3 * q + 2) >> 2)
                o[2 * j + 1] = np.uint8((3 * q + n + 2) >> 2)
            else:
                for k in range(4):
                    wq = 9 + 2 * k  # the nearer pixel's sixteenths: 9, 11, 13, 15
                    o[8 * j + k] = np.uint8((wq * q + (16 - wq) * p + 8) >> 4)
                    o[8 * j + 7 - k] = np.uint8((wq * q + (16 - wq) * n + 8) >> 4)


# The lowres blends go through each row in runs of BLEND_RUN pixels: a run that is all
# person is the frame's, one that is all background the background's (interpolated between
# two rows of bgx); only a run with an edge in it is mixed.  The run loops index with unsigned
# integers: a signed index that numba cannot prove positive gets a negative-index check,
# which keeps LLVM from vectorising the loop.  (Written out in each kernel: as inlined
# helpers the runs compiled to slower code, and one kernel for 3 and 1 samples per pixel,
# the count read from the array, ran 3-5 times slower than these two.)


@_jit
def _nb_blend_lowres_ax(img, ax, ay0s, ays, bgx, y0s, fys, out, a3):  # type: ignore[no-untyped-def]
    h, w = out.shape[0], out.shape[1]
    for y in range(h):
        fa = np.int32(ays[y])  # the alpha row is interpolated between two rows of ax (alpha upsampled along x)
        p0 = ax[ay0s[y]]
        p1 = ax[ay0s[y] + 1]
        fr = img[y].ravel()
        r0 = bgx[y0s[y]].ravel()
        r1 = bgx[y0s[y] + 1].ravel()
        o = out[y].ravel()
        fy = np.int32(fys[y])
        for x0 in range(0, w, BLEND_RUN):
            m = min(w - x0, BLEND_RUN)
            ux = np.uint64(x0)
            lo = np.uint8(255)
            hi = np.uint8(0)
            for k in range(m):  # the interpolated alphas lie between the two rows'
                j = ux + np.uint64(k)
                a = min(p0[j], p1[j])
                c = max(p0[j], p1[j])
                lo = a if a < lo else lo
                hi = c if c > hi else hi
            b = np.uint64(3 * x0)
            if lo == 255:
                for k in range(3 * m):
                    i = b + np.uint64(k)
                    o[i] = fr[i]
            elif hi == 0:
                for k in range(3 * m):
                    i = b + np.uint64(k)
                    o[i] = _lerp_rows(r0[i], r1[i], fy)
            else:  # only a run with an edge needs its alpha row
                for k in range(m):
                    j = ux + np.uint64(k)
                    a = _lerp_rows(p0[j], p1[j], fa)
                    a3[3 * k] = a
                    a3[3 * k + 1] = a
                    a3[3 * k + 2] = a
                for k in range(3 * m):
                    i = b + np.uint64(k)
                    o[i] = _mix(fr[i], _lerp_rows(r0[i], r1[i], fy), a3[k])


@_jit
def _nb_blend_lowres_plane(img, ax, ay0s, ays, bgx, y0s, fys, out, bits):  # type: ignore[no-untyped-def]
    """One 4:2:0 plane: :func:`_nb_blend_lowres_ax` with one sample per pixel, ``bgx`` with ``bits`` of fraction."""
    h, w = out.shape[0], out.shape[1]
    half = (np.int32(1) << bits) >> np.int32(1)
    for y in range(h):
        fa = np.int32(ays[y])
        p0 = ax[ay0s[y]]
        p1 = ax[ay0s[y] + 1]
        fr = img[y]
        r0 = bgx[y0s[y]]
        r1 = bgx[y0s[y] + 1]
        o = out[y]
        fy = np.int32(fys[y])
        for x0 in range(0, w, BLEND_RUN):
            m = min(w - x0, BLEND_RUN)
            ux = np.uint64(x0)
            lo = np.uint8(255)
            hi = np.uint8(0)
            for k in range(m):
                j = ux + np.uint64(k)
                a = min(p0[j], p1[j])
                c = max(p0[j], p1[j])
                lo = a if a < lo else lo
                hi = c if c > hi else hi
            if lo == 255:
                for k in range(m):
                    j = ux + np.uint64(k)
                    o[j] = fr[j]
            elif hi == 0:
                for k in range(m):
                    j = ux + np.uint64(k)
                    o[j] = np.uint8((_lerp_wide(r0[j], r1[j], fy) + half) >> bits)
            else:
                for k in range(m):
                    j = ux + np.uint64(k)
                    o[j] = _mix_fine(fr[j], _lerp_wide(r0[j], r1[j], fy), _lerp_rows(p0[j], p1[j], fa), bits)


@_jit
def _nb_blend_rows(img, alpha, bg, out, a3):  # type: ignore[no-untyped-def]
    h, w = alpha.shape
    n = img.shape[1]  # w samples (a plane) or 3 w (BGR)
    one_row = bg.shape[0] == 1  # one background row for every row (a plain colour)
    for y in range(h):
        fr = img[y]
        br = bg[0 if one_row else y]
        o = out[y]
        if n == w:
            ar = alpha[y]
        else:
            _spread3(alpha[y], a3)
            ar = a3
        for i in range(n):
            o[i] = _mix(fr[i], br[i], ar[i])


# --------------------------------------------------------------------------- numpy / OpenCV
# Without numba: the same computation with whole-array OpenCV and numpy operations.
# They allocate temporaries and round a little differently (results within a level
# or two of the numba kernels).


def _np_masked_downsample(img: np.ndarray, alpha: np.ndarray, f: int, hdr: bool, acc: np.ndarray) -> None:
    h, w = alpha.shape
    sh, sw = acc.shape[:2]
    if not hdr:  # the kernel's groups of four rows in each block share their largest alpha
        y = np.arange(h)
        in_block = y % f
        grouped = in_block < (np.minimum(h, y - in_block + f) - (y - in_block)) // 4 * 4
        lead = np.where(grouped, y - in_block % 4, y)
        last = np.where(grouped, lead + 3, lead)
        alpha = alpha[np.minimum(lead[:, None] + np.arange(4), last[:, None])].max(axis=1)
    b = np.maximum(255 - alpha.astype(np.int16) * EDGE_CUT, 0).astype(np.float32) * np.float32(1.0 / 255.0)
    wt = cv2.multiply(b, b)
    if hdr:
        v = img.astype(np.float32) * np.float32(1.0 / 255.0)
        lin = cv2.multiply(v, v)
        lum = cv2.transform(lin, np.asarray([[LUMA_B, LUMA_G, LUMA_R]], np.float32))
        t = np.clip((lum - HDR_KNEE) * np.float32(1.0 / (1.0 - HDR_KNEE)), 0.0, 1.0)
        weighted = cv2.multiply(lin, cv2.merge([wt * (1.0 + HDR_GAIN * t * t)] * 3))
    else:
        weighted = cv2.multiply(img.astype(np.float32), cv2.merge([wt] * 3))
    pad = (0, sh * f - h, 0, sw * f - w)
    num = cv2.resize(
        cv2.copyMakeBorder(weighted, *pad, cv2.BORDER_CONSTANT, value=0), (sw, sh), interpolation=cv2.INTER_AREA
    )
    den = cv2.resize(cv2.copyMakeBorder(wt, *pad, cv2.BORDER_CONSTANT, value=0), (sw, sh), interpolation=cv2.INTER_AREA)
    acc[:, :, :3] = num.reshape(sh, sw, 3)
    acc[:, :, 3] = den.reshape(sh, sw)


def _np_normalize(acc0, acc1, t, hdr, fill, eps, out, scale) -> None:  # type: ignore[no-untyped-def]
    v = (acc0[:, :, :3] + eps * fill) / (acc0[:, :, 3:] + eps)
    if acc1.shape[0] == out.shape[0]:
        v1 = (acc1[:, :, :3] + eps * fill) / (acc1[:, :, 3:] + eps)
        v = v + (v1 - v) * t[:, :, None]
    if hdr:
        v = 255.0 * np.sqrt(np.clip(v, 0.0, 1.0))
    else:
        v = np.clip(v, 0.0, 255.0)
    np.copyto(out, v * scale + 0.5, casting="unsafe")


def _np_conv_runs(prefix, dys, x0s, x1s, ws, r, out) -> None:  # type: ignore[no-untyped-def]
    sh, sw, ch = out.shape
    n = sw * ch
    total = np.zeros((sh, n), np.float32)
    for dy, x0, x1, wk in zip(dys, x0s, x1s, ws, strict=True):
        rows = prefix[dy + r : dy + r + sh]
        off1 = (x1 + r + 1) * ch
        off0 = (x0 + r) * ch
        total += wk * (rows[:, off1 : off1 + n] - rows[:, off0 : off0 + n])
    out[:] = total.reshape(sh, sw, ch)


def _np_blend(
    img: np.ndarray, alpha: np.ndarray, bg: np.ndarray, out: np.ndarray, scratch: dict[str, np.ndarray]
) -> None:
    if bg.shape[0] != img.shape[0]:  # one row for all rows
        bg = np.broadcast_to(bg, img.shape).copy()
    if img.ndim == 3 and out.flags.c_contiguous:
        _np_blend_band(img, alpha, bg, out)
        return
    front = alpha.astype(np.float32) * np.float32(1.0 / 255.0)  # a plane: its rows may be strided views
    out[...] = cv2.blendLinear(np.ascontiguousarray(img), np.ascontiguousarray(bg), front, 1.0 - front)


DENSE_BAND = 0.04
"""A soft band covering more than this fraction of the picture is blended in one whole-frame pass
(``cv2.blendLinear``) instead of pixel by pixel: gathering and scattering a band pixel costs about
20 times a pixel of the whole pass (12 MP photos: the guided upsampling's band is 10-20 %)."""

DENSE_ROWS = 128
"""Rows per strip of that pass (its float weights stay a few MB, reused from strip to strip)."""


def _same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` are the same pixels in memory (the same array, or two views of one region)."""
    return a is b or (
        a.shape == b.shape
        and a.strides == b.strides
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def _np_blend_band(
    img: np.ndarray, alpha: np.ndarray, bg: np.ndarray, out: np.ndarray, *, dense: bool | None = None
) -> None:
    """BGR: the background where alpha is 0, the frame where it is 255, :func:`_mix` in between.

    Whole-array copies under a mask, and the mix only on the soft band's pixels (a few % of a
    photo): no float copies of the frame; a wider band (:data:`DENSE_BAND`) in one
    whole-frame pass.  ``dense`` makes that choice for the caller (who blends a region of a
    larger picture as the whole would be).  ``out`` may be ``img``; each may be a region of
    a larger picture.
    """
    soft = cv2.inRange(alpha, 1, 254)
    if dense is None:
        dense = cv2.countNonZero(soft) > DENSE_BAND * soft.size  # gathering that many pixels costs more than a pass
    if dense:
        inv = np.float32(1.0 / 255.0)
        for y in range(0, alpha.shape[0], DENSE_ROWS):  # in strips: no picture-sized temporaries
            rows = slice(y, y + DENSE_ROWS)
            front = alpha[rows].astype(np.float32)
            front *= inv
            cv2.blendLinear(img[rows], bg[rows], front, 1.0 - front, dst=out[rows])  # within 1 level of _mix
        return
    points = cv2.findNonZero(soft)  # (x, y) of the soft band, or None
    points = np.zeros((0, 2), np.int32) if points is None else points.reshape(-1, 2)
    xs, ys = points[:, 0], points[:, 1]
    front, back = img[ys, xs].astype(np.int32), bg[ys, xs].astype(np.int32)  # read before out is written
    a = alpha[ys, xs].astype(np.int32)[:, None]
    if _same_pixels(out, img):
        cv2.copyTo(bg, (alpha == 0).view(np.uint8), out)
    else:
        if out is not bg:
            np.copyto(out, bg)
        cv2.copyTo(img, (alpha == 255).view(np.uint8), out)
    weight = a + (a >> 7)
    out[ys, xs] = ((back << 8) + (front - back) * weight + 128) >> 8


# --------------------------------------------------------------------------- dispatch


def masked_downsample(
    img: np.ndarray, alpha: np.ndarray, f: int, hdr: bool, acc: np.ndarray, scratch: dict[str, np.ndarray]
) -> None:
    """Sum ``f x f`` blocks of background-weighted colour into ``acc`` (``sh x sw x 4`` float32).

    Channels 0-2 hold the block mean of ``w * colour`` and channel 3 the mean weight,
    where ``w = max(0, 1 - EDGE_CUT * alpha)**2`` - so neither the person nor the soft
    edge of the matte (whose colour is partly the person's) contributes.  ``hdr`` turns
    colour into linear light (gamma 2) with highlights boosted, for the lens blur;
    otherwise colour stays in display values 0-255.
    """
    if _numba():
        w = alpha.shape[1]
        if hdr:
            _nb_downsample_hdr(
                img, alpha, f, acc, _scratch(scratch, "hnum", w * 3, np.float32),
                _scratch(scratch, "hden", w, np.float32), _scratch(scratch, "hw3", w * 3, np.float32),
            )  # fmt: skip
        else:
            _nb_downsample_u8(
                img, alpha, f, acc, _scratch(scratch, "num", w * 3, np.uint16),
                _scratch(scratch, "den", w, np.uint16), _scratch(scratch, "w3", w * 3, np.uint8),
            )  # fmt: skip
    else:
        _np_masked_downsample(img, alpha, f, hdr, acc)


def normalize(
    acc0: np.ndarray,
    acc1: np.ndarray | None,
    t: np.ndarray | None,
    hdr: bool,
    fill: np.ndarray,
    eps: float,
    out: np.ndarray,
) -> None:
    """Background colour = blurred weighted colour / blurred weight, into ``out`` (``sh x sw x 3``).

    ``fill`` (the frame's mean background colour) is mixed in with weight ``eps`` so
    that blocks far inside the person get a neutral colour instead of 0/0.  With
    ``acc1`` and ``t`` the result is ``lerp(acc0, acc1, t)`` per pixel (depth falloff).
    ``hdr`` maps linear light back to display values, clipping at white.  A ``uint8``
    ``out`` gets the display values rounded; a ``uint16`` one gets them with
    :data:`FINE_BITS` bits of fraction (see there).
    """
    if acc1 is None or t is None:
        acc1 = _EMPTY4
        t = _EMPTY2
    scale = np.float32(1 << fraction_bits(out))
    if _numba():
        row = np.empty(out.shape[1] * 3, np.float32)
        _nb_normalize(acc0, acc1, t, hdr, fill, np.float32(eps), out, row, scale)
    else:
        _np_normalize(acc0, acc1, t, hdr, fill, np.float32(eps), out, scale)


def prefix_rows(acc: np.ndarray, r: int, prefix: np.ndarray) -> None:
    """Row running sums of ``acc`` (``sh x sw x ch``) zero-padded by ``r`` on every side, into ``prefix``.

    ``prefix`` is ``(sh + 2r) x ((sw + 2r + 1) * ch)``; its first ``ch`` columns and its
    top and bottom ``r`` rows must be zero (they are never written).
    """
    if _numba():
        _nb_prefix_rows(acc, r, prefix)
    else:
        sh, sw, ch = acc.shape
        padded = np.zeros((sh, sw + 2 * r, ch), np.float32)
        padded[:, r : r + sw] = acc
        prefix[r : r + sh, ch:] = np.cumsum(padded, axis=1).reshape(sh, -1)


def conv_runs(
    prefix: np.ndarray, runs: tuple[np.ndarray, ...], r: int, out: np.ndarray, scratch: dict[str, np.ndarray]
) -> None:
    """Convolve with a kernel given as horizontal runs of equal weight, using row prefix sums.

    ``prefix`` is ``(sh + 2r) x ((sw + 2r + 1) * ch)`` float32: the zero-padded image's
    running sums along each row.  ``runs`` = ``(dy, x0, x1, weight)`` arrays.
    """
    dys, x0s, x1s, ws = runs
    if _numba():
        _nb_conv_runs(prefix, dys, x0s, x1s, ws, r, out, _scratch(scratch, "conv_row", out.shape[1] * out.shape[2]))
    else:
        _np_conv_runs(prefix, dys, x0s, x1s, ws, r, out)


def blend_lowres(
    img: np.ndarray,
    alpha: np.ndarray,
    bgx: np.ndarray,
    y0s: np.ndarray,
    fys: np.ndarray,
    out: np.ndarray,
    scratch: dict[str, np.ndarray],
    step: int | None = None,
) -> None:
    """``out = bg + a * (img - bg)`` (BGR or one plane) where ``bg`` rows are interpolated between rows of ``bgx``.

    ``bgx`` (``(sh + 1) x W' x 3`` uint8, ``W' >= W``; ``(sh + 1) x W'`` for a plane, uint8 or, with
    :data:`FINE_BITS` of fraction, uint16) is the low-resolution background already upsampled along x;
    row ``y`` of the full-resolution background is
    ``bgx[y0s[y]] + fys[y] / 128 * (bgx[y0s[y] + 1] - bgx[y0s[y]])`` (``fys`` in 0-128).
    ``alpha`` is at the frame's size or smaller: then it is upsampled the same way in
    this pass - along x by ``cv2.resize`` on its own rows, along y per row here - so no
    full-resolution alpha is ever made (within one level of ``cv2.resize`` to full size).
    ``scratch`` holds the alpha's rows: one ``scratch`` per frame or plane size.
    ``step``, when given, says the rows are ``bgx``'s scaled by it, pixel centres aligned (as
    :class:`~.lowres.LowresBackground` makes them): the numpy path then scales them with
    ``cv2.resize`` instead of remapping every pixel.
    """
    h, w = img.shape[:2]
    bits = fraction_bits(bgx)
    if bits and img.ndim != 2:
        raise ValueError("a background with a fraction (uint16) is blended on 4:2:0 planes only")
    if _numba():
        ax, ay0s, ays = _rows_of(alpha, (w, h), scratch)
        if img.ndim == 2:
            _nb_blend_lowres_plane(img, ax, ay0s, ays, bgx, y0s, fys, out, np.int32(bits))
        else:
            a3 = _scratch(scratch, "run_a3", BLEND_RUN * 3, np.uint8)
            _nb_blend_lowres_ax(img, ax, ay0s, ays, bgx, y0s, fys, out, a3)
        return
    if img.ndim == 2:  # a plane: its alpha and background made full size (the kernels' row formula), then blended
        ax, ay0s, ays = _rows_of(alpha, (w, h), scratch)
        full_alpha = _lerp_rows(ax[ay0s], ax[ay0s + 1], ays[:, None])
        bg = _lerp_wide(bgx[y0s, :w], bgx[y0s + 1, :w], fys[:, None])
        out[...] = _mix_fine(img, bg, full_alpha, np.int32(bits))  # the kernels' pixel formula, on whole arrays
        return
    if alpha.shape != (h, w):
        alpha = upsample_alpha(alpha, (w, h), scratch)
    if step is not None and (bgx.shape[0] - 1) * step >= h:
        _np_blend_scaled_strips(img, alpha, bgx, step, out, scratch)
    else:
        if scratch.get("map_rows") is not y0s or scratch["map_y"].shape != alpha.shape:
            scratch["map_x"] = np.broadcast_to(np.arange(w, dtype=np.float32), (h, w)).copy()
            rows = y0s.astype(np.float32) + fys.astype(np.float32) / 128.0
            scratch["map_y"] = np.broadcast_to(rows[:, None], (h, w)).copy()
            scratch["map_rows"] = y0s
        bg = cv2.remap(bgx, scratch["map_x"], scratch["map_y"], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        _np_blend(img, alpha, bg, out, scratch)


JOIN_COLUMNS = 64
"""Column runs closer than this are handled as one (a call per run costs about as much as this many
columns of a strip)."""


def _column_runs(columns: np.ndarray, join: int = JOIN_COLUMNS) -> list[tuple[int, int]]:
    """``(start, end)`` of the runs of ``True`` in ``columns``, runs less than ``join`` apart joined."""
    edges = np.flatnonzero(np.diff(columns.view(np.int8), prepend=0, append=0))
    runs: list[tuple[int, int]] = []
    for x0, x1 in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if runs and x0 - runs[-1][1] < join:
            runs[-1] = (runs[-1][0], x1)
        else:
            runs.append((x0, x1))
    return runs


def _np_blend_scaled_strips(
    img: np.ndarray, alpha: np.ndarray, bgx: np.ndarray, step: int, out: np.ndarray, scratch: dict[str, np.ndarray]
) -> None:
    """:func:`blend_lowres` on the numpy path when ``bgx``'s rows scale by ``step``: strip by strip.

    Each strip of rows gets its background from ``cv2.resize`` of the ``bgx`` rows it lies
    between plus one on either side.  Pixel centres aligned, output row ``y`` samples ``bgx``
    at ``(y + 0.5) / step - 0.5`` whichever row a block starts at, so every strip is what
    the whole picture's resize would give there (the outer rows clamp as the whole one does),
    and no picture-sized background is made: at 12 MP that buffer's fresh pages cost about as
    much as the blend.  ``bgx`` is already at full width, so a run of columns scales on its
    own to the same values: within a strip, only the columns that show any background get
    one, and only those that are partly the person are blended; the rest are copied (the
    person's own columns are left alone in place).  Each strip blends as
    :func:`_np_blend_band` would blend it whole.  ``out`` may be ``img``.
    """
    h, w = img.shape[:2]
    sh = bgx.shape[0] - 1
    rows = max(1, DENSE_ROWS // step) * step  # a whole number of bgx rows per strip
    in_place = _same_pixels(out, img)
    flat = _buffer(scratch, "bg_strip", ((rows + 2 * step) * w * 3,))
    for y in range(0, h, rows):
        n = min(rows, h - y)
        lo, hi = max(0, y // step - 1), min(sh, -(-(y + n) // step) + 1)
        top = y - lo * step
        a = alpha[y : y + n]
        person = a.min(axis=0) == 255  # columns that are the person all the way (numpy: ~8x cv2.reduce here)
        touched = a.max(axis=0) > 0  # columns with some person in them
        soft = cv2.inRange(a, 1, 254)
        dense = cv2.countNonZero(soft) > DENSE_BAND * soft.size  # decided for the whole strip, as _np_blend_band
        done = 0
        for x0, x1 in _column_runs(~person):
            if not in_place and x0 > done:
                out[y : y + n, done:x0] = img[y : y + n, done:x0]
            done = x1
            bg = flat[: (hi - lo) * step * (x1 - x0) * 3].reshape((hi - lo) * step, x1 - x0, 3)
            cv2.resize(bgx[lo:hi, x0:x1], (x1 - x0, (hi - lo) * step), dst=bg, interpolation=cv2.INTER_LINEAR)
            bg = bg[top : top + n]
            copied = 0
            for u0, u1 in _column_runs(touched[x0:x1]):
                if u0 > copied:
                    out[y : y + n, x0 + copied : x0 + u0] = bg[:, copied:u0]
                copied = u1
                cols = slice(x0 + u0, x0 + u1)
                _np_blend_band(img[y : y + n, cols], a[:, cols], bg[:, u0:u1], out[y : y + n, cols], dense=dense)
            if copied < x1 - x0:
                out[y : y + n, x0 + copied : x1] = bg[:, copied:]
        if not in_place and done < w:
            out[y : y + n, done:] = img[y : y + n, done:]


def blend(img: np.ndarray, alpha: np.ndarray, bg: np.ndarray, out: np.ndarray, scratch: dict[str, np.ndarray]) -> None:
    """``out = bg + a * (img - bg)`` with a full-resolution ``uint8`` background.

    ``img``, ``bg`` and ``out`` are BGR (``H x W x 3``, C-contiguous) or one image plane
    (``H x W``; rows may be strided views); ``bg`` may be a single row used for every
    row.  ``alpha`` is ``H x W`` ``uint8``.
    """
    if _numba():
        h, w = alpha.shape
        c = 1 if img.ndim == 2 else img.shape[2]
        a3 = _scratch(scratch, "a3", w * 3, np.uint8) if c == 3 else _EMPTY_U8  # alpha spread over B, G, R
        _nb_blend_rows(img.reshape(h, w * c), alpha, bg.reshape(bg.shape[0], w * c), out.reshape(h, w * c), a3)
    else:
        _np_blend(img, alpha, bg, out, scratch)


def blend_color(
    img: np.ndarray, alpha: np.ndarray, color: tuple[int, ...], out: np.ndarray, scratch: dict[str, np.ndarray]
) -> None:
    """``out = c + a * (img - c)`` for one background colour ``c``: ``(B, G, R)`` for BGR, ``(v,)`` for a plane."""
    w = alpha.shape[1]
    c = len(color)
    key = f"color_row{c}"
    row = scratch.get(key)
    if row is None or row.shape[0] != w * c or tuple(int(v) for v in row[:c]) != tuple(color):
        row = np.tile(np.asarray(color, np.uint8), w)
        scratch[key] = row
    blend(img, alpha, row.reshape((1, w, c) if img.ndim == 3 else (1, w)), out, scratch)


def upsample_alpha(alpha: np.ndarray, size: tuple[int, int], scratch: dict[str, np.ndarray]) -> np.ndarray:
    """``alpha`` bilinearly at ``size`` = ``(width, height)`` (``cv2.resize``), in a reused buffer."""
    w, h = size
    buf = scratch.get("alpha_full")
    if buf is None or buf.shape != (h, w):
        buf = np.empty((h, w), np.uint8)
        scratch["alpha_full"] = buf
    cv2.resize(alpha, (w, h), dst=buf, interpolation=cv2.INTER_LINEAR)
    return buf


def _alpha_rows(
    alpha: np.ndarray, size: tuple[int, int], scratch: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small ``alpha`` upsampled along x to ``size``'s width, one row more, and the rows' y map.

    Row ``y`` of the alpha at ``size`` = ``(width, height)`` is
    ``ax[ay0s[y]] + ays[y] / 128 * (ax[ay0s[y] + 1] - ax[ay0s[y]])`` (pixel centres aligned,
    as ``cv2.resize`` lays them).
    """
    w, h = size
    sh = alpha.shape[0]
    ax = scratch.get("ax")
    if ax is None or ax.shape != (sh + 1, w):
        ax = np.empty((sh + 1, w), np.uint8)
        scratch["ax"] = ax
    if scratch.get("ax_map_key") is None or scratch["ax_map_key"].tolist() != [sh, h]:
        u = np.clip((np.arange(h, dtype=np.float64) + 0.5) * sh / h - 0.5, 0.0, sh - 1)
        y0s = np.minimum(np.floor(u).astype(np.int64), sh - 1)
        scratch["ay0s"] = y0s
        scratch["ays"] = np.round((u - y0s) * 128).astype(np.int32)
        scratch["ax_map_key"] = np.array([sh, h])
    factor = w // alpha.shape[1]
    if _numba() and factor in WIDEN_FACTORS and factor * alpha.shape[1] == w:
        _nb_widen_rows(alpha, factor, ax[:sh])  # cv2.resize's result, byte for byte, at a fifth of its cost
    else:
        cv2.resize(alpha, (w, sh), dst=ax[:sh], interpolation=cv2.INTER_LINEAR)
    ax[sh] = ax[sh - 1]
    return ax, scratch["ay0s"], scratch["ays"]


def _rows_of(
    alpha: np.ndarray, size: tuple[int, int], scratch: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``alpha``'s rows and row map at ``size`` = ``(width, height)``: :func:`_alpha_rows` or :func:`_own_rows`."""
    w, h = size
    return _alpha_rows(alpha, size, scratch) if alpha.shape != (h, w) else _own_rows(alpha, scratch)


def _own_rows(alpha: np.ndarray, scratch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A full-size ``alpha`` as :func:`_alpha_rows` gives a small one: row ``y`` is row ``y`` itself.

    (The last row is row ``h - 2`` moved all the way to ``h - 1``; a one-row alpha is its own neighbour.)
    """
    h = alpha.shape[0]
    if scratch.get("own_rows_key") is None or scratch["own_rows_key"].tolist() != [h]:
        last = max(0, h - 2)
        scratch["own_y0s"] = np.minimum(np.arange(h, dtype=np.int64), last)
        scratch["own_ys"] = np.where(np.arange(h) > last, 128, 0).astype(np.int32)
        scratch["own_rows_key"] = np.array([h])
    ax = alpha if h >= 2 else np.repeat(alpha, 2, axis=0)
    return ax, scratch["own_y0s"], scratch["own_ys"]


def _buffer(scratch: dict[str, np.ndarray], name: str, shape: tuple[int, ...], dtype: type = np.uint8) -> np.ndarray:
    """A reused buffer of ``shape`` and ``dtype`` (its contents are whatever was left in it)."""
    buf = scratch.get(name)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype)
        scratch[name] = buf
    return buf


def _scratch(scratch: dict[str, np.ndarray], name: str, size: int, dtype: type = np.float32) -> np.ndarray:
    buf = scratch.get(name)
    if buf is None or buf.shape[0] != size or buf.dtype != dtype:
        buf = np.zeros(size, dtype)
        scratch[name] = buf
    return buf


_EMPTY4 = np.zeros((0, 0, 4), np.float32)
_EMPTY2 = np.zeros((0, 0), np.float32)
_EMPTY_U8 = np.zeros(0, np.uint8)


_warm_lock = threading.Lock()
_warmed: set[str] = set()
KERNEL_GROUPS = ("blur", "bokeh", "replace", "color", "planar")
"""Kernel groups by user: the four effects on BGR, and ``planar`` (the blend on 4:2:0 planes)."""


def _run_group(group: str) -> None:
    img = np.zeros((4, 4, 3), np.uint8)
    alpha = np.zeros((4, 4), np.uint8)
    acc = np.zeros((2, 2, 4), np.float32)
    out = np.zeros_like(img)
    scratch: dict[str, np.ndarray] = {}
    fill = np.zeros(3, np.float32)
    bg = np.zeros((2, 2, 3), np.uint8)
    if group in ("blur", "bokeh"):
        hdr = group == "bokeh"
        masked_downsample(img, alpha, 2, hdr, acc, scratch)
        normalize(acc, None, None, hdr, fill, 1e-3, bg)
        normalize(acc, acc, np.zeros((2, 2), np.float32), hdr, fill, 1e-3, bg)
        bgx = np.zeros((3, 4, 3), np.uint8)
        blend_lowres(img, alpha, bgx, np.zeros(4, np.int64), np.zeros(4, np.int32), out, scratch)
        blend_lowres(img, alpha[:2, :2], bgx, np.zeros(4, np.int64), np.zeros(4, np.int32), out, scratch)
    if group == "bokeh":
        r = 1  # a 3 x 3 aperture as (dy, x0, x1, weight) runs, read-only like bokeh.aperture_runs's
        i64 = np.int64
        runs = (np.arange(-1, 2, dtype=i64), np.full(3, -1, i64), np.full(3, 1, i64), np.ones(3, np.float32))
        for a in runs:
            a.setflags(write=False)
        prefix = np.zeros((2 + 2 * r, (2 + 2 * r + 1) * 4), np.float32)
        prefix_rows(acc, r, prefix)
        conv_runs(prefix, runs, r, acc, scratch)
    if group == "planar":  # the 4:2:0 compositor (effects.planar): its background planes are
        plane = np.zeros((4, 4), np.uint8)  # whole arrays, cropped views or one row
        blend(plane, alpha, plane, plane, scratch)
        blend(plane, alpha, np.zeros((5, 5), np.uint8)[:4, :4], plane, scratch)
        bgx = np.zeros((3, 4), np.uint8)
        rows = np.zeros(4, np.int64), np.zeros(4, np.int32)
        blend_lowres(plane, alpha, bgx, *rows, plane, {})
        blend_lowres(plane, alpha[:2], bgx, *rows, plane, {})
    if group in ("replace", "color"):  # a whole background, or one row of it for every row
        blend(img, alpha, img, out, scratch)


def warm_up(groups: tuple[str, ...] = KERNEL_GROUPS) -> float:
    """Compile (or load from numba's cache) the kernels of ``groups`` on tiny inputs; returns seconds.

    Numba would do this on first use anyway; doing it early - e.g. in a thread while
    the model loads - keeps the compile off the first frame.
    """
    if not _use_numba:
        return 0.0
    start = time.perf_counter()
    _prepare(groups)
    return time.perf_counter() - start


def _prepare(groups: tuple[str, ...]) -> float:
    """Run the groups not prepared yet, one thread at a time; returns the seconds of that work, not of
    the wait for another thread preparing them."""
    with _warm_lock:
        start = time.perf_counter()
        for group in groups:
            if group not in _warmed:
                _run_group(group)
                _warmed.add(group)
        return time.perf_counter() - start


_warming: dict[str, threading.Thread] = {}
_warming_lock = threading.Lock()


def warm_up_in_background(group: str) -> threading.Thread | None:
    """Start :func:`warm_up` of one group in a daemon thread unless it is done; returns the thread.

    A group already being prepared in the background is not started twice: its thread is returned.
    """
    if not _use_numba or group in _warmed:
        return None

    def run() -> None:
        seconds = _prepare((group,))  # ~0 if warm_up() on another thread did it meanwhile
        if seconds > 0.05:
            log.info("prepared the %s kernels in %.2f s (numba; cached for next time)", group, seconds)

    with _warming_lock:
        running = _warming.get(group)
        if running is not None and running.is_alive():
            return running
        thread = threading.Thread(target=run, name=f"livebokeh-jit-{group}", daemon=True)
        _warming[group] = thread
        thread.start()
    return thread

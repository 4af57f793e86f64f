"""The blurred backgrounds composited straight onto 4:2:0 frames: ``convert``'s fast path.

A decoded video frame is I420 - full-resolution luma, half-resolution chroma - and the
encoder wants I420 back.  Converting to BGR, compositing and converting back costs about
as much as the compositing itself, so for ``blur`` and ``bokeh`` (whose background is
made at reduced resolution anyway) ``convert`` works on the planes:

* the person matte and the blurred background are computed from a half-resolution BGR
  copy (:func:`i420_half_bgr`: the luma averaged 2 x 2, the chroma as it is), which the
  effect renders exactly as the BGR path renders a full frame - its size is relative to
  the frame height, so the look is the same;
* the small background is turned into Y, U and V with BT.601 limited-range weights (the
  same as OpenCV's ``COLOR_BGR2YUV_I420``, which the BGR path's encoder frames use), each
  scaled to its plane, and blended per plane: luma with the full-resolution alpha, chroma
  with the alpha averaged 2 x 2.

Where alpha is 255 the output sample is the input sample, bit for bit, as in the BGR path.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..config import EffectOptions
from ..effect_kinds import Blur, Bokeh
from . import _kernels
from .compositor import lowres_background

__all__ = ["PlanarCompositor", "i420_half_bgr", "i420_planes"]

# BGR -> (Y, Cb, Cr), BT.601 limited range, with offsets: what OpenCV's BGR2YUV_I420 computes.
_BGR_TO_YCBCR = np.array(
    [
        [0.098, 0.504, 0.257, 16.0],
        [0.439, -0.291, -0.148, 128.0],
        [-0.071, -0.368, 0.439, 128.0],
    ],
    np.float32,
)


def i420_planes(i420: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of a packed I420 array (``3H/2 x W``, as ``cv2`` and PyAV lay it out)."""
    flat = i420.reshape(-1)
    n, q = width * height, (width // 2) * (height // 2)
    y = flat[:n].reshape(height, width)
    u = flat[n : n + q].reshape(height // 2, width // 2)
    v = flat[n + q : n + 2 * q].reshape(height // 2, width // 2)
    return y, u, v


def i420_half_bgr(i420: np.ndarray, width: int, height: int) -> np.ndarray:
    """Half-resolution BGR copy of an I420 frame (width and height divisible by 4).

    The luma is averaged 2 x 2 to the chroma's resolution; the conversion itself is
    OpenCV's I420 one, on a half-size I420 whose chroma is averaged once more.
    """
    y, u, v = i420_planes(i420, width, height)
    hw, hh = width // 2, height // 2
    small = np.empty((hh * 3 // 2, hw), np.uint8)
    sy, su, sv = i420_planes(small, hw, hh)
    cv2.resize(y, (hw, hh), dst=sy, interpolation=cv2.INTER_AREA)
    cv2.resize(u, (hw // 2, hh // 2), dst=su, interpolation=cv2.INTER_AREA)
    cv2.resize(v, (hw // 2, hh // 2), dst=sv, interpolation=cv2.INTER_AREA)
    bgr: np.ndarray = cv2.cvtColor(small, cv2.COLOR_YUV2BGR_I420)
    return bgr


class PlanarCompositor:
    """``blur`` or ``bokeh`` on I420 frames (see the module docstring); one per stream thread."""

    EFFECTS = (Blur, Bokeh)

    @classmethod
    def supports(
        cls,
        options: EffectOptions,
        width: int,
        height: int,
        pix_fmt: str = "yuv420p",
        color: dict[str, int] | None = None,
    ) -> bool:
        """True for the effects this path renders, on 4:2:0 output whose half frame has even sides.

        ``color`` holds the stream's tags (AVColorSpace / AVColorRange numbers).  The planes
        are decoded to BGR and the background encoded back with one matrix (BT.601), so
        the background's colours round-trip whatever the stream's matrix; BT.601,
        unspecified and BT.709 are accepted (the BGR the model sees is then a little off
        in hue for BT.709, which segmentation does not notice).  Full-range video is not:
        the limited-range decode would clip it.
        """
        color = color or {}
        return (
            isinstance(options.effect, cls.EFFECTS)
            and pix_fmt == "yuv420p"
            and width % 4 == 0
            and height % 4 == 0
            and color.get("colorspace", 2) in (1, 2, 5, 6)
            and color.get("color_range", 0) in (0, 1)
        )

    def __init__(self, options: EffectOptions) -> None:
        self._lowres = lowres_background(options)
        _kernels.warm_up_in_background(options.effect.name)
        _kernels.warm_up_in_background("planar")
        self._planes: dict[str, np.ndarray] = {}

    def _plane(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        buf = self._planes.get(name)
        if buf is None or buf.shape != shape:
            buf = np.empty(shape, np.uint8)
            self._planes[name] = buf
        return buf

    def apply(self, i420: np.ndarray, half: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """A new I420 array: ``i420`` (``3H/2 x W``) with its background replaced.

        ``half`` is :func:`i420_half_bgr` of it and ``alpha`` the ``H x W`` ``uint8`` matte;
        the chroma planes and the background use that matte averaged 2 x 2.
        """
        h, w = alpha.shape
        out = np.empty_like(i420)
        if self._lowres.is_identity(h // 2):
            np.copyto(out, i420)
            return out
        alpha_half = cv2.resize(alpha, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        f = self._lowres.factor(h // 2)
        small = self._lowres.small(half, alpha_half)
        sh, sw = small.shape[:2]
        ycc = cv2.split(cv2.transform(small, _BGR_TO_YCBCR))  # uint8, saturated
        src = i420_planes(i420, w, h)
        dst = i420_planes(out, w, h)
        for k in range(3):
            full = k == 0
            scale = 2 * f if full else f
            bg = self._plane(f"bg{k}", (sh * scale, sw * scale))
            cv2.resize(ycc[k], (sw * scale, sh * scale), dst=bg, interpolation=cv2.INTER_LINEAR)
            ph, pw = src[k].shape
            _kernels.blend_plane(src[k], alpha if full else alpha_half, bg[:ph, :pw], dst[k])
        return out

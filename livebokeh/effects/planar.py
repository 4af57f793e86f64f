"""The compositor on 4:2:0 frames: :class:`PlanarCompositor`, the I420 twin of the BGR :class:`~.Compositor`.

A decoded video frame is I420 - full-resolution luma, half-resolution chroma - and the
encoder (and a virtual camera) wants I420 back.  Converting to BGR, compositing and
converting back costs about as much as the compositing itself, so this compositor works on
the planes, with the same API, options and blend kernel as the BGR one:

* ``blur`` and ``bokeh``: the person matte and the blurred background are computed from a
  half-resolution BGR copy (:func:`~livebokeh.yuv.i420_half_bgr`: the luma averaged 2 x 2, the chroma as
  it is), which the effect renders exactly as the BGR path renders a full frame - its size
  is relative to the frame height, so the look is the same; the small background is
  turned into Y, U and V with BT.601 limited-range weights (the same as OpenCV's
  ``COLOR_BGR2YUV_I420``, which the BGR path's encoder frames use), each scaled to its
  plane.  It keeps a fraction of a level (:data:`~._kernels.FINE_BITS`) until the blend
  rounds each sample once, so a blurred pan moves with the picture instead of carrying
  rounding patches on the sample grid that the encoder has to code anew every frame;
* ``replace`` and ``color``: the picture (converted with ``COLOR_BGR2YUV_I420``) or the
  colour's Y, U and V;
* every background is blended per plane: luma with the full-resolution alpha, chroma with
  the alpha averaged 2 x 2.  ``mask`` shows the alpha as grey, ``none`` the frame.

Where alpha is 255 the output sample is the input sample, bit for bit, as in the BGR path.
``convert`` takes this path for ``blur`` and ``bokeh`` where :meth:`PlanarCompositor.supports`
says the stream fits.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ..config import EffectOptions
from ..effect_kinds import Blur, Bokeh, Color, EffectKind, MaskView, Passthrough, Replace
from ..errors import FrameFormatError
from ..yuv import i420_half_bgr, i420_planes
from . import _kernels
from .compositor import BaseCompositor, check_alpha, with_own_kernels
from .lowres import row_map, scale_rows

__all__ = ["PlanarCompositor"]

# BGR -> (Y, Cb, Cr), BT.601 limited range, with offsets: what OpenCV's BGR2YUV_I420 computes,
# for a background with FINE_BITS of fraction (the offsets scaled with it).
_BGR_TO_YCBCR_FINE = np.array(
    [
        [0.098, 0.504, 0.257, 16.0 * (1 << _kernels.FINE_BITS)],
        [0.439, -0.291, -0.148, 128.0 * (1 << _kernels.FINE_BITS)],
        [-0.071, -0.368, 0.439, 128.0 * (1 << _kernels.FINE_BITS)],
    ],
    np.float32,
)


class PlanarCompositor(BaseCompositor):
    """Applies the effect in :class:`~livebokeh.config.EffectOptions` behind the person, on I420 frames."""

    EFFECTS = (Blur, Bokeh)
    """The effects ``convert`` composites on the planes (the others take its BGR path)."""

    def __init__(self, options: EffectOptions | None = None, *, kernels: str | None = None) -> None:
        self._planes: dict[str, np.ndarray] = {}
        self._rows: dict[int, tuple[tuple[int, ...], np.ndarray, np.ndarray]] = {}
        self._scratches: dict[int, dict[str, np.ndarray]] = {}
        super().__init__(options, kernels=kernels)

    @classmethod
    def supports(
        cls,
        options: EffectOptions,
        width: int,
        height: int,
        pix_fmt: str = "yuv420p",
        color: dict[str, int] | None = None,
    ) -> bool:
        """True where ``convert`` takes this path: :attr:`EFFECTS` on 4:2:0 output whose half frame has even sides.

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

    def kernel_groups(self) -> tuple[str, ...]:
        """The plane blend, and the reduced-resolution blur's kernels for ``blur`` and ``bokeh``."""
        lowres = (self.options.effect.name,) if isinstance(self.options.effect, (Blur, Bokeh)) else ()
        return (*lowres, "planar")

    @with_own_kernels
    def apply(
        self,
        image: np.ndarray,
        alpha: np.ndarray,
        out: np.ndarray | None = None,
        *,
        timestamp_ns: int | None = None,
        reduced: Callable[[int], np.ndarray] | None = None,
        half: np.ndarray | None = None,
    ) -> np.ndarray:
        """Composite ``image`` (packed I420 ``uint8``, ``3H/2 x W``) over the background using ``alpha`` (``H x W``).

        Returns ``out`` (I420 like ``image``) when given, else a new array; for ``none``
        without ``out`` the input itself.  ``timestamp_ns`` is as in
        :meth:`Compositor.apply`.  ``half`` is :func:`~livebokeh.yuv.i420_half_bgr` of
        ``image`` when the caller has it already (the matte was computed on it): ``blur``
        and ``bokeh`` need it and otherwise make it; ``reduced`` (used only with ``half``)
        gives that half frame's shared halvings, as :meth:`Compositor.apply` takes the
        frame's.  ``alpha`` may also be smaller than the frame (the matte at its guide's
        resolution): ``blur`` and ``bokeh`` then upsample it in the blend pass of each
        plane, the other effects first.  ``H`` and ``W`` must be even, and divisible by 4
        for ``blur`` and ``bokeh``.
        """
        h, w = image.shape[0] * 2 // 3, image.shape[1]
        if image.dtype != np.uint8 or image.ndim != 2 or image.shape[0] != h * 3 // 2 or h % 2 or w % 2:
            raise FrameFormatError(
                f"expected an I420 frame as a uint8 array of shape (3H/2, W) with even H and W, "
                f"got {image.dtype} {image.shape}"
            )
        effect: EffectKind = self.options.effect
        alpha = check_alpha(alpha, (h, w), smaller=True)
        if alpha.shape != (h, w) and not isinstance(effect, (Blur, Bokeh)):
            alpha = _kernels.upsample_alpha(alpha, (w, h), self._scratch)
        if not image.flags.c_contiguous:
            image = np.ascontiguousarray(image)
        dst = self._output(image, out)
        if dst is None:
            return image
        src_planes, dst_planes = i420_planes(image, w, h), i420_planes(dst, w, h)
        match effect:
            case Blur() | Bokeh():
                levels = reduced if half is not None else None  # the half frame's, when the caller has it
                self._apply_lowres(image, alpha, dst, src_planes, dst_planes, half, levels)
            case Replace():
                bg = cv2.cvtColor(self._background((w, h), timestamp_ns), cv2.COLOR_BGR2YUV_I420)
                alphas = (alpha, _half_alpha(alpha))
                for k, bg_plane in enumerate(i420_planes(bg, w, h)):
                    _kernels.blend(src_planes[k], alphas[k > 0], bg_plane, dst_planes[k], self._scratch)
            case Color(bgr=bgr):
                alphas = (alpha, _half_alpha(alpha))
                for k, level in enumerate(_ycbcr(bgr)):
                    _kernels.blend_color(src_planes[k], alphas[k > 0], (level,), dst_planes[k], self._scratch)
            case MaskView():  # the grey BGR mask view, as COLOR_BGR2YUV_I420 turns it into I420
                cv2.LUT(alpha, _GREY_TO_Y, dst=dst_planes[0])
                dst_planes[1].fill(128)
                dst_planes[2].fill(128)
            case Passthrough():
                if dst is not image:
                    np.copyto(dst, image)
        return dst

    def _plane(self, name: str, shape: tuple[int, int], dtype: type = np.uint8) -> np.ndarray:
        buf = self._planes.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype)
            self._planes[name] = buf
        return buf

    def _apply_lowres(
        self,
        i420: np.ndarray,
        alpha: np.ndarray,
        out: np.ndarray,
        src: tuple[np.ndarray, ...],
        dst: tuple[np.ndarray, ...],
        half: np.ndarray | None,
        reduced: Callable[[int], np.ndarray] | None,
    ) -> None:
        """The blurred background, made at reduced resolution from ``half``, blended onto each plane."""
        lowres = self._lowres
        assert lowres is not None
        h, w = src[0].shape
        if h % 4 or w % 4:
            raise FrameFormatError(f"blur and bokeh on I420 need sides divisible by 4, got {w}x{h}")
        if lowres.is_identity(h // 2):
            np.copyto(out, i420)
            return
        if half is None:
            half = i420_half_bgr(i420, w, h)
        full = alpha.shape == (h, w)
        alpha_half = _half_alpha(alpha) if full else alpha  # the matte's smaller alpha serves every plane
        small = lowres.small(half, alpha_half, reduced, fine=True)
        f = lowres.step
        sh, sw = small.shape[:2]
        ycc = cv2.split(cv2.transform(small, _BGR_TO_YCBCR_FINE))  # uint16 with a fraction, saturated
        for k in range(3):
            scale = 2 * f if k == 0 else f
            bgx, y0s, fys = self._plane_rows(k, ycc[k], scale, src[k].shape)
            _kernels.blend_lowres(
                src[k], alpha if k == 0 or not full else alpha_half, bgx, y0s, fys, dst[k], self._plane_scratch(k)
            )

    def _plane_rows(
        self, k: int, small: np.ndarray, scale: int, shape: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Plane ``k``'s background ``small`` scaled along x by ``scale`` (:func:`~.lowres.scale_rows`), and the
        :func:`~.lowres.row_map` of the plane's ``shape`` over it."""
        sh, sw = small.shape
        ph, pw = shape
        bgx = scale_rows(small, scale, self._plane(f"bgx{k}", (sh + 1, max(sw * scale, pw)), small.dtype.type))
        key = (k, sh, ph, scale)
        rows = self._rows.get(k)
        if rows is None or rows[0] != key:
            rows = (key, *row_map(ph, sh, scale))
            self._rows[k] = rows
        return bgx, rows[1], rows[2]

    def _plane_scratch(self, k: int) -> dict[str, np.ndarray]:
        """Buffers of the blend of plane ``k`` (the luma and the chroma upsample the alpha to different sizes)."""
        return self._scratches.setdefault(k, {})


def _half_alpha(alpha: np.ndarray) -> np.ndarray:
    """The alpha averaged 2 x 2: the chroma planes' matte."""
    h, w = alpha.shape
    return cv2.resize(alpha, (w // 2, h // 2), interpolation=cv2.INTER_AREA)


def _ycbcr(bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    """``(Y, Cb, Cr)`` of one BGR colour, as ``COLOR_BGR2YUV_I420`` converts it."""
    i420 = cv2.cvtColor(np.full((2, 2, 3), bgr, np.uint8), cv2.COLOR_BGR2YUV_I420).ravel()
    return int(i420[0]), int(i420[4]), int(i420[5])


def _grey_to_y() -> np.ndarray:
    grey = np.repeat(np.repeat(np.arange(256, dtype=np.uint8), 2)[None, :], 2, axis=0)  # 2 x 512: each level 2 x 2
    return np.ascontiguousarray(cv2.cvtColor(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), cv2.COLOR_BGR2YUV_I420)[0, ::2])


_GREY_TO_Y = _grey_to_y()
"""Luma of each grey level 0-255 under ``COLOR_BGR2YUV_I420``."""

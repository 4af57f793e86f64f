"""The compositor: one API that photo, live and convert all call, on BGR frames or on 4:2:0 planes.

``compositor.apply(image, alpha)`` returns ``out = bg + alpha * (image - bg)`` where
``bg`` is the effect's background and ``alpha`` the full-resolution ``uint8`` person
alpha (255 = person).  :class:`Compositor` takes BGR frames; :class:`~.planar.PlanarCompositor`
takes I420 (4:2:0) frames and writes I420.  Both are a :class:`BaseCompositor`: the same
options and ``set_options``, the same backgrounds (a blur or lens blur computed at reduced
resolution with the person left out, see :mod:`.lowres`; a picture or clip; a colour), and
the same blend, whose per-sample kernel is :func:`~._kernels._mix`.  The blend is done
once, in one pass over the frame; for ``blur`` and ``bokeh`` that pass also upsamples
the background.  Buffers live in the instance and are reused while the frame size stays
the same; pass ``out`` to reuse the output too.  One instance is used from one thread.
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import cv2
import numpy as np

from ..config import EffectOptions
from ..effect_kinds import Blur, Bokeh, Color, EffectKind, MaskView, Passthrough, Replace
from ..errors import FrameFormatError
from . import _kernels
from .blur import BlurBackground
from .bokeh import BokehBackground
from .lowres import LowresBackground
from .replace import ImageBackground, VideoBackground, open_background

log = logging.getLogger(__name__)

__all__ = ["BaseCompositor", "Compositor"]

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound="BaseCompositor")


def with_own_kernels(apply: Callable[Concatenate[C, P], R]) -> Callable[Concatenate[C, P], R]:
    """Run a compositor method with the kernels its :attr:`BaseCompositor.kernels` names."""

    @functools.wraps(apply)
    def run(self: C, *args: P.args, **kwargs: P.kwargs) -> R:
        with _kernels.backend(self.kernels):
            return apply(self, *args, **kwargs)

    return run


class BaseCompositor(ABC):
    """The effect of :class:`~livebokeh.config.EffectOptions` and its background, for one picture layout.

    Subclasses implement :meth:`apply` for their layout (BGR, I420) with the blend
    kernels of :mod:`._kernels`; everything that does not depend on the layout - which
    background the effect needs, switching effects, the background clip's clock,
    compiling kernels early - lives here.

    ``kernels`` picks the pixel kernels' implementation for this compositor: ``numba``,
    ``numpy`` (OpenCV and NumPy whole-array operations: no numba import, no compiled
    kernels to load - the cheaper choice for a single picture), or ``None``: the process's
    default (:func:`~._kernels.set_backend`).
    """

    def __init__(self, options: EffectOptions | None = None, *, kernels: str | None = None) -> None:
        if kernels not in (None, "numba", "numpy"):
            raise ValueError(f"kernels {kernels!r} is unknown: use numba, numpy or None")
        self.kernels = kernels
        self.options = options or EffectOptions()
        self._lowres: LowresBackground | None = None
        self._picture: ImageBackground | VideoBackground | None = None
        self._scratch: dict[str, np.ndarray] = {}
        self._frames = 0
        self._t0_ns: int | None = None
        self._configure(self.options, None)

    @abstractmethod
    def apply(
        self,
        image: np.ndarray,
        alpha: np.ndarray,
        out: np.ndarray | None = None,
        *,
        timestamp_ns: int | None = None,
        reduced: Callable[[int], np.ndarray] | None = None,
    ) -> np.ndarray:
        """Composite ``image`` over the effect's background using ``alpha`` (``uint8`` ``H x W``, 255 = person).

        Returns ``out`` when given (it may be ``image`` itself), else a new array; for
        ``none`` without ``out`` the input itself.  ``timestamp_ns`` (the frame's
        capture time) keeps a ``replace:VIDEO`` background at its own speed; without it
        the background advances one of its frames per call.  ``reduced`` is the frame's
        :meth:`~livebokeh.frames.Frame.reduced` when the caller has a
        :class:`~livebokeh.frames.Frame`: the blurred background is summed from a halved
        copy where the blur is large, and a level made already is not made again.
        """

    def kernel_groups(self) -> tuple[str, ...]:
        """The numba kernel groups (:data:`~._kernels.KERNEL_GROUPS`) that the current effect needs here."""
        effect = self.options.effect
        return (effect.name,) if isinstance(effect, (Blur, Bokeh, Replace, Color)) else ()

    def set_options(self, options: EffectOptions) -> None:
        """Switch effect, strength or falloff between frames (cheap unless the background file changes)."""
        old = self.options
        self.options = options
        self._configure(options, old)

    def _configure(self, new: EffectOptions, old: EffectOptions | None) -> None:
        if self.kernels != "numpy":
            for group in self.kernel_groups():
                _kernels.warm_up_in_background(group)  # compile while the caller sets up
        effect = new.effect
        if isinstance(effect, (Blur, Bokeh)):
            self._configure_lowres(effect, new)
        elif isinstance(effect, Replace):
            if old is None or old.effect != effect or self._picture is None:
                picture = open_background(effect.path)
                self._close_picture()
                self._picture = picture
                self._frames = 0
                self._t0_ns = None

    def _configure_lowres(self, effect: Blur | Bokeh, options: EffectOptions) -> None:
        """Keep the blur renderer (and its buffers) when only strength or falloff change."""
        lowres = self._lowres
        if isinstance(effect, Blur):
            if isinstance(lowres, BlurBackground):
                lowres.strength, lowres.falloff = float(options.strength), bool(options.falloff)
            else:
                self._lowres = BlurBackground(options.strength, options.falloff)
        elif isinstance(lowres, BokehBackground) and lowres.blades == options.blades:
            lowres.strength, lowres.falloff = float(options.strength), bool(options.falloff)
        else:
            self._lowres = BokehBackground(options.strength, options.falloff, options.blades)

    def warm_up(self) -> float:
        """Compile or load the current effect's numba kernels now rather than on the first frame; seconds."""
        groups = self.kernel_groups()
        return _kernels.warm_up(groups) if groups and self.kernels != "numpy" else 0.0

    def _background(self, size: tuple[int, int], timestamp_ns: int | None) -> np.ndarray:
        """The ``replace`` picture (BGR) at frame ``size`` = ``(width, height)`` for this frame."""
        assert self._picture is not None
        return self._picture.frame(size, self._clock(timestamp_ns))

    def _clock(self, timestamp_ns: int | None) -> float:
        """Seconds into the background clip for this frame."""
        picture = self._picture
        if not isinstance(picture, VideoBackground):
            return 0.0
        if timestamp_ns is None:
            t = self._frames / picture.fps
        else:
            if self._t0_ns is None or timestamp_ns < self._t0_ns:
                self._t0_ns = timestamp_ns
            t = (timestamp_ns - self._t0_ns) / 1e9
        self._frames += 1
        return t

    def _output(self, image: np.ndarray, out: np.ndarray | None) -> np.ndarray | None:
        """``out`` checked against ``image`` (a new array for ``None``), or ``None`` when ``image`` is the answer."""
        if out is None:
            return None if isinstance(self.options.effect, Passthrough) else np.empty_like(image)
        if out.shape != image.shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise FrameFormatError(
                f"expected out as C-contiguous uint8 array of shape {image.shape}, got {out.dtype} {out.shape}"
            )
        return out

    def _close_picture(self) -> None:
        if self._picture is not None:
            self._picture.close()
            self._picture = None

    def close(self) -> None:
        """Release a background video, if any (the compositor is unusable for ``replace`` after)."""
        self._close_picture()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self._close_picture()
        except Exception:
            pass


def mask_view(alpha: np.ndarray, out: np.ndarray, scratch: dict[str, np.ndarray]) -> np.ndarray:
    """``alpha`` (any size up to ``out``'s) as a grey BGR picture in ``out`` (``H x W x 3``): the mask view."""
    h, w = out.shape[:2]
    if alpha.shape != (h, w):
        alpha = _kernels.upsample_alpha(alpha, (w, h), scratch)
    cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR, dst=out)
    return out


def check_alpha(alpha: np.ndarray, shape: tuple[int, int], *, smaller: bool = False) -> np.ndarray:
    """``alpha`` if it is ``uint8`` of ``shape`` = ``(H, W)`` (copied if not C-contiguous); else raise.

    With ``smaller``, a smaller ``uint8`` alpha of the frame's aspect ratio (within a pixel,
    at least 2 x 2) passes too: the compositor upsamples it to the frame.
    """
    ok = alpha.dtype == np.uint8 and alpha.ndim == 2
    if smaller and ok:
        (h, w), (ah, aw) = shape, alpha.shape
        ok = 2 <= ah <= h and 2 <= aw <= w and abs(ah * w - aw * h) <= max(h, w)
    else:
        ok = ok and alpha.shape == shape
    if not ok:
        what = f"of shape {shape} or smaller with its aspect ratio" if smaller else f"of shape {shape}"
        raise FrameFormatError(
            f"expected alpha as uint8 array {what} to match the frame, got {alpha.dtype} {alpha.shape}"
        )
    return alpha if alpha.flags.c_contiguous else np.ascontiguousarray(alpha)


class Compositor(BaseCompositor):
    """Applies the effect in :class:`~livebokeh.config.EffectOptions` behind the person, on BGR frames."""

    @with_own_kernels
    def apply(
        self,
        image: np.ndarray,
        alpha: np.ndarray,
        out: np.ndarray | None = None,
        *,
        timestamp_ns: int | None = None,
        reduced: Callable[[int], np.ndarray] | None = None,
    ) -> np.ndarray:
        """Composite ``image`` (BGR ``uint8`` ``H x W x 3``) over the background using ``alpha`` (``uint8`` ``H x W``).

        Returns ``out`` when given (it may be ``image`` itself), else a new array; for
        ``none`` without ``out`` the input itself.  ``timestamp_ns`` and ``reduced`` are
        as in :meth:`BaseCompositor.apply`.  ``alpha`` may also be smaller than the frame
        (e.g. the matte at its guide's resolution): it is then upsampled bilinearly, for
        ``blur`` inside the blend pass, so no full-resolution alpha is made.
        """
        h, w = image.shape[:2]
        alpha = check_alpha(alpha, (h, w), smaller=True)
        effect: EffectKind = self.options.effect
        if alpha.shape != (h, w) and not isinstance(effect, (Blur, Passthrough)):
            alpha = _kernels.upsample_alpha(alpha, (w, h), self._scratch)
        if not image.flags.c_contiguous:
            image = np.ascontiguousarray(image)
        dst = self._output(image, out)
        if dst is None:
            return image
        match effect:
            case Blur() | Bokeh():
                assert self._lowres is not None
                if self._lowres.is_identity(h):
                    np.copyto(dst, image)
                    return dst
                bgx, y0s, fys = self._lowres.render(image, alpha, reduced)
                _kernels.blend_lowres(image, alpha, bgx, y0s, fys, dst, self._scratch, self._lowres.step)
            case Replace():
                _kernels.blend(image, alpha, self._background((w, h), timestamp_ns), dst, self._scratch)
            case Color(bgr=bgr):
                _kernels.blend_color(image, alpha, bgr, dst, self._scratch)
            case MaskView():
                mask_view(alpha, dst, self._scratch)
            case Passthrough():
                if dst is not image:
                    np.copyto(dst, image)
        return dst

    def view_mask(self, alpha: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``alpha`` (``uint8``, at most ``out``'s size) shown as grey in ``out`` (BGR): the live mask view."""
        return mask_view(check_alpha(alpha, out.shape[:2], smaller=True), out, self._scratch)

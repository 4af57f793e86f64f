"""The compositor: one API that photo, live and convert all call.

``Compositor(options).apply(image, alpha)`` returns ``out = bg + alpha * (image - bg)``
where ``bg`` is the effect's background and ``alpha`` the full-resolution ``uint8``
person alpha (255 = person).  The blend is done once, in one pass over the frame;
for ``blur`` and ``bokeh`` that pass also upsamples the background, which is
computed at reduced resolution with the person left out (see :mod:`.lowres`).
Buffers live in the instance and are reused while the frame size stays the same;
pass ``out`` to reuse the output too.  One instance is used from one thread.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ..config import EffectOptions
from ..effect_kinds import Blur, Bokeh, Color, EffectKind, MaskView, Passthrough, Replace
from ..errors import FrameFormatError
from . import _kernels
from .blur import BlurBackground, blur_sigma
from .bokeh import BokehBackground
from .lowres import LowresBackground
from .replace import ImageBackground, VideoBackground, open_background

log = logging.getLogger(__name__)

__all__ = ["Compositor", "blur_sigma"]


class Compositor:
    """Applies the effect in :class:`~livebokeh.config.EffectOptions` behind the person."""

    def __init__(self, options: EffectOptions | None = None) -> None:
        self.options = options or EffectOptions()
        self._lowres: LowresBackground | None = None
        self._picture: ImageBackground | VideoBackground | None = None
        self._color: tuple[int, int, int] | None = None
        self._scratch: dict[str, np.ndarray] = {}
        self._frames = 0
        self._t0_ns: int | None = None
        self._configure(self.options, None)

    def set_options(self, options: EffectOptions) -> None:
        """Switch effect, strength or falloff between frames (cheap unless the background file changes)."""
        old = self.options
        self.options = options
        self._configure(options, old)

    def _configure(self, new: EffectOptions, old: EffectOptions | None) -> None:
        effect = new.effect
        group = _kernel_group(effect)
        if group:
            _kernels.warm_up_in_background(group)  # compile while the caller sets up
        blades = new.blades
        if isinstance(effect, (Blur, Bokeh)):
            cls = BlurBackground if isinstance(effect, Blur) else BokehBackground
            same = isinstance(self._lowres, cls) and getattr(self._lowres, "blades", 0) == blades
            if same and self._lowres is not None:
                self._lowres.strength = float(new.strength)
                self._lowres.falloff = bool(new.falloff)
            else:
                self._lowres = lowres_background(new)
        elif isinstance(effect, Replace):
            if old is None or old.effect != effect or self._picture is None:
                picture = open_background(effect.path)
                self._close_picture()
                self._picture = picture
                self._frames = 0
                self._t0_ns = None
        elif isinstance(effect, Color):
            self._color = effect.bgr

    def _close_picture(self) -> None:
        if self._picture is not None:
            self._picture.close()
            self._picture = None

    def close(self) -> None:
        """Release a background video, if any (the compositor is unusable for ``replace`` after)."""
        self._close_picture()

    def warm_up(self) -> float:
        """Compile or load the current effect's numba kernels now rather than on the first frame; seconds."""
        group = _kernel_group(self.options.effect)
        return _kernels.warm_up((group,)) if group else 0.0

    def apply(
        self, image: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None, *, timestamp_ns: int | None = None
    ) -> np.ndarray:
        """Composite ``image`` (BGR ``uint8`` ``H x W x 3``) over the background using ``alpha`` (``uint8`` ``H x W``).

        Returns ``out`` when given (it may be ``image`` itself), else a new array; for
        ``none`` without ``out`` the input itself.  ``timestamp_ns`` (the frame's
        capture time) keeps a ``replace:VIDEO`` background at its own speed; without it
        the background advances one of its frames per call.
        """
        h, w = image.shape[:2]
        if alpha.shape != (h, w) or alpha.dtype != np.uint8:
            raise FrameFormatError(
                f"expected alpha as uint8 array of shape {(h, w)} to match the frame, got {alpha.dtype} {alpha.shape}"
            )
        if not alpha.flags.c_contiguous:
            alpha = np.ascontiguousarray(alpha)
        if not image.flags.c_contiguous:
            image = np.ascontiguousarray(image)
        if out is None:
            if isinstance(self.options.effect, Passthrough):
                return image
            out = np.empty_like(image)
        elif out.shape != image.shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise FrameFormatError(
                f"expected out as C-contiguous uint8 array of shape {image.shape}, got {out.dtype} {out.shape}"
            )
        effect = self.options.effect
        if isinstance(effect, (Blur, Bokeh)):
            assert self._lowres is not None
            if self._lowres.is_identity(h):
                np.copyto(out, image)
                return out
            bgx, y0s, fys = self._lowres.render(image, alpha)
            _kernels.blend_lowres(image, alpha, bgx, y0s, fys, out, self._scratch)
        elif isinstance(effect, Replace):
            assert self._picture is not None
            bg = self._picture.frame((w, h), self._clock(timestamp_ns))
            _kernels.blend_full(image, alpha, bg, out, self._scratch)
        elif isinstance(effect, Color):
            assert self._color is not None
            _kernels.blend_color(image, alpha, self._color, out, self._scratch)
        elif isinstance(effect, MaskView):
            cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR, dst=out)
        else:  # none
            if out is not image:
                np.copyto(out, image)
        return out

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

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self._close_picture()
        except Exception:
            pass


def lowres_background(options: EffectOptions) -> LowresBackground:
    """A new background renderer for ``blur`` or ``bokeh`` with the strength, falloff and blades of ``options``."""
    if isinstance(options.effect, Blur):
        return BlurBackground(options.strength, options.falloff)
    if isinstance(options.effect, Bokeh):
        return BokehBackground(options.strength, options.falloff, options.blades)
    raise ValueError(f"effect {options.effect!r} has no reduced-resolution background: use blur or bokeh")


def _kernel_group(effect: EffectKind) -> str | None:
    """Which numba kernels an effect uses (see :data:`~livebokeh.effects._kernels.KERNEL_GROUPS`), if any."""
    return effect.name if isinstance(effect, (Blur, Bokeh, Replace, Color)) else None

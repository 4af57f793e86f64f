"""The public :class:`Effect`: apply a person mask of any resolution to a frame in one call."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import EffectOptions
from ..frames import Frame, Mask, check_image, check_mask
from ..matte.apply import PhotoApplier
from .compositor import Compositor


class Effect:
    """A background effect (blur, bokeh, replace, colour, mask view) applied behind the person.

    ``Effect(EffectOptions(effect="bokeh", strength=0.6))`` or, shorter,
    ``Effect(effect="bokeh", strength=0.6)``.  :meth:`apply` takes the mask a
    :class:`~livebokeh.Segmenter` returned (``float32`` in ``[0, 1]`` at model
    resolution, a :class:`~livebokeh.Mask`, or ``uint8`` alpha), brings it to the
    frame's size - guided by the frame's own edges when ``refine`` is on, exactly as
    ``livebokeh photo`` does (:class:`~livebokeh.matte.PhotoApplier`) - and composites
    with the same :class:`~livebokeh.effects.Compositor` that ``photo``, ``live`` and
    ``convert`` use: the same image and mask give the same picture as ``photo`` (``photo``
    on a single picture runs the compositor's NumPy kernels: within two levels of it).
    """

    def __init__(self, options: EffectOptions | None = None, *, refine: bool = True, **fields: Any) -> None:
        if options is not None and fields:
            raise TypeError("give either an EffectOptions or keyword fields, not both")
        self.options = options if options is not None else EffectOptions(**fields)
        self.compositor = Compositor(self.options)
        self._applier = PhotoApplier(refine=refine)

    @property
    def refine(self) -> bool:
        """Edge-aware upsampling guided by the frame (else bilinear)."""
        return self._applier.refine

    @refine.setter
    def refine(self, value: bool) -> None:
        self._applier.refine = value

    def set_options(self, options: EffectOptions) -> None:
        """Switch effect or strength between frames."""
        self.options = options
        self.compositor.set_options(options)

    def alpha_for(self, image: np.ndarray, mask: np.ndarray | Mask) -> np.ndarray:
        """Full-resolution ``uint8`` alpha (255 = person) of ``mask`` for ``image``.

        ``uint8`` alpha already at the image's size is used as it is; a :class:`~livebokeh.Mask`
        with ``float32`` alpha (as :class:`~livebokeh.Matte` makes it) is passed on as made,
        with what it knows about how finely it was segmented; anything else is checked first.
        """
        h, w = image.shape[:2]
        raw = mask.alpha if isinstance(mask, Mask) else mask
        if isinstance(raw, np.ndarray) and raw.dtype == np.uint8 and raw.shape == (h, w):
            return np.ascontiguousarray(raw)
        if isinstance(mask, Mask) and isinstance(raw, np.ndarray) and raw.dtype == np.float32 and raw.ndim == 2:
            checked = mask
        else:
            density = mask.density if isinstance(mask, Mask) else None
            checked = Mask(alpha=check_mask(raw), timestamp_ns=0, index=0, density=density)
        return self._applier.apply(checked, Frame(image=image, timestamp_ns=0, index=0))

    def apply(
        self,
        image: np.ndarray,
        mask: np.ndarray | Mask,
        out: np.ndarray | None = None,
        *,
        timestamp_ns: int | None = None,
    ) -> np.ndarray:
        """Return ``image`` (BGR ``uint8`` ``H x W x 3``) with the effect applied where ``mask`` is background.

        ``out`` receives the result when given (reuse it frame to frame); ``timestamp_ns``
        (the frame's capture time) keeps a ``replace:VIDEO`` background at its own speed.
        """
        image = check_image(image, what="image")
        return self.compositor.apply(image, self.alpha_for(image, mask), out=out, timestamp_ns=timestamp_ns)

"""Where the mask is applied, on the compositor side: a low-resolution mask -> full-resolution ``uint8`` alpha.

An applier takes the newest :class:`~livebokeh.frames.Mask` and the frame it is about to
be applied to and returns the alpha (255 = person) at the frame's size, through the
edge-aware upsampling guided by that frame (:mod:`.upsample`).  It needs no segmenter.

* :class:`VideoApplier`: a mask made from an earlier frame is first moved along the optical
  flow to this one (:mod:`.warp`); the refined alpha is smoothed where the picture did not
  change (:class:`~.temporal.GuideSmoother`) and, like the mask, pushed out of the band of
  doubt (:func:`~.temporal.decisive`).  One instance per stream, in the compositor thread.
* :class:`PhotoApplier`: a larger guide, and the colour-line step where the model saw the
  photo coarsely (:func:`colour_step_where`).  :class:`~livebokeh.Effect` uses it too, so
  ``Effect.apply`` and ``livebokeh photo`` give the same picture for the same mask.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import cv2
import numpy as np

from ..config import MatteOptions
from ..frames import Frame, Mask
from . import upsample
from .temporal import DECISIVE_BAND, GuideSmoother, decisive
from .warp import MaskWarper, flow_grey

COLOUR_MIN_UPSCALE = 2.0
"""Photos: the colour-line step (:func:`upsample.colour_refine`) runs only where the guide image has at least
this many pixels per model pixel across, i.e. where the mask came from a model that saw that part of the
photo at half the guide's resolution or less.  There it restores the edge detail that the model's coarse
grid could not hold; where a model saw the region about as finely as the guide (a small photo, a crop,
a pose-landmark ROI), its own edge is as good as the colours say, and re-estimating it adds colour noise."""


class MaskApplier(ABC):
    """Turns a mask into full-resolution ``uint8`` alpha for one frame (compositor side)."""

    @abstractmethod
    def apply(
        self, mask: Mask, frame: Frame, out: np.ndarray | None = None, *, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """``uint8`` alpha of ``mask`` for ``frame``, at the frame's size or at ``size`` = ``(width, height)``.

        ``size`` asks for another size than the frame's, e.g. when ``frame`` is a reduced
        copy of the picture being composited; ``out`` receives the alpha when given.
        """

    @abstractmethod
    def reset(self) -> None:
        """Forget what earlier frames left behind (a new stream starts)."""


class VideoApplier(MaskApplier):
    """Alpha for the frames of one stream: stale masks moved along the flow, refined alpha smoothed over time.

    ``options.refine``: edge-aware upsampling (else bilinear); ``options.compensate``: move a
    mask from an earlier frame to this one; ``options.temporal``: smooth the refined alpha.

    The refined alpha is pushed out of ``DECISIVE_BAND`` as the mask was (not with ``quality="best"``,
    whose matting model's soft edge is the point).  The guided filter draws faint copies of the picture's
    texture where the mask has many edges (a crowd), and the smoother lands small steps slowly, which
    leaves faint trails behind a moving head; both show as ghosts over the blur and cost the encoder.
    On the 1080p seven-person clip (``bench convert``) 0.65 -> 0.68-0.70 of a plain transcode's speed;
    the one-half contour does not move, so IoU stays (moving-person clips within 0.003), and
    talking-head instability against raw goes 0.35/0.27/0.31/0.34 -> 0.35/0.22/0.30/0.34.
    """

    def __init__(self, options: MatteOptions | None = None) -> None:
        self.options = options or MatteOptions()
        self._smoother = GuideSmoother() if self.options.temporal else None
        self._warper: MaskWarper | None = None

    def apply(
        self, mask: Mask, frame: Frame, out: np.ndarray | None = None, *, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        w, h = size if size is not None else (frame.image.shape[1], frame.image.shape[0])
        alpha = mask.alpha
        guide = upsample.frame_guide(frame, upsample.VIDEO_GUIDE_SIDE) if self.options.refine else None
        if mask.index != frame.index and mask.guide is not None and self.options.compensate:
            if self._warper is None:
                self._warper = MaskWarper("ultrafast")  # once per frame: the cheaper preset (see PRESETS)
            alpha = self._warper.warp(alpha, mask.guide, flow_grey(frame))
        if guide is None:
            return upsample.bilinear(alpha, (w, h), out=out)
        smooth, key = (self._smoother.update if self._smoother is not None else None), mask.index
        band = None if self.options.quality == "best" else DECISIVE_BAND  # MODNet's alpha keeps its soft edge

        def finish(a: np.ndarray, g: np.ndarray) -> np.ndarray:
            if smooth is not None:
                a = smooth(a, g, key)
            return decisive(a, *band) if band is not None else a

        post = finish if smooth is not None or band is not None else None
        return upsample.guided(alpha, guide, (w, h), out=out, smoother=post, subsample=2)

    def reset(self) -> None:
        if self._smoother is not None:
            self._smoother.reset()


class PhotoApplier(MaskApplier):
    """Alpha for a still picture: a large guide, and edge detail restored where the model saw it coarsely.

    ``refine=False`` gives the plain bilinear upsample.  A photo has no earlier frame, so
    nothing is moved along a flow and nothing is kept between calls.
    """

    def __init__(self, *, refine: bool = True) -> None:
        self.refine = refine

    def apply(
        self, mask: Mask, frame: Frame, out: np.ndarray | None = None, *, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        w, h = size if size is not None else (frame.image.shape[1], frame.image.shape[0])
        alpha = mask.alpha
        if not self.refine:
            return upsample.bilinear(alpha, (w, h), out=out)
        small = upsample.guide_source(frame.image, upsample.PHOTO_GUIDE_SIDE)  # shrunk once for both guides
        guide = upsample.guide_image(small, upsample.PHOTO_GUIDE_SIDE)
        where = colour_step_where(mask, guide.shape, (w, h))
        if where is False:
            return upsample.guided(alpha, guide, (w, h), out=out)
        colour = upsample.colour_guide(small, upsample.PHOTO_GUIDE_SIDE)
        if where is True:
            return upsample.guided(alpha, guide, (w, h), out=out, colour=colour)
        # only the coarsely segmented parts: the colour-line step by hand, then the filter
        r = upsample.filter_radius(guide.shape, alpha.shape)
        src = cv2.resize(alpha, (guide.shape[1], guide.shape[0]), interpolation=cv2.INTER_LINEAR)
        refined = upsample.colour_refine(src, colour, guide, r, upsample.EPS)
        src = np.where(where, refined, src).astype(np.float32)
        return upsample.guided(src, guide, (w, h), out=out, radius=r)

    def reset(self) -> None:
        """Nothing to forget: every photo stands alone."""


def colour_step_where(mask: Mask, guide_shape: tuple[int, ...], frame_size: tuple[int, int]) -> np.ndarray | bool:
    """Where the colour-line step runs for ``mask``: a guide-sized map, or one answer for the whole mask.

    Only where the guide holds at least ``COLOUR_MIN_UPSCALE`` guide pixels per model pixel
    (see there); the model's density is ``mask.density`` or, when unknown, judged from the
    mask's size.  ``frame_size`` is the ``(width, height)`` the alpha is made for.
    """
    w, h = frame_size
    density = mask.density
    if density is None:  # judge it by its size alone
        density = min(mask.alpha.shape[0] / h, mask.alpha.shape[1] / w)
    guide_per_frame_px = guide_shape[1] / w
    if isinstance(density, np.ndarray):
        small = cv2.resize(density, (guide_shape[1], guide_shape[0]), interpolation=cv2.INTER_NEAREST)
        coarse = guide_per_frame_px >= COLOUR_MIN_UPSCALE * small
        return bool(coarse.all()) if coarse.all() or not coarse.any() else coarse
    return bool(guide_per_frame_px >= COLOUR_MIN_UPSCALE * density)

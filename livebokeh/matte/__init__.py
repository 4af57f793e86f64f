"""Where the mask is refined: from the segmenter's output to the alpha that is applied.

:class:`Matte` has two halves, each used from one thread:

* :meth:`Matte.compute` (inference side) runs the segmenter on a frame and does all
  low-resolution work that depends only on that frame and earlier masks: the person
  detectors and the crop pass (``people``), main-subject choice and stray-blob removal
  (``subject``), and temporal smoothing (``temporal``).
* :meth:`Matte.apply_to` (compositor side) takes the newest mask and the frame it is
  about to be applied to, moves the mask if it is older than the frame (``warp``), and
  returns full-resolution ``uint8`` alpha (255 = person) through the edge-aware
  upsampling guided by that frame (``upsample``).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..config import MatteOptions
from ..frames import Frame, Mask
from ..segmentation import SegmenterProtocol
from . import upsample
from .subject import SubjectTracker, candidates, drop_stray_blobs, keep_region
from .temporal import TemporalFilter
from .warp import MaskWarper, flow_image

__all__ = ["Matte"]

log = logging.getLogger(__name__)

VIDEO_WORK_SIDE = 384
"""Long side of the mask after a crop pass, for video (crops are merged at this size)."""

PHOTO_WORK_SIDE = 768
"""Long side of the mask after a crop pass, for photos."""

DETECT_EVERY = 3
"""In video, run the person detectors on every N-th computed mask and reuse the boxes between."""


class Matte:
    """Segmenter output -> applied alpha, with the options in :class:`MatteOptions`.

    ``video`` selects stream behaviour (temporal smoothing, tracking, cheaper sizes);
    photos use ``video=False``.  ``detector`` may be passed to share one
    :class:`~livebokeh.segmentation.people.PersonDetector`; otherwise one is opened on
    first use when crops or ``subject="main"`` need it.
    """

    def __init__(
        self,
        segmenter: SegmenterProtocol,
        options: MatteOptions | None = None,
        *,
        video: bool = True,
        detector: object | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.options = options or MatteOptions()
        self.video = video
        self._detector = detector
        self._people: list = []
        self._computed = 0
        self._tracker = SubjectTracker()
        self._temporal = TemporalFilter() if video and self.options.temporal else None
        self._warper: MaskWarper | None = None
        self._guide_side = upsample.VIDEO_GUIDE_SIDE if video else upsample.PHOTO_GUIDE_SIDE
        self._work_side = VIDEO_WORK_SIDE if video else PHOTO_WORK_SIDE
        self.last_crop_seconds = 0.0
        """Time the last :meth:`compute` spent on detectors and the crop pass (0 when none ran)."""
        self.last_crops = 0
        """How many crops the last :meth:`compute` segmented."""

    # -- inference side ---------------------------------------------------------------

    def _segment(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        if self.video:
            return self.segmenter.segment_for_video(image, timestamp_ns)
        return self.segmenter.segment(image)

    def _find_people(self, image: np.ndarray) -> list:
        if self._detector is None:
            from ..segmentation.people import PersonDetector

            self._detector = PersonDetector()
        if not self.video or self._computed % DETECT_EVERY == 0 or not self._people:
            self._people = self._detector.detect(image)  # type: ignore[attr-defined]
        return self._people

    def compute(self, frame: Frame) -> Mask:
        """Segment one frame (inference side): crops, subject choice, temporal smoothing."""
        image = frame.image
        h, w = image.shape[:2]
        opts = self.options
        prob = self._segment(image, frame.timestamp_ns)
        self.last_crop_seconds, self.last_crops = 0.0, 0
        people: list = []
        chosen = None
        if opts.crops or opts.subject == "main":
            start = time.perf_counter()
            people = self._find_people(image)
            if opts.subject == "main":
                chosen = self._tracker.choose(candidates(people, prob, (w, h)))
            if opts.crops:
                from ..segmentation.people import blob_boxes, crop_regions, merge_crops

                if opts.subject == "main":
                    boxes = [chosen.box] if chosen is not None else []
                else:
                    boxes = [p.body for p in people] + blob_boxes(prob, (h, w))
                rects = crop_regions(boxes, (h, w), self.segmenter.input_size_for)
                if rects:
                    work = upsample.guide_size((w, h), self._work_side)
                    prob = merge_crops(image, prob, rects, self.segmenter.segment, work)
                    self.last_crops = len(rects)
            self.last_crop_seconds = time.perf_counter() - start
        if chosen is not None:
            prob = keep_region(prob, chosen.box, (w, h))
        prob = drop_stray_blobs(prob, people, (w, h))
        guide = None
        if self.video:
            guide = flow_image(upsample.guide_image(image, self._guide_side))
            if self._temporal is not None:
                prob = self._temporal.update(prob, guide)
        self._computed += 1
        return Mask(
            alpha=np.ascontiguousarray(prob, dtype=np.float32),
            timestamp_ns=frame.timestamp_ns,
            index=frame.index,
            guide=guide,
        )

    # -- compositor side --------------------------------------------------------------

    def apply_to(self, mask: Mask, frame: Frame, out: np.ndarray | None = None) -> np.ndarray:
        """Full-resolution ``uint8`` alpha of ``mask`` for ``frame`` (compositor side).

        If ``mask`` came from an earlier frame and ``compensate`` is on, it is first
        moved along the optical flow between that frame and this one.
        """
        h, w = frame.image.shape[:2]
        alpha = mask.alpha
        guide: np.ndarray | None = None
        stale = mask.index != frame.index and mask.guide is not None
        if self.options.refine or (stale and self.options.compensate):
            guide = upsample.guide_image(frame.image, self._guide_side)
        if stale and self.options.compensate and guide is not None:
            if self._warper is None:
                self._warper = MaskWarper()
            alpha = self._warper.warp(alpha, mask.guide, flow_image(guide))  # type: ignore[arg-type]
        if self.options.refine and guide is not None:
            return upsample.guided(alpha, guide, (w, h), out=out)
        return upsample.bilinear(alpha, (w, h), out=out)

    def reset(self) -> None:
        """Forget temporal state (a new stream starts)."""
        if self._temporal is not None:
            self._temporal.reset()
        self._tracker.reset()
        self._people = []
        self._computed = 0

"""Where the mask is refined, on the inference side: from one frame to the mask the compositor applies.

:meth:`MaskEstimator.compute` runs the segmenter on a frame and does all low-resolution
work that depends only on that frame and earlier masks, in this order:

1. the first pass: the segmenter on the whole frame;
2. the people in it (:mod:`livebokeh.people`): the detectors, and per mode the rotation
   search (photos) or the ROIs the pose landmarks tracked from the last frame (video);
3. with ``subject="main"``, the main subject (:mod:`.subject`);
4. the crop pass (:mod:`.crops`): small people segmented again on a crop, whole-body
   people with the per-person pose-landmark model, merged at the working size;
5. only the subject's region kept, stray blobs dropped (:mod:`.subject`);
6. per mode: temporal smoothing (video) or how finely each part was seen (photos).

The two modes are the subclasses :class:`~.estimate_video.VideoEstimator` and
:class:`~.estimate_photo.PhotoEstimator`; they differ in sizes, limits and the hooks
below, not in the order of the steps.
"""

from __future__ import annotations

import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from ..config import MatteOptions
from ..frames import Frame, Mask
from ..people.box import Box, Rect, iou
from ..people.detect import DetectorProtocol, PersonDetector
from ..people.person import Person, full_body_people
from ..people.pose import PersonMask, PoseSegmenter, PoseSegmenterProtocol, person_masks
from ..people.search import Found
from ..segmentation import SegmenterProtocol
from ..segmentation.onnx import matting_available
from . import upsample
from .confident import protect_confident
from .crops import crop_rect, crop_regions, merge_crops, merge_person_masks, refined_regions
from .matting import fuse_matting, mirrored_alpha
from .subject import Candidate, SubjectTracker, candidates, drop_stray_blobs, keep_region, match_person

log = logging.getLogger(__name__)

POSE_DONE_IOU = 0.5
"""A selfie crop overlapping by more than this the crop of a person the pose model segmented is skipped:
its result would be replaced by that person's own mask."""


@dataclass(slots=True)
class Passes:
    """What the last :meth:`MaskEstimator.compute` ran beyond the first pass."""

    seconds: float = 0.0
    """Time spent on the detectors, the crop pass and the pose-landmark pass (0 when none ran)."""
    crops: int = 0
    """Regions segmented again: selfie crops plus per-person pose ROIs."""
    pose_people: int = 0
    """People segmented with the pose-landmark model."""
    found: Found | None = None
    """What the rotation search found (photos), if it ran and found someone."""
    runs: int = 0
    """Per-person model runs made afresh: selfie crops segmented plus pose-landmark ROIs run (video reuses
    the others' earlier results)."""
    matting: np.ndarray | None = None
    """``quality="best"``: the weight of the matting model's alpha in the mask (:func:`~.matting.fuse_matting`)."""


class MaskEstimator(ABC):
    """Segmenter output -> the refined low-resolution mask of one frame (inference side).

    ``detector`` and ``pose`` are the person detector and the per-person segmenter; each
    is opened on first use when not given (and only when crops or ``subject="main"``
    need it), so one may be shared between estimators or replaced by a stand-in.
    """

    work_side: ClassVar[int]
    """Long side of the mask after a crop pass (crops and per-person masks are merged at this size)."""
    crop_max_height: ClassVar[float]
    """Only people at most this fraction of the frame tall get a selfie crop."""
    pose_max_side: ClassVar[float]
    """Only people whose body ROI is at most this many frame heights get the pose-landmark pass."""
    pose_limit: ClassVar[int]
    """At most this many people per frame get the pose-landmark pass."""
    pose_threads: ClassVar[int]
    """Threads of the pose-landmark model when it is opened here."""
    auto_matting: ClassVar[bool]
    """``quality="auto"`` runs the matting model (photos: yes; video: no, a frame has ~33 ms)."""
    people_aside: ClassVar[bool]
    """The people are found in a second thread while the first pass runs (photos: a photo's time is
    its latency; video: no, the pipeline's other stages have the second core)."""

    def __init__(
        self,
        segmenter: SegmenterProtocol,
        options: MatteOptions | None = None,
        *,
        detector: DetectorProtocol | None = None,
        pose: PoseSegmenterProtocol | None = None,
        matting: SegmenterProtocol | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.crop_segmenter: SegmenterProtocol = segmenter
        """The segmenter the crop pass uses (photos: the segmenter's still-photo view)."""
        self.options = options or MatteOptions()
        self._detector = detector
        self._pose = pose
        self._matting = matting
        self._tracker = SubjectTracker()
        self.last = Passes()

    @property
    def detector(self) -> DetectorProtocol:
        """The person detector (the bundled :class:`~livebokeh.people.PersonDetector` unless one was given)."""
        if self._detector is None:
            self._detector = PersonDetector()
        return self._detector

    @property
    def pose(self) -> PoseSegmenterProtocol:
        """The per-person segmenter (the bundled :class:`~livebokeh.people.PoseSegmenter` unless one was given)."""
        if self._pose is None:
            self._pose = PoseSegmenter(num_threads=self.pose_threads)
        return self._pose

    @property
    def matting_on(self) -> bool:
        """Whether the matting model runs: ``quality="best"``, or ``"auto"`` where this kind of
        estimator has the time for it (:attr:`auto_matting`) and ONNX Runtime is installed."""
        quality = self.options.quality
        if quality == "auto":
            return self.auto_matting and (self._matting is not None or matting_available())
        return quality == "best"

    @property
    def matting(self) -> SegmenterProtocol:
        """The matting model of ``quality="best"`` (the bundled MODNet unless one was given)."""
        if self._matting is None:
            from ..segmentation.onnx import OnnxMatting  # ONNX Runtime is an optional extra

            self._matting = OnnxMatting(num_threads=1)  # its two views run side by side (mirrored_alpha)
        return self._matting

    def compute(self, frame: Frame) -> Mask:
        """The refined mask of one frame: first pass, people, crop pass, subject, then the mode's finish."""
        opts = self.options
        self.last = Passes()
        image = self._working_image(frame)
        find_people = opts.crops or opts.subject == "main"
        finding = self._find_people_aside(image, frame) if find_people and self.people_aside else None
        try:
            prob = self._segment(frame, image)
        except BaseException:
            if finding is not None:  # the detectors finish before another frame may use them
                with contextlib.suppress(Exception):
                    finding()
            raise
        matting = mirrored_alpha(self.matting, image) if self.matting_on else None  # runs while the rest does
        first = prob  # the model's own mask: what it is sure of survives the steps below
        h, w = image.shape[:2]
        people: list[Person] = []
        chosen: Candidate | None = None
        rects: list[Rect] = []
        masks: list[PersonMask] = []
        if find_people:
            start = time.perf_counter()
            people = finding() if finding is not None else self._find_people(image, frame)
            if opts.subject == "main":
                chosen = self._choose(people, prob, (w, h))
            if opts.crops:
                prob, rects, masks = self._crop_pass(frame, image, prob, people, chosen)
            self.last.seconds = time.perf_counter() - start
        if chosen is not None:
            prob = keep_region(prob, chosen.box, (w, h))
        prob = drop_stray_blobs(prob, people, (w, h))
        if chosen is None or not masks:  # a per-person mask of the subject is positive evidence of its extent
            outlined = refined_regions(prob.shape[:2], (h, w), [], masks)
            subject = chosen.box if chosen else None
            prob = protect_confident(prob, first, subject=subject, frame_size=(w, h), outlined=outlined)
        if matting is not None:
            finer = refined_regions(prob.shape[:2], (h, w), rects, masks)
            prob, self.last.matting = fuse_matting(prob, matting(), finer=finer)
        return self._finish(frame, (h, w), prob, rects, masks)

    def reset(self) -> None:
        """Forget what earlier frames left behind (a new stream starts)."""
        self._tracker.reset()

    # -- the steps the modes share ----------------------------------------------------

    def _choose(self, people: list[Person], prob: np.ndarray, size: tuple[int, int]) -> Candidate | None:
        """The main subject among the people and the first pass's blobs (``size`` is the working ``(w, h)``)."""
        return self._tracker.choose(candidates(people, prob, size))

    def _crop_pass(
        self, frame: Frame, image: np.ndarray, prob: np.ndarray, people: list[Person], chosen: Candidate | None
    ) -> tuple[np.ndarray, list[Rect], list[PersonMask]]:
        """Selfie crops around small people and the pose-landmark pass on whole bodies, merged over ``prob``.

        Returns the merged mask (at ``work_side`` when anything was merged), the crops and the per-person masks.
        """
        h, w = image.shape[:2]
        main = self.options.subject == "main"
        if main:
            boxes = [chosen.box] if chosen is not None else []
        else:
            boxes = self._crop_boxes(people, prob, (h, w))
        masks = self._person_masks(image, people, chosen, prob)
        rects = crop_regions(boxes, (h, w), self.crop_segmenter.input_size_for, max_height=self.crop_max_height)
        if masks:  # a person the pose model segmented needs no selfie crop: its result would be replaced
            done = [crop_rect(m.person.body, (h, w)) for m in masks]
            rects = [r for r in rects if not any(iou(r, d) > POSE_DONE_IOU for d in done)]
        rects, results = self._crop_plan(image, self._steady(rects))
        work = upsample.guide_size((w, h), self.work_side)
        if rects:
            segment = self.crop_segmenter.segment
            prob = merge_crops(image, prob, rects, segment, work, people=people, results=results)
            log.debug("frame %d: crop pass on %d region(s) %s", frame.index, len(rects), rects)
        if masks:
            if prob.shape[:2] != (work[1], work[0]):
                prob = cv2.resize(prob, work, interpolation=cv2.INTER_LINEAR)
            prob = merge_person_masks(prob, masks, only=main)
        self.last.pose_people = len(masks)
        self.last.crops = len(rects) + len(masks)
        return prob, rects, masks

    def _pose_selection(
        self, people: list[Person], chosen: Candidate | None, frame_hw: tuple[int, int]
    ) -> list[Person]:
        """The whole-body people the pose-landmark pass is for (with ``subject="main"``: the subject only)."""
        if self.options.subject == "main":
            target = match_person(chosen.box, people) if chosen is not None else None
            people = [target] if target is not None else []
        return full_body_people(people, frame_hw, max_side=self.pose_max_side, limit=self.pose_limit)

    def _run_pose(self, image: np.ndarray, selected: list[Person]) -> list[PersonMask]:
        """Per-person masks (pose-landmark model) of ``selected``, at work size; the model opens on first use."""
        if not selected:
            return []
        h, w = image.shape[:2]
        self.last.runs += sum(1 for p in selected if p.roi_result is None)
        masks = person_masks(image, selected, self.pose, upsample.guide_size((w, h), self.work_side))
        if masks:
            log.debug("pose-landmark pass on %d person(s)", len(masks))
        return masks

    def _person_masks(
        self, image: np.ndarray, people: list[Person], chosen: Candidate | None, first: np.ndarray
    ) -> list[PersonMask]:
        """Per-person masks of the whole-body people, at work size (``first``: the first pass, any size)."""
        return self._run_pose(image, self._pose_selection(people, chosen, (image.shape[0], image.shape[1])))

    def _steady(self, rects: list[Rect]) -> list[Rect]:
        """The crops to segment, given the ones found in this frame (video keeps them from jittering)."""
        return rects

    def _crop_plan(self, image: np.ndarray, rects: list[Rect]) -> tuple[list[Rect], dict[Rect, np.ndarray] | None]:
        """The crops to merge and the results already known for some of them (photos: all crops, none known)."""
        self.last.runs += len(rects)
        return rects, None

    # -- what each mode does its own way ----------------------------------------------

    def _find_people_aside(self, image: np.ndarray, frame: Frame) -> Callable[[], list[Person]]:
        """Start :meth:`_find_people` in a second thread; the returned call waits for its people.

        The detectors and the first pass are separate models, and TFLite releases the GIL,
        so on two cores the first pass costs no extra wall time beside them (a 12-MP photo,
        one selfie: detectors ~37 ms, first pass ~15 ms).
        """
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livebokeh-people")
        found = pool.submit(self._find_people, image, frame)
        pool.shutdown(wait=False)
        return found.result

    @abstractmethod
    def _working_image(self, frame: Frame) -> np.ndarray:
        """The working copy of the frame: the detectors and crops look at it (photos: the first pass too)."""

    @abstractmethod
    def _segment(self, frame: Frame, image: np.ndarray) -> np.ndarray:
        """The first pass: the segmenter's mask of the whole frame (``image`` is its working copy)."""

    @abstractmethod
    def _find_people(self, image: np.ndarray, frame: Frame) -> list[Person]:
        """The people in the working copy ``image`` of ``frame``."""

    @abstractmethod
    def _crop_boxes(self, people: list[Person], prob: np.ndarray, frame_hw: tuple[int, int]) -> list[Box]:
        """Boxes (working-copy pixels) that may get a selfie crop when everyone stays sharp."""

    @abstractmethod
    def _finish(
        self,
        frame: Frame,
        image_hw: tuple[int, int],
        prob: np.ndarray,
        rects: list[Rect],
        masks: list[PersonMask],
    ) -> Mask:
        """The :class:`~livebokeh.frames.Mask` of ``frame`` from the refined ``prob``."""

"""Mask estimation for a photo: larger sizes, a fresh look at every person, a search for the ones detectors miss.

Each photo is independent and has time to spare, so :class:`PhotoEstimator` works on a
copy of up to ``WORKING_SIDE`` pixels, detects people afresh, runs the rotation search
for a person the detectors missed (upside down, lying), gives the pose-landmark pass to
up to six whole-body people, and records how finely each part of the mask was segmented
(:attr:`~livebokeh.frames.Mask.density`) so that the compositor side restores edge detail
only where the model saw the photo coarsely.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import cv2
import numpy as np

from ..config import MatteOptions
from ..frames import Frame, Mask
from ..people.box import Box, Rect, iou
from ..people.detect import DetectorProtocol
from ..people.person import MAX_ROI_SIDE, Person, close_up
from ..people.pose import PersonMask, PoseSegmenterProtocol
from ..people.roi import roi_from_face
from ..people.search import search_person
from ..segmentation import SegmenterProtocol
from . import upsample
from .crops import blob_boxes
from .estimate import MaskEstimator
from .subject import Candidate

log = logging.getLogger(__name__)

PHOTO_WORK_SIDE = 768
"""Long side of the mask after a crop pass, for photos."""

WORKING_SIDE = 1536
"""Large frames (photos) are segmented, searched and cropped from a copy with this long side:
the models see at most a few hundred pixels, and shrinking 12 MP once is far cheaper than
shrinking it for every model and crop."""

PHOTO_POSE_PEOPLE = 6
"""In photos, at most this many people get the pose-landmark pass."""

PHOTO_SEARCH = True
"""Photos: look for a person the detectors missed (upside down, lying) with the pose-landmark
model's rotation search around the frame centre (about 9 invokes, ~130 ms here)."""

PHOTO_POSE_THREADS = 2
"""Photos: threads for the pose-landmark model (the search and per-person passes are its
heaviest users; one photo at a time has the cores to itself)."""

SAME_PERSON_IOU = 0.5
"""A person the search found whose body box overlaps a detected one's by more than this is that person."""

NEAR_PERSON_IOU = 0.3
"""With everyone kept, a found person overlapping anyone detected by more than this adds nothing."""


class PhotoEstimator(MaskEstimator):
    """:class:`~.estimate.MaskEstimator` for independent photos.

    ``search`` turns the rotation search for a person the detectors missed on or off.
    The first pass and the crops use the segmenter's still-photo view where its class has
    one (``for_stills``: e.g. the square model for 3:2 photos that a stream would give the
    landscape one).
    """

    work_side = PHOTO_WORK_SIDE
    crop_max_height = 1.0
    pose_max_side = MAX_ROI_SIDE
    pose_limit = PHOTO_POSE_PEOPLE
    pose_threads = PHOTO_POSE_THREADS
    auto_matting = True
    people_aside = True

    def __init__(
        self,
        segmenter: SegmenterProtocol,
        options: MatteOptions | None = None,
        *,
        detector: DetectorProtocol | None = None,
        pose: PoseSegmenterProtocol | None = None,
        matting: SegmenterProtocol | None = None,
        search: bool = PHOTO_SEARCH,
    ) -> None:
        super().__init__(segmenter, options, detector=detector, pose=pose, matting=matting)
        for_stills = getattr(type(segmenter), "for_stills", None)  # a wrapper is not bypassed
        self.crop_segmenter = for_stills(segmenter) if callable(for_stills) else segmenter
        self.search = search

    def _working_image(self, frame: Frame) -> np.ndarray:
        return working_copy(frame.image, WORKING_SIDE)

    def _segment(self, frame: Frame, image: np.ndarray) -> np.ndarray:
        return self.crop_segmenter.segment(image)

    def _find_people(self, image: np.ndarray, frame: Frame) -> list[Person]:
        people = self.detector.detect(image)
        if self.search and self.options.crops:
            people = self._search(image, people)
        return people

    def _search(self, image: np.ndarray, people: list[Person]) -> list[Person]:
        """``people`` plus a person found by the rotation search at the frame centre, if new.

        Skipped when someone is a close-up (their face-guessed ROI is over ``MAX_ROI_SIDE``
        frame heights): the selfie model handles that framing.  A found person that a
        pose-detector person already covers is not added again.  With ``subject="main"`` one
        that matches a person seen only by the face detector replaces that person's guessed
        body box and ROI; otherwise only a person overlapping nobody found is added.
        """
        h = image.shape[0]
        faces = [p.face for p in people if p.face is not None and p.sources[0].startswith("face")]
        if any(roi_from_face(f).side > MAX_ROI_SIDE * h for f in faces):
            return people
        found = search_person(image, self.pose)
        self.last.found = found
        if found is None:
            return people
        if any("pose-detection" in p.sources and iou(p.body, found.body) > SAME_PERSON_IOU for p in people):
            return people  # the detector already has this person
        result = (found.prob, found.presence)  # the pose pass need not run this ROI again
        if self.options.subject != "main":
            # everyone is kept anyway: only a person nobody has found yet is worth adding (the
            # search region is the frame centre, not fitted to someone already detected there)
            if any(iou(p.body, found.body) > NEAR_PERSON_IOU for p in people):
                return people
        else:
            same = [i for i, p in enumerate(people) if iou(p.body, found.body) > SAME_PERSON_IOU]
            if same:  # someone seen only by the face detector: the search places their body better
                people = list(people)
                p = people[same[0]]
                people[same[0]] = replace(
                    p, body=found.body, roi=found.roi, roi_result=result, sources=[*p.sources, "roi-search"]
                )
                return people
        log.debug("rotation search found a person at %s (presence %.2f)", found.body, found.presence)
        person = Person(body=found.body, score=found.presence, sources=["roi-search"], roi=found.roi, roi_result=result)
        return [*people, person]

    def _choose(self, people: list[Person], prob: np.ndarray, size: tuple[int, int]) -> Candidate | None:
        self._tracker.reset()  # photos are independent: no choice carried over
        return super()._choose(people, prob, size)

    def _crop_boxes(self, people: list[Person], prob: np.ndarray, frame_hw: tuple[int, int]) -> list[Box]:
        # a close-up gets no crop: the crop would only cut the person off (the selfie model is made for that framing)
        return [p.body for p in people if not close_up(p, frame_hw)] + blob_boxes(prob, frame_hw)

    def _finish(
        self, frame: Frame, image_hw: tuple[int, int], prob: np.ndarray, rects: list[Rect], masks: list[PersonMask]
    ) -> Mask:
        alpha = np.ascontiguousarray(prob, dtype=np.float32)
        density = self._density(alpha.shape[:2], image_hw, frame.image.shape[1], rects, masks)
        return Mask(alpha=alpha, timestamp_ns=frame.timestamp_ns, index=frame.index, density=density)

    def _density(
        self,
        shape: tuple[int, ...],
        image_hw: tuple[int, int],
        full_width: int,
        rects: list[Rect],
        masks: list[PersonMask],
    ) -> np.ndarray | float:
        """How finely each part of a mask of ``shape`` was segmented, in model pixels per frame pixel.

        The first pass sees the whole working copy (``image_hw``) at the model's input size; a
        crop or a pose-landmark ROI sees its own region at its own, and where one was merged in,
        the finer of the two holds.  A scalar when the mask is the first pass alone.  The matting
        model of ``quality="best"`` only moves the first pass's edges by a few pixels and does not
        count as a finer look: the colour-line step still pays off on its soft edge (dev portraits,
        boundary F1 over raw: +0.066 without the step there, +0.077 with it).
        """
        h, w = image_hw
        per_frame_px = w / full_width
        mh, mw = self.crop_segmenter.input_size_for((h, w, 3))
        first = min(mh / h, mw / w) * per_frame_px
        if not rects and not masks:
            return first
        density = np.full(shape[:2], first, np.float32)
        sy, sx = shape[0] / h, shape[1] / w
        for x0, y0, x1, y1 in rects:
            ch, cw = self.crop_segmenter.input_size_for((y1 - y0, x1 - x0, 3))
            part = density[int(y0 * sy) : int(np.ceil(y1 * sy)), int(x0 * sx) : int(np.ceil(x1 * sx))]
            np.maximum(part, min(ch / (y1 - y0), cw / (x1 - x0)) * per_frame_px, out=part)
        pose_size = self.pose.size if masks else 0
        for m in masks:
            assert m.person.roi is not None
            d = pose_size / m.person.roi.side * per_frame_px
            coverage = m.coverage if m.coverage.shape == density.shape else _resized(m.coverage, density.shape)
            np.maximum(density, np.where(coverage > 0.5, np.float32(d), np.float32(0.0)), out=density)
        return density


def _resized(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return cv2.resize(values, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def working_copy(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` itself if its long side is at most ``side``, else a shrunk copy (nearest to 2x, then area)."""
    h, w = image.shape[:2]
    if max(h, w) <= side:
        return image
    gw, gh = upsample.guide_size((w, h), side)
    if 2 * gw >= w:  # a mild shrink (e.g. 1080p -> 1536): linear is ~10x cheaper than area here
        return cv2.resize(image, (gw, gh), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(image, (2 * gw, 2 * gh), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(small, (gw, gh), interpolation=cv2.INTER_AREA)

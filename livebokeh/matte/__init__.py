"""Where the mask is refined: from the segmenter's output to the alpha that is applied.

:class:`Matte` has two halves, each used from one thread:

* :meth:`Matte.compute` (inference side) runs the segmenter on a frame and does all
  low-resolution work that depends only on that frame and earlier masks: the person
  detectors, the crop pass and the per-person pose-landmark pass for whole-body people
  (``segmentation.people``; for photos also a rotation search at the frame centre for a
  person the detectors missed, e.g. upside down), main-subject choice and stray-blob removal
  (``subject``), and temporal smoothing (``temporal``).
* :meth:`Matte.apply_to` (compositor side) takes the newest mask and the frame it is
  about to be applied to, moves the mask if it is older than the frame (``warp``), and
  returns full-resolution ``uint8`` alpha (255 = person) through the edge-aware
  upsampling guided by that frame (``upsample``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import cv2
import numpy as np

from ..config import MatteOptions
from ..frames import Frame, Mask
from ..segmentation import SegmenterProtocol
from . import upsample
from .subject import SubjectTracker, candidates, drop_stray_blobs, keep_region
from .temporal import GuideSmoother, TemporalFilter
from .warp import MaskWarper, flow_grey, shift_box

__all__ = ["Matte"]

log = logging.getLogger(__name__)

VIDEO_WORK_SIDE = 384
"""Long side of the mask after a crop pass, for video (crops are merged at this size)."""

PHOTO_WORK_SIDE = 768
"""Long side of the mask after a crop pass, for photos."""

VIDEO_CROP_MAX_HEIGHT = 0.5
"""In video, only people shorter than this fraction of the frame get a crop pass (one more
inference each, every frame); photos crop whoever the crop shows at higher resolution."""

WORKING_SIDE = 1536
"""Large frames (photos) are segmented, searched and cropped from a copy with this long side:
the models see at most a few hundred pixels, and shrinking 12 MP once is far cheaper than
shrinking it for every model and crop."""

VIDEO_WORKING_SIDE = 640
"""Video frames are detected and cropped from the frame's smallest halving (``Frame.reduced``)
with a long side of at least this (1080p -> 960 x 540, 720p -> 640 x 360): a person small
enough to need a crop still spans a few hundred pixels there, and the halving is shared with
the model input, the optical flow and the guide image, so a frame is shrunk once."""

VIDEO_POSE_PEOPLE = 2
"""In video, at most this many people per frame get the pose-landmark pass (about 15 ms each)."""

PHOTO_POSE_PEOPLE = 6
"""In photos, at most this many people get the pose-landmark pass."""

VIDEO_POSE_MAX_SIDE = 1.6
"""In video, only people whose pose ROI is at most this many frame heights get the pose-landmark
pass every frame: whole bodies, which the selfie model smears; close-ups keep the selfie result."""

PHOTO_SEARCH = True
"""Photos: look for a person the detectors missed (upside down, lying) with the pose-landmark
model's rotation search around the frame centre (about 9 invokes, ~130 ms here)."""

PHOTO_POSE_THREADS = 2
"""Photos: threads for the pose-landmark model (the search and per-person passes are its
heaviest users; one photo at a time has the cores to itself)."""

BOX_FLOW_SIDE = 128
"""Long side of the grey images whose optical flow moves the people's boxes between detector runs:
a box moves by the median flow inside it, which needs no finer grid (a third of the cost at 256)."""

DETECT_EVERY = 10
"""In video, run the person detectors on every N-th computed mask; between, their boxes follow the optical flow."""


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
        # photos: the segmenter's still-photo view where its class has one (a wrapper is not bypassed)
        for_stills = None if video else getattr(type(segmenter), "for_stills", None)
        self._seg: SegmenterProtocol = for_stills(segmenter) if callable(for_stills) else segmenter
        self.options = options or MatteOptions()
        self.video = video
        self._detector = detector
        self._people: list = []
        self._people_grey: np.ndarray | None = None
        self._rects: list = []
        self._computed = 0
        self._pose: object | None = None
        self._tracks: list = []  # video: next-frame ROIs of the people the pose pass segmented
        self._rejected: list = []  # video: bodies the pose pass found no person in, until the next detection
        self._fresh = False  # video: the people of this compute() come from a detector run, not the flow
        self._tracker = SubjectTracker()
        self._temporal = TemporalFilter() if video and self.options.temporal else None
        self._smoother = GuideSmoother() if video and self.options.temporal else None
        self._warper: MaskWarper | None = None
        self._box_warper: MaskWarper | None = None
        self._guide_side = upsample.VIDEO_GUIDE_SIDE if video else upsample.PHOTO_GUIDE_SIDE
        self._work_side = VIDEO_WORK_SIDE if video else PHOTO_WORK_SIDE
        self.last_crop_seconds = 0.0
        """Time the last :meth:`compute` spent on detectors and the crop pass (0 when none ran)."""
        self.last_crops = 0
        """How many crops the last :meth:`compute` segmented (selfie crops plus per-person pose ROIs)."""
        self.last_pose_people = 0
        """How many people the last :meth:`compute` segmented with the pose-landmark model."""
        self.search = PHOTO_SEARCH and not video
        """Photos: run the rotation search for a person the detectors missed (see :meth:`_search`)."""
        self.last_found: object | None = None
        """What the rotation search found in the last :meth:`compute` (a ``people.Found``), if anything."""
        self._detail: tuple[np.ndarray, np.ndarray | float] | None = None  # photos: (alpha, _density() of it)

    # -- inference side ---------------------------------------------------------------

    def _segment(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        if self.video:
            return self.segmenter.segment_for_video(image, timestamp_ns)
        return self._seg.segment(image)

    def _find_people(self, image: np.ndarray, flow_grey: np.ndarray | None) -> list:
        """People in ``image``: detected afresh, or (video, between detections) moved along the optical flow."""
        if self._detector is None:
            from ..segmentation.people import PersonDetector

            self._detector = PersonDetector()
        fresh = not self.video or self._computed % DETECT_EVERY == 0
        if fresh or flow_grey is None or self._people_grey is None or self._people_grey.shape != flow_grey.shape:
            self._people = self._detector.detect(image)  # type: ignore[attr-defined]
            self._people_grey = flow_grey
            self._fresh = True
            return self._people
        self._fresh = False
        if not self._people:
            return []
        if self._box_warper is None:
            self._box_warper = MaskWarper()  # inference thread's own; apply_to has another
        flow = self._box_warper.flow(self._people_grey, flow_grey)
        size = (image.shape[1], image.shape[0])
        moved = []
        for p in self._people:
            body = shift_box(p.body, flow, size)
            dx, dy = body[0] - p.body[0], body[1] - p.body[1]
            moved.append(replace(p, body=body, roi=p.roi.shifted(dx, dy) if p.roi is not None else None))
        return moved

    def _search(self, image: np.ndarray, people: list) -> list:
        """Photos: ``people`` plus a person found by the rotation search at the frame centre, if new.

        Skipped when someone is a close-up (their face-guessed ROI is over ``MAX_ROI_SIDE``
        frame heights): the selfie model handles that framing.  A found person that a
        pose-detector person already covers is not added again.  With ``subject="main"`` one
        that matches a person seen only by the face detector replaces that person's guessed
        body box and ROI; otherwise only a person overlapping nobody found is added.
        """
        from ..segmentation.people import MAX_ROI_SIDE, Person, PoseSegmenter, roi_from_face, search_person
        from .subject import _box_iou

        h = image.shape[0]
        faces = [p.face for p in people if p.face is not None and p.sources[0].startswith("face")]
        if any(roi_from_face(f).side > MAX_ROI_SIDE * h for f in faces):
            return people
        if self._pose is None:
            self._pose = PoseSegmenter(num_threads=PHOTO_POSE_THREADS)
        found = search_person(image, self._pose)  # type: ignore[arg-type]
        self.last_found = found
        if found is None:
            return people
        if any("pose-detection" in p.sources and _box_iou(p.body, found.body) > 0.5 for p in people):
            return people  # the detector already has this person
        result = (found.prob, found.presence)  # the pose pass need not run this ROI again
        if self.options.subject != "main":
            # everyone is kept anyway: only a person nobody has found yet is worth adding (the
            # search region is the frame centre, not fitted to someone already detected there)
            if any(_box_iou(p.body, found.body) > 0.3 for p in people):
                return people
        else:
            same = [i for i, p in enumerate(people) if _box_iou(p.body, found.body) > 0.5]
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

    def _with_tracks(self, people: list, frame_hw: tuple[int, int]) -> list:
        """Video: people with the ROIs the pose landmarks predicted for this frame.

        A tracked ROI replaces the detector's for the same person (it follows turns and
        poses the detector misses, as MediaPipe's own tracking does), and a tracked
        person the detector lost this frame is kept as a person of its own.
        """
        if not self._tracks:
            return people
        from ..segmentation.people import Person

        h, w = frame_hw
        out = list(people)
        for roi in self._tracks:
            cx, cy = roi.centre
            near = [
                i
                for i, p in enumerate(out)
                if p.roi is not None and np.hypot(p.roi.centre[0] - cx, p.roi.centre[1] - cy) < 0.25 * roi.side
            ]
            if near:
                out[near[0]] = replace(out[near[0]], roi=roi)
                continue
            r = roi.side / 2.5  # the body circle inside the ROI
            body = (max(0.0, cx - r), max(0.0, cy - r), min(float(w), cx + r), min(float(h), cy + r))
            out.append(Person(body=body, score=0.5, sources=["pose-track"], roi=roi))
        return out

    def _person_masks(self, image: np.ndarray, people: list, chosen: object | None) -> list:
        """Per-person masks (pose-landmark model) of the whole-body people, at work size."""
        from ..segmentation.people import MAX_ROI_SIDE, PoseSegmenter, full_body_people, person_masks
        from .subject import match_person

        h, w = image.shape[:2]
        self._tracks = []
        if self.options.subject == "main":
            target = match_person(chosen.box, people) if chosen is not None else None  # type: ignore[attr-defined]
            people = [target] if target is not None else []
        max_side = VIDEO_POSE_MAX_SIDE if self.video else MAX_ROI_SIDE
        limit = VIDEO_POSE_PEOPLE if self.video else PHOTO_POSE_PEOPLE
        selected = full_body_people(people, (h, w), max_side=max_side, limit=limit)
        rejected: list = []
        if self.video and not self._fresh and self._rejected:
            # A detection the pose model judged empty (a false positive: a poster, a coat) is not
            # tried again every frame while it only follows the flow; the next detection retries it.
            rejected = [p for p in selected if any(_box_iou4(p.body, b) > 0.5 for b in self._rejected)]
            selected = [p for p in selected if not any(p is r for r in rejected)]
        if not selected:
            self._rejected = [p.body for p in rejected]
            return []
        if self._pose is None:
            self._pose = PoseSegmenter(num_threads=1 if self.video else PHOTO_POSE_THREADS)
        work = upsample.guide_size((w, h), self._work_side)
        masks = person_masks(image, selected, self._pose, work)  # type: ignore[arg-type]
        if self.video:
            self._tracks = [m.track for m in masks if m.track is not None]
            kept = [m.person for m in masks]
            rejected += [p for p in selected if not any(p is k for k in kept) and p.roi_result is None]
            self._rejected = [p.body for p in rejected]
        if masks:
            log.debug("pose-landmark pass on %d person(s)", len(masks))
        return masks

    def _steady(self, rects: list) -> list:
        """Keep last frame's crop where the new one is nearly the same, so crops do not jitter."""
        out = []
        for r in rects:
            same = [p for p in self._rects if _rect_iou(p, r) > 0.7]
            out.append(same[0] if same else r)
        self._rects = out
        return out

    def compute(self, frame: Frame) -> Mask:
        """Segment one frame (inference side): crops, subject choice, temporal smoothing."""
        full = frame.image
        if self.video:
            image = frame.reduced(VIDEO_WORKING_SIDE)
            mh, mw = self.segmenter.input_size_for(full.shape)
            prob = self._segment(frame.resized((mw, mh)), frame.timestamp_ns)
        else:
            image = _working_copy(full, WORKING_SIDE)
            prob = self._segment(image, frame.timestamp_ns)
        h, w = image.shape[:2]
        opts = self.options
        self.last_crop_seconds, self.last_crops, self.last_pose_people = 0.0, 0, 0
        guide = flow_grey(frame) if self.video else None
        people: list = []
        chosen = None
        rects: list = []
        masks: list = []
        if opts.crops or opts.subject == "main":
            start = time.perf_counter()
            people = self._find_people(image, flow_grey(frame, BOX_FLOW_SIDE) if self.video else None)
            self.last_found = None
            if self.search and opts.crops:
                people = self._search(image, people)
            if self.video and opts.crops:
                people = self._with_tracks(people, (h, w))
            if opts.subject == "main":
                if not self.video:
                    self._tracker.reset()  # photos are independent: no choice carried over
                chosen = self._tracker.choose(candidates(people, prob, (w, h)))
            if opts.crops:
                from ..segmentation.people import (
                    blob_boxes,
                    close_up,
                    crop_rect,
                    crop_regions,
                    merge_crops,
                    merge_person_masks,
                )

                if opts.subject == "main":
                    boxes = [chosen.box] if chosen is not None else []
                else:
                    boxes = [p.body for p in people if self.video or not close_up(p, (h, w))]
                    boxes += blob_boxes(prob, (h, w))
                max_height = VIDEO_CROP_MAX_HEIGHT if self.video else 1.0
                masks = self._person_masks(image, people, chosen)
                rects = crop_regions(boxes, (h, w), self._seg.input_size_for, max_height=max_height)
                if masks:  # a person the pose model segmented needs no selfie crop: its result would be replaced
                    done = [crop_rect(m.person.body, (h, w)) for m in masks]
                    rects = [r for r in rects if not any(_rect_iou(r, d) > 0.5 for d in done)]
                if self.video:
                    rects = self._steady(rects)
                work = upsample.guide_size((w, h), self._work_side)
                if rects:
                    prob = merge_crops(image, prob, rects, self._seg.segment, work, people=people)
                    log.debug("frame %d: crop pass on %d region(s) %s", frame.index, len(rects), rects)
                if masks:
                    if prob.shape[:2] != (work[1], work[0]):
                        prob = cv2.resize(prob, work, interpolation=cv2.INTER_LINEAR)
                    prob = merge_person_masks(prob, masks, only=opts.subject == "main")
                self.last_pose_people = len(masks)
                self.last_crops = len(rects) + len(masks)
            self.last_crop_seconds = time.perf_counter() - start
        if chosen is not None:
            prob = keep_region(prob, chosen.box, (w, h))
        prob = drop_stray_blobs(prob, people, (w, h))
        if self._temporal is not None and guide is not None:
            prob = self._temporal.update(prob, guide)
        self._computed += 1
        alpha = np.ascontiguousarray(prob, dtype=np.float32)
        if not self.video:
            self._detail = (alpha, self._density(alpha.shape[:2], (h, w), full.shape[1], rects, masks))
        return Mask(alpha=alpha, timestamp_ns=frame.timestamp_ns, index=frame.index, guide=guide)

    def _density(
        self, shape: tuple[int, ...], image_hw: tuple[int, int], full_width: int, rects: list, masks: list
    ) -> np.ndarray | float:
        """Photos: how finely each part of a mask of ``shape`` was segmented, in model pixels per frame pixel.

        The first pass sees the whole working copy (``image_hw``) at the model's input size; a
        crop or a pose-landmark ROI sees its own region at its own, and where one was merged in,
        the finer of the two holds.  A scalar when the mask is the first pass alone.
        """
        h, w = image_hw
        per_frame_px = w / full_width
        mh, mw = self._seg.input_size_for((h, w, 3))
        first = min(mh / h, mw / w) * per_frame_px
        if not rects and not masks:
            return first
        density = np.full(shape[:2], first, np.float32)
        sy, sx = shape[0] / h, shape[1] / w
        for x0, y0, x1, y1 in rects:
            ch, cw = self._seg.input_size_for((y1 - y0, x1 - x0, 3))
            part = density[int(y0 * sy) : int(np.ceil(y1 * sy)), int(x0 * sx) : int(np.ceil(x1 * sx))]
            np.maximum(part, min(ch / (y1 - y0), cw / (x1 - x0)) * per_frame_px, out=part)
        for m in masks:
            d = getattr(self._pose, "size", 256) / m.person.roi.side * per_frame_px
            np.maximum(density, np.where(m.coverage > 0.5, np.float32(d), np.float32(0.0)), out=density)
        return density

    def _colour_where(self, mask: Mask, guide: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray | bool:
        """Photos: where the colour-line step runs (guide-sized map, or one answer for the whole mask).

        Only where the guide holds at least ``COLOUR_MIN_UPSCALE`` guide pixels per model pixel: see there.
        """
        w = frame_size[0]
        if self._detail is not None and self._detail[0] is mask.alpha:
            density = self._detail[1]
        else:  # a mask this matte did not just compute: judge it by its size alone
            density = min(mask.alpha.shape[0] / frame_size[1], mask.alpha.shape[1] / w)
        guide_per_frame_px = guide.shape[1] / w
        if isinstance(density, np.ndarray):
            small = cv2.resize(density, (guide.shape[1], guide.shape[0]), interpolation=cv2.INTER_NEAREST)
            coarse = guide_per_frame_px >= COLOUR_MIN_UPSCALE * small
            return bool(coarse.all()) if coarse.all() or not coarse.any() else coarse
        return bool(guide_per_frame_px >= COLOUR_MIN_UPSCALE * density)

    # -- compositor side --------------------------------------------------------------

    def apply_to(
        self, mask: Mask, frame: Frame, out: np.ndarray | None = None, *, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """Full-resolution ``uint8`` alpha of ``mask`` for ``frame`` (compositor side).

        If ``mask`` came from an earlier frame and ``compensate`` is on, it is first
        moved along the optical flow between that frame and this one.  ``size``
        (``(width, height)``) asks for the alpha at another size than the frame's - e.g.
        when ``frame`` is a reduced copy of the picture being composited.
        """
        w, h = size if size is not None else (frame.image.shape[1], frame.image.shape[0])
        alpha = mask.alpha
        guide: np.ndarray | None = None
        stale = mask.index != frame.index and mask.guide is not None
        if self.options.refine:
            if self.video:
                guide = upsample.frame_guide(frame, self._guide_side)
            else:
                guide = upsample.guide_image(frame.image, self._guide_side)
        if stale and self.options.compensate:
            if self._warper is None:
                self._warper = MaskWarper()
            alpha = self._warper.warp(alpha, mask.guide, flow_grey(frame))  # type: ignore[arg-type]
        if self.options.refine and guide is not None:
            smoother = None
            if self._smoother is not None:
                smooth, key = self._smoother.update, mask.index

                def smoother(a: np.ndarray, g: np.ndarray) -> np.ndarray:
                    return smooth(a, g, key)

            if self.video:
                return upsample.guided(alpha, guide, (w, h), out=out, smoother=smoother, subsample=2)
            where = self._colour_where(mask, guide, (w, h))
            if where is False:
                return upsample.guided(alpha, guide, (w, h), out=out)
            colour = upsample.colour_guide(frame.image, self._guide_side)
            if where is True:
                return upsample.guided(alpha, guide, (w, h), out=out, colour=colour)
            # only the coarsely segmented parts: the colour-line step by hand, then the filter
            r = upsample.filter_radius(guide.shape, alpha.shape)
            src = cv2.resize(alpha, (guide.shape[1], guide.shape[0]), interpolation=cv2.INTER_LINEAR)
            src = np.where(where, upsample.colour_line(src, colour, 3 * r), src).astype(np.float32)
            return upsample.guided(src, guide, (w, h), out=out, radius=r)
        return upsample.bilinear(alpha, (w, h), out=out)

    def reset(self) -> None:
        """Forget temporal state (a new stream starts)."""
        if self._temporal is not None:
            self._temporal.reset()
        if self._smoother is not None:
            self._smoother.reset()
        self._tracker.reset()
        self._people = []
        self._people_grey = None
        self._rects = []
        self._tracks = []
        self._rejected = []
        self._fresh = False
        self._computed = 0


COLOUR_MIN_UPSCALE = 2.0
"""Photos: the colour-line step (:func:`upsample.colour_line`) runs only where the guide image has at least
this many pixels per model pixel across, i.e. where the mask came from a model that saw that part of the
photo at half the guide's resolution or less.  There it restores the edge detail that the model's coarse
grid could not hold; where a model saw the region about as finely as the guide (a small photo, a crop,
a pose-landmark ROI), its own edge is as good as the colours say, and re-estimating it adds colour noise."""


def _rect_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _box_iou4(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _working_copy(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` itself if its long side is at most ``side``, else a shrunk copy (nearest to 2x, then area)."""
    h, w = image.shape[:2]
    if max(h, w) <= side:
        return image
    gw, gh = upsample.guide_size((w, h), side)
    if 2 * gw >= w:  # a mild shrink (e.g. 1080p -> 1536): linear is ~10x cheaper than area here
        return cv2.resize(image, (gw, gh), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(image, (2 * gw, 2 * gh), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(small, (gw, gh), interpolation=cv2.INTER_AREA)

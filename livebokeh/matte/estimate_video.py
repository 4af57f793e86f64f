"""Mask estimation for a stream: cheap sizes, detectors every few frames, people followed in between, smoothing.

A stream has a budget per frame, so :class:`VideoEstimator` segments a small copy,
runs the person detectors on every ``DETECT_EVERY``-th mask only (their boxes follow
the optical flow in between), gives the pose-landmark pass to at most two whole-body
people - afresh for whoever moves, every ``POSE_REUSE``-th mask for whoever stands
still - follows those people with the ROIs their landmarks predict, gives selfie crops to the
small people the detectors found (one afresh per mask), and smooths the mask over time
(:mod:`.temporal`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..config import MatteOptions
from ..frames import Frame, Mask
from ..people.box import Box, Rect, iou, scale_box
from ..people.detect import DetectorProtocol
from ..people.person import Person
from ..people.pose import PersonMask, PoseSegmenterProtocol
from ..people.roi import PersonRoi
from ..segmentation import SegmenterProtocol
from .confident import CONFIDENT
from .estimate import MaskEstimator
from .subject import Candidate
from .temporal import DECISIVE_BAND, TemporalFilter, decisive
from .warp import MaskWarper, flow_grey, shift_box

VIDEO_WORK_SIDE = 384
"""Long side of the mask after a crop pass, for video (crops are merged at this size)."""

VIDEO_CROP_MAX_HEIGHT = 0.5
"""In video, only people shorter than this fraction of the frame get a crop pass (one more
inference each, every frame); photos crop whoever the crop shows at higher resolution."""

VIDEO_WORKING_SIDE = 640
"""Video frames are detected and cropped from the frame's smallest halving (``Frame.reduced``)
with a long side of at least this (1080p -> 960 x 540, 720p -> 640 x 360): a person small
enough to need a crop still spans a few hundred pixels there, and the halving is shared with
the model input, the optical flow and the guide image, so a frame is shrunk once."""

VIDEO_POSE_PEOPLE = 2
"""In video, at most this many people per frame get the pose-landmark pass (about 15 ms each)."""

VIDEO_POSE_MAX_SIDE = 1.6
"""In video, only people whose pose ROI is at most this many frame heights get the pose-landmark
pass every frame: whole bodies, which the selfie model smears; close-ups keep the selfie result."""

BOX_FLOW_SIDE = 128
"""Long side of the grey images whose optical flow moves the people's boxes between detector runs:
a box moves by the median flow inside it, which needs no finer grid (a third of the cost at 256)."""

DETECT_EVERY = 10
"""In video, run the person detectors on every N-th computed mask; between, their boxes follow the optical flow."""

TRACK_NEAR = 0.25
"""A tracked ROI whose centre is within this fraction of its side from a detected person's ROI centre is that person."""

TRACK_BODY = 2.5
"""A tracked ROI's side is this many times the radius of the body circle inside it (ROI side = 2 x 1.25 x radius)."""

GAP_SMOOTHING = 0.2
"""How fast the detectors' clock follows a change in the number of frames between masks (a share per mask)."""

COST_DETECT_FACTOR = 3
"""At ``cost_level`` 1 (set by the live CPU governor) the detectors run this many times less often."""

REJECTED_IOU = 0.5
"""A flowed body box overlapping by more than this one the pose model found empty is the same false detection."""

CROPS_PER_MASK = 1
"""Selfie crops segmented afresh per mask.  The others reuse their last result (a crop's rectangle stays put
while its person stays inside, :meth:`VideoEstimator._steady`), stalest refreshed first, so the cost of a
group scene stops growing with the number of people: with seven people in crops, each is refreshed about
every seventh mask, and the temporal filter hides the steps."""

MAX_REUSE = 8
"""A crop result older than this many masks is not reused: that crop waits for its turn instead."""

STILL_MAX_REUSE = 30
"""... unless the picture inside the crop has stayed still since (``STILL_LEVEL``): then it is reused for up to
this many masks, and the fresh crop of a mask goes to someone who moved."""

POSE_REUSE = 10
"""A still person's pose-landmark result is reused for up to this many masks (moved with their box),
so the pass runs about 1/POSE_REUSE as often for an audience or a seated group; whoever moves is
segmented afresh every mask."""

STILL_LEVEL = 2.0
"""A person is still when the grey picture inside their box (``BOX_FLOW_SIDE`` copy, the box followed
along the flow, smoothed by ``STILL_SIGMA``) differs from the one their pose result was made on by less
than this mean level.  On the DAVIS dance clips a dancer differs by 3-6 one mask later (10th
percentile - median), 8-21 five masks later; on a 1080p group clip (a photo under a slow hand-held
drift) the still people by 0.4 (median) one mask later, 1.2 five masks later."""

CLEAN_SURE = 0.3
"""In video, a person (``subject="all"``) whose body box the first pass is sure of (probability at least
``confident.CONFIDENT``) over at least this share ...

The first pass is sure of someone standing upright at a fair size, so the pose-landmark pass (about 9 ms a
person) goes to whom it smears: on the 1080p seven-person clip, pose calls 175 -> 117 a 300-frame run, and
``bench convert`` 0.68 -> 0.69-0.71 of a plain transcode's speed; moving-person clips' IoU up by up to 0.008
(the seven-person photo's), down on one (the DAVIS twirl, 0.818 -> 0.815)."""

CLEAN_DOUBT = 0.15
"""... and in doubt (probability between ``1 - CONFIDENT`` and ``CONFIDENT``) over at most this
share, keeps the first pass: the pose-landmark pass is skipped for them."""

STILL_SIGMA = 1.5
"""Gaussian sigma, in ``BOX_FLOW_SIDE`` pixels, applied before the stillness comparison: at that size a
crowd's texture is nearly pixel-sized, and a camera drift of a tenth of a pixel would read as motion."""


@dataclass(slots=True)
class _PoseResult:
    """One person's pose-landmark result as made: its ROI and body box, ROI-space probability and presence, the grey
    picture inside the body box then, and the number of the mask it was made for."""

    roi: PersonRoi
    body: Box
    prob: np.ndarray
    presence: float
    patch: np.ndarray
    made: int


class VideoEstimator(MaskEstimator):
    """:class:`~.estimate.MaskEstimator` for a stream: feed it the frames of one stream in order."""

    work_side = VIDEO_WORK_SIDE
    crop_max_height = VIDEO_CROP_MAX_HEIGHT
    pose_max_side = VIDEO_POSE_MAX_SIDE
    pose_limit = VIDEO_POSE_PEOPLE
    pose_threads = 1
    auto_matting = False
    people_aside = False
    cost_level = 0
    """How much the matte may save, set by the live pipeline's CPU governor: 0 nothing; 1 the
    person detectors run ``COST_DETECT_FACTOR`` times less often (their boxes follow the flow)."""

    def __init__(
        self,
        segmenter: SegmenterProtocol,
        options: MatteOptions | None = None,
        *,
        detector: DetectorProtocol | None = None,
        pose: PoseSegmenterProtocol | None = None,
        matting: SegmenterProtocol | None = None,
    ) -> None:
        super().__init__(segmenter, options, detector=detector, pose=pose, matting=matting)
        self._temporal = TemporalFilter() if self.options.temporal else None
        self._box_warper: MaskWarper | None = None  # the inference thread's own; the applier has another
        self._people: list[Person] = []  # the people of the last detector run, moved along the flow since
        self._people_grey: np.ndarray | None = None
        self._fresh = False  # the people of this compute() come from a detector run, not the flow
        self._tracks: list[PersonRoi] = []  # next-frame ROIs of the people the pose pass segmented
        self._grey: np.ndarray | None = None  # this mask's BOX_FLOW_SIDE grey picture
        self._poses: list[_PoseResult] = []  # the pose results a still person may reuse
        self._rejected: list[Box] = []  # bodies the pose pass found no person in, until the next detection
        self._rects: list[Rect] = []
        self._crops: dict[Rect, tuple[np.ndarray, int, np.ndarray | None]] = {}  # steady crop -> (its result,
        # mask number made, the grey picture inside it then)
        self._computed = 0
        self._reset_clock()

    def reset(self) -> None:
        super().reset()
        if self._temporal is not None:
            self._temporal.reset()
        self._people = []
        self._people_grey = None
        self._rects = []
        self._crops = {}
        self._tracks = []
        self._poses = []
        self._rejected = []
        self._fresh = False
        self._computed = 0
        self._reset_clock()

    def _working_image(self, frame: Frame) -> np.ndarray:
        return frame.reduced(VIDEO_WORKING_SIDE)

    def _segment(self, frame: Frame, image: np.ndarray) -> np.ndarray:
        mh, mw = self.segmenter.input_size_for(frame.image.shape)
        return self.segmenter.segment_for_video(frame.resized((mw, mh)), frame.timestamp_ns)

    def _find_people(self, image: np.ndarray, frame: Frame) -> list[Person]:
        self._grey = flow_grey(frame, BOX_FLOW_SIDE)
        people = self._detected_or_moved(image, self._grey, frame.index)
        if self.options.crops:
            people = self._with_tracks(people, (image.shape[0], image.shape[1]))
        return people

    def _reset_clock(self) -> None:
        """Forget the frame numbers seen: the detectors' clock (:meth:`_detection_due`) starts again."""
        self._prev_index = -1  # the frame number of the last mask
        self._detected_at = -1  # the frame number and mask number of the last detector run
        self._detected_mask = -1
        self._gap = 0.0  # frames between masks, smoothed (0: none seen yet)

    def _detection_due(self, index: int) -> bool:
        """Whether the detectors run for the frame numbered ``index``: about every ``DETECT_EVERY`` masks, on the
        frame clock.

        At one mask every ``gap`` frames (on average, :data:`GAP_SMOOTHING`) they run on the first mask of
        each block of ``DETECT_EVERY * gap`` frames, so the frames they see do not depend on which frames
        the schedule skipped: a run that skips a few sees the people as one with a mask on every frame does.
        Frames whose numbers do not advance are counted in masks.
        """
        every = DETECT_EVERY * (COST_DETECT_FACTOR if self.cost_level else 1)
        prev, self._prev_index = self._prev_index, index
        since = self._computed - self._detected_mask
        if self._detected_mask < 0:
            return True
        if prev < 0 or index <= prev:
            return since >= every
        gap = min(index - prev, every)
        if self._gap <= 0:  # the first gap seen
            self._gap = gap
        window = every * max(1, round(self._gap))  # the gap so far: one long wait does not move the clock
        self._gap += GAP_SMOOTHING * (gap - self._gap)
        return index // window != self._detected_at // window and since >= every // 2

    def _detected_or_moved(self, image: np.ndarray, grey: np.ndarray, index: int) -> list[Person]:
        """People detected afresh every ``DETECT_EVERY`` masks (:meth:`_detection_due`), else the last ones moved
        along the optical flow."""
        due = self._detection_due(index)
        if due or self._people_grey is None or self._people_grey.shape != grey.shape:
            self._detected_at, self._detected_mask = index, self._computed
            self._people = self.detector.detect(image)
            self._people_grey = grey
            self._fresh = True
            return self._people
        self._fresh = False
        if not self._people:
            return []
        if self._box_warper is None:
            self._box_warper = MaskWarper()
        flow = self._box_warper.flow(self._people_grey, grey)
        size = (image.shape[1], image.shape[0])
        moved = []
        for p in self._people:
            body = shift_box(p.body, flow, size)
            dx, dy = body[0] - p.body[0], body[1] - p.body[1]
            moved.append(replace(p, body=body, roi=p.roi.shifted(dx, dy) if p.roi is not None else None))
        return moved

    def _with_tracks(self, people: list[Person], frame_hw: tuple[int, int]) -> list[Person]:
        """People with the ROIs the pose landmarks predicted for this frame.

        A tracked ROI replaces the detector's for the same person (it follows turns and
        poses the detector misses, as MediaPipe's own tracking does), and a tracked
        person the detector lost this frame is kept as a person of its own.
        """
        if not self._tracks:
            return people
        h, w = frame_hw
        out = list(people)
        for roi in self._tracks:
            cx, cy = roi.centre
            near = [
                i
                for i, p in enumerate(out)
                if p.roi is not None and np.hypot(p.roi.centre[0] - cx, p.roi.centre[1] - cy) < TRACK_NEAR * roi.side
            ]
            if near:
                out[near[0]] = replace(out[near[0]], roi=roi)
                continue
            r = roi.side / TRACK_BODY  # the body circle inside the ROI
            body = (max(0.0, cx - r), max(0.0, cy - r), min(float(w), cx + r), min(float(h), cy + r))
            out.append(Person(body=body, score=0.5, sources=["pose-track"], roi=roi))
        return out

    def _crop_boxes(self, people: list[Person], prob: np.ndarray, frame_hw: tuple[int, int]) -> list[Box]:
        """The detected people only: in video the first pass's blobs get no crop of their own (photos crop both).

        A group behind the subject is one large blob of the first pass, which the selfie model is half
        sure of; a crop of it spent the one fresh crop of every mask (``CROPS_PER_MASK``) and changed no
        score: ``eval --videos`` IoU equal on the moving-person clips (moving-cihp-0012008 -0.0001), up
        on the DAVIS clips (breakdance 0.1748 -> 0.1775, twirl 0.8150 -> 0.8192); talking-head
        instability against raw equal but on liveportrait-s18 (0.304 -> 0.321).  On the 1080p
        seven-person clip it was 1.9 of the about 11 ms a frame of the matte (``bench convert`` 0.743 ->
        0.763, one session)."""
        return [p.body for p in people]

    def _person_masks(
        self, image: np.ndarray, people: list[Person], chosen: Candidate | None, first: np.ndarray
    ) -> list[PersonMask]:
        """As for photos, but a detection the pose model found empty is retried only at the next detector run.

        A detection the pose model judged empty (a false positive: a poster, a coat) is not
        tried again every frame while it only follows the flow; the next detection retries it.
        The people it did segment are followed into the next frame by their landmarks.
        """
        self._tracks = []
        hw = (image.shape[0], image.shape[1])
        if self.options.subject == "all":  # who the first pass segments cleanly needs no pose pass
            people = [p for p in people if not segmented_cleanly(first, p.body, hw)]
        selected = self._pose_selection(people, chosen, hw)
        rejected: list[Person] = []
        if not self._fresh and self._rejected:
            rejected = [p for p in selected if any(iou(p.body, b) > REJECTED_IOU for b in self._rejected)]
            selected = [p for p in selected if not any(p is r for r in rejected)]
        fresh, reused = self._reuse_still(selected, hw)
        masks = self._run_pose(image, fresh + [p for p, _ in reused])  # the reused carry their result
        segmented = [m.person for m in masks]
        rejected += [p for p in fresh if not any(p is s for s in segmented) and p.roi_result is None]
        self._rejected = [p.body for p in rejected]
        self._tracks = [m.track for m in masks if m.track is not None] + [p.roi for p, _ in reused if p.roi is not None]
        results = [r for _, r in reused]
        self._poses = [k for k in self._poses if any(k is r for r in results)]
        for m in masks:
            if m.roi_prob is not None and m.person.roi is not None and m.person.roi_result is None:
                patch = self._patch(m.person.body, hw)
                if patch is not None:
                    pose = _PoseResult(m.person.roi, m.person.body, m.roi_prob, m.presence, patch, self._computed)
                    self._poses.append(pose)
        return masks

    def _reuse_still(
        self, selected: list[Person], frame_hw: tuple[int, int]
    ) -> tuple[list[Person], list[tuple[Person, _PoseResult]]]:
        """Split ``selected`` into the people to segment afresh and the still ones whose last pose result
        (younger than ``POSE_REUSE`` masks) is reused, moved with their box: ``(person with it, result)``."""
        fresh: list[Person] = []
        reused: list[tuple[Person, _PoseResult]] = []
        for p in selected:
            kept = self._kept_pose(p)
            if (
                kept is None
                or p.roi is None
                or p.roi_result is not None
                or not self._still(p.body, frame_hw, kept.patch)
            ):
                fresh.append(p)
                continue
            dx = (p.body[0] + p.body[2] - kept.body[0] - kept.body[2]) / 2
            dy = (p.body[1] + p.body[3] - kept.body[1] - kept.body[3]) / 2
            roi = kept.roi.shifted(dx, dy)
            reused.append((replace(p, roi=roi, roi_result=(kept.prob, kept.presence)), kept))
        return fresh, reused

    def _kept_pose(self, person: Person) -> _PoseResult | None:
        """The kept pose result of the same person (ROI centres near), if young enough to reuse."""
        if person.roi is None:
            return None
        cx, cy = person.roi.centre
        for k in self._poses:
            near = np.hypot(k.roi.centre[0] - cx, k.roi.centre[1] - cy) < TRACK_NEAR * k.roi.side
            if near and self._computed - k.made < POSE_REUSE:
                return k
        return None

    def _patch(self, body: Box, frame_hw: tuple[int, int], size: tuple[int, int] | None = None) -> np.ndarray | None:
        """The grey picture inside ``body`` (working-frame pixels) at ``BOX_FLOW_SIDE``, sampled at the box's
        sub-pixel position (``size``: that many grey pixels, else the box's own size) and smoothed by
        ``STILL_SIGMA``; None if under 4 x 4."""
        grey = self._grey
        if grey is None:
            return None
        gh, gw = grey.shape[:2]
        sx, sy = gw / frame_hw[1], gh / frame_hw[0]
        if size is None:
            size = (round((body[3] - body[1]) * sy), round((body[2] - body[0]) * sx))
        if min(size) < 4:
            return None
        centre = ((body[0] + body[2]) / 2 * sx - 0.5, (body[1] + body[3]) / 2 * sy - 0.5)
        return cv2.GaussianBlur(cv2.getRectSubPix(grey, (size[1], size[0]), centre), (0, 0), STILL_SIGMA)

    def _still(self, box: Box, frame_hw: tuple[int, int], then: np.ndarray) -> bool:
        """Whether the picture inside ``box`` now differs from ``then`` (its :meth:`_patch` when a result was
        made there) by less than ``STILL_LEVEL`` on average."""
        patch = self._patch(box, frame_hw, then.shape[:2])
        return patch is not None and float(cv2.absdiff(patch, then).mean()) < STILL_LEVEL

    def _crop_plan(self, image: np.ndarray, rects: list[Rect]) -> tuple[list[Rect], dict[Rect, np.ndarray] | None]:
        """Segment ``CROPS_PER_MASK`` crops afresh (new ones first, then the stalest that moved); the rest reuse
        their result.

        A result is reused for up to ``MAX_REUSE`` masks, or ``STILL_MAX_REUSE`` while the picture inside
        its crop stays still; a crop with no result yet beyond the budget waits for a later mask.
        """
        now = self._computed
        hw = (image.shape[0], image.shape[1])
        known = {r: v for r, v in self._crops.items() if r in rects and now - v[1] <= STILL_MAX_REUSE}
        due: list[Rect] = []  # new crops, and those whose picture changed since their result
        still: set[Rect] = set()
        for r in rects:
            kept = known.get(r)
            if kept is not None and kept[2] is not None and self._still(r, hw, kept[2]):
                still.add(r)
            else:
                due.append(r)
        order = sorted(due, key=lambda r: known[r][1] if r in known else -1)
        for r in order[:CROPS_PER_MASK]:
            x0, y0, x1, y1 = r
            result = self.crop_segmenter.segment(np.ascontiguousarray(image[y0:y1, x0:x1]))
            known[r] = (result, now, self._patch(r, hw))
            self.last.runs += 1
        results = {r: known[r][0] for r in rects if r in known and (r in still or now - known[r][1] <= MAX_REUSE)}
        self._crops = known
        return [r for r in rects if r in results], results

    def _steady(self, rects: list[Rect]) -> list[Rect]:
        """Keep last frame's crop where the new one is nearly the same, so crops do not jitter."""
        out = []
        for r in rects:
            same = [p for p in self._rects if iou(p, r) > 0.7]
            out.append(same[0] if same else r)
        self._rects = out
        return out

    def _finish(
        self, frame: Frame, image_hw: tuple[int, int], prob: np.ndarray, rects: list[Rect], masks: list[PersonMask]
    ) -> Mask:
        grey = flow_grey(frame)
        if self._temporal is not None:
            prob = self._temporal.update(prob, grey)
        self._computed += 1
        prob = np.asarray(prob, dtype=np.float32)
        # the matting model's soft edge (quality="best") is the point of running it: left as it is
        alpha = np.ascontiguousarray(prob) if self.matting_on else decisive(prob, *DECISIVE_BAND)
        return Mask(alpha=alpha, timestamp_ns=frame.timestamp_ns, index=frame.index, guide=grey)


def segmented_cleanly(first: np.ndarray, body: Box, frame_hw: tuple[int, int]) -> bool:
    """Whether the first pass ``first`` (any size) is sure of the person in ``body`` (pixels of a ``frame_hw``
    picture): sure over at least ``CLEAN_SURE`` of the box and in doubt over at most ``CLEAN_DOUBT``."""
    fh, fw = first.shape[:2]
    x0, y0, x1, y1 = scale_box(body, fw / frame_hw[1], fh / frame_hw[0])
    box = first[max(0, int(y0)) : int(np.ceil(y1)), max(0, int(x0)) : int(np.ceil(x1))]
    if box.size == 0:
        return False
    sure = float(np.count_nonzero(box >= CONFIDENT)) / box.size
    doubt = float(np.count_nonzero((box > 1.0 - CONFIDENT) & (box < CONFIDENT))) / box.size
    return sure >= CLEAN_SURE and doubt <= CLEAN_DOUBT

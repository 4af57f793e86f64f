"""Finding people before segmenting them: the bundled face and pose detectors.

The MediaPipe detectors are single-shot (SSD-style) networks: every output row is a
box and keypoints *relative to a fixed anchor*, with one logit.  The anchors are not
stored in the model, so they are rebuilt here from the published anchor settings
(strides, anchors per cell) and checked against the model's output row count.

* ``face-short`` (128x128, faces within ~2 m) and ``face-full`` (192x192, up to
  ~5 m): box = the face; 6 keypoints (eyes, nose, mouth, ears).
* ``pose-detection`` (224x224, letterboxed): box = the face; keypoint 0 is the
  mid-hip and keypoint 1 lies on the circle around the whole body, so
  ``|kp1 - kp0|`` is the body's radius.

:class:`PersonDetector` runs one or more of them and returns :class:`Person` boxes in
frame pixels, with an estimated whole-body box for each.

Two second passes refine the selfie model's mask around people it sees too small:
:func:`merge_crops` segments a square crop around a small person again with the same
model, and :class:`PoseSegmenter` runs the ``pose-landmark`` model (MediaPipe's pose
network, used here for its per-person segmentation output) on an upright, rotated ROI
around one whole-body person (:class:`PersonRoi`: centred on the hip, turned so the body
points up), whose mask :func:`merge_person_masks` puts back over the frame.  :func:`search_person`
finds a person the detectors missed (upside down, tumbling, lying) by running the
pose-landmark model on one region at several rotations and keeping the most confident.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .. import models
from ..errors import ModelLoadError
from .runtime import make_interpreter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _AnchorSpec:
    """SSD anchor layout of one detector: input side, strides and anchors per cell for each layer."""

    size: int
    strides: tuple[int, ...]
    per_layer: int  # anchors each layer adds per cell (consecutive equal strides share cells)
    score_threshold: float


_SPECS: dict[str, _AnchorSpec] = {
    "face-short": _AnchorSpec(128, (8, 16, 16, 16), 2, 0.5),
    "face-full": _AnchorSpec(192, (4,), 1, 0.6),
    "pose-detection": _AnchorSpec(224, (8, 16, 32, 32, 32), 2, 0.5),
}


def anchors(spec: _AnchorSpec) -> np.ndarray:
    """Anchor centres ``(N, 2)`` in ``[0, 1]`` (x, y), in the order the model emits rows."""
    out: list[np.ndarray] = []
    i = 0
    strides = spec.strides
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = spec.per_layer * (j - i)
        cells = int(np.ceil(spec.size / strides[i]))
        ys, xs = np.mgrid[0:cells, 0:cells].astype(np.float32)
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
        i = j
    return np.concatenate(out, axis=0)


@dataclass(frozen=True, slots=True)
class Detection:
    """One raw detection in frame pixels: a box ``(x0, y0, x1, y1)``, keypoints ``(K, 2)``, a score."""

    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float
    kind: str


@dataclass(slots=True)
class Person:
    """A person found in a frame, in frame pixels.

    ``face`` is the face box when a face was seen; ``body`` an estimate of the box
    around the whole visible person (from the pose detector's body circle, or from
    the face box by typical proportions).
    """

    body: tuple[float, float, float, float]
    score: float
    face: tuple[float, float, float, float] | None = None
    sources: list[str] = field(default_factory=list)
    roi: PersonRoi | None = None
    """The upright square around the whole body, when the pose detector found this person."""
    roi_result: tuple[np.ndarray, float] | None = None
    """The pose-landmark model's ``(probability, presence)`` for exactly ``roi``, when already run
    (by the rotation search); whoever changes ``roi`` must clear it."""

    @property
    def height(self) -> float:
        return self.body[3] - self.body[1]

    @property
    def area(self) -> float:
        return max(0.0, self.body[2] - self.body[0]) * max(0.0, self.body[3] - self.body[1])

    @property
    def centre(self) -> tuple[float, float]:
        return (self.body[0] + self.body[2]) / 2, (self.body[1] + self.body[3]) / 2


class SsdDetector:
    """One bundled MediaPipe detector with its anchors decoded here."""

    def __init__(self, name: str, *, num_threads: int = 1, runtime: str | None = None) -> None:
        if name not in _SPECS:
            raise ModelLoadError(f"detector {name!r} is unknown: use one of {', '.join(_SPECS)}")
        info = models.resolve(name)
        self.name = name
        self.spec = _SPECS[name]
        self._interp, self.runtime = make_interpreter(str(info.path), num_threads, runtime)
        inp = self._interp.get_input_details()[0]
        self._input_index = int(inp["index"])
        outs = sorted(self._interp.get_output_details(), key=lambda d: -int(d["shape"][-1]))
        self._reg_index, self._cls_index = int(outs[0]["index"]), int(outs[1]["index"])
        self._anchors = anchors(self.spec)
        rows = int(outs[0]["shape"][1])
        if rows != len(self._anchors):
            raise ModelLoadError(f"detector {name}: model has {rows} anchors, expected {len(self._anchors)}")
        self._buf = np.zeros((1, self.spec.size, self.spec.size, 3), np.float32)

    def detect(self, image: np.ndarray, threshold: float | None = None) -> list[Detection]:
        """Detections in ``image`` (BGR uint8), letterboxed to the model's square input."""
        h, w = image.shape[:2]
        side = max(h, w)
        scale = self.spec.size / side
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        ox, oy = (self.spec.size - nw) // 2, (self.spec.size - nh) // 2
        small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        self._buf.fill(0.0)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)
        self._buf[0, oy : oy + nh, ox : ox + nw] = rgb * (2.0 / 255.0) - 1.0
        self._interp.set_tensor(self._input_index, self._buf)
        self._interp.invoke()
        reg = self._interp.get_tensor(self._reg_index)[0]
        logits = self._interp.get_tensor(self._cls_index)[0, :, 0]
        thr = self.spec.score_threshold if threshold is None else threshold
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
        keep = np.nonzero(scores >= thr)[0]
        if keep.size == 0:
            return []
        size = float(self.spec.size)
        a = self._anchors[keep]
        r = reg[keep]
        cx = r[:, 0] / size + a[:, 0]
        cy = r[:, 1] / size + a[:, 1]
        bw = r[:, 2] / size
        bh = r[:, 3] / size
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        kps = r[:, 4:].reshape(len(keep), -1, 2) / size + a[:, None, :]
        # model-input units [0, 1] -> frame pixels (undo the letterbox)
        to_px = np.array([size / scale, size / scale], np.float32)
        off = np.array([ox / scale, oy / scale], np.float32)
        boxes = boxes.reshape(-1, 2, 2) * to_px - off
        kps = kps * to_px - off
        order = _nms(boxes.reshape(-1, 4), scores[keep])
        return [
            Detection(tuple(float(v) for v in boxes[i].reshape(4)), kps[i], float(scores[keep][i]), self.name)  # type: ignore[arg-type]
            for i in order
        ]

    def close(self) -> None:
        self._interp = None


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0 = np.maximum(a[0], b[:, 0])
    y0 = np.maximum(a[1], b[:, 1])
    x1 = np.minimum(a[2], b[:, 2])
    y1 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(area_a + area_b - inter, 1e-9))


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best first."""
    order = list(np.argsort(-scores))
    kept: list[int] = []
    while order:
        i = order.pop(0)
        kept.append(int(i))
        if order:
            ious = _iou(boxes[i], boxes[order])
            order = [o for o, v in zip(order, ious, strict=True) if v < iou_threshold]
    return kept


def body_from_face(
    face: tuple[float, float, float, float], frame_hw: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Rough whole-body box below a face box (a standing adult is ~7 face heights tall)."""
    x0, y0, x1, y1 = face
    fw, fh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    h, w = frame_hw
    return (
        max(0.0, cx - 2.0 * fw),
        max(0.0, y0 - 0.5 * fh),
        min(float(w), cx + 2.0 * fw),
        min(float(h), y0 + 7.5 * fh),
    )


def body_from_pose(det: Detection, frame_hw: tuple[int, int]) -> tuple[float, float, float, float]:
    """Whole-body box from the pose detector's hip centre and body-circle keypoint."""
    hip, edge = det.keypoints[0], det.keypoints[1]
    radius = float(np.hypot(*(edge - hip)))
    h, w = frame_hw
    cx, cy = float(hip[0]), float(hip[1])
    return (max(0.0, cx - radius), max(0.0, cy - radius), min(float(w), cx + radius), min(float(h), cy + radius))


class PersonDetector:
    """Faces and bodies in a frame, merged into :class:`Person` entries.

    ``detectors`` names the bundled models to run (default: the full-range face
    detector and the pose detector).  Each call costs one invoke per detector.
    """

    def __init__(self, detectors: tuple[str, ...] = ("face-full", "pose-detection"), *, num_threads: int = 1) -> None:
        self._detectors = [SsdDetector(n, num_threads=num_threads) for n in detectors]

    def detect(self, image: np.ndarray) -> list[Person]:
        """People in ``image`` (BGR uint8), largest first."""
        hw = (image.shape[0], image.shape[1])
        people: list[Person] = []
        for det in self._detectors:
            for d in det.detect(image):
                face = d.box
                body = body_from_pose(d, hw) if d.kind == "pose-detection" else body_from_face(face, hw)
                match = _match(people, face)
                roi = roi_from_pose(d) if d.kind == "pose-detection" else None
                if match is None:
                    people.append(Person(body=body, score=d.score, face=face, sources=[d.kind], roi=roi))
                else:
                    if d.kind == "pose-detection":
                        match.body = body
                        match.roi = roi
                    match.score = max(match.score, d.score)
                    match.sources.append(d.kind)
        people.sort(key=lambda p: -p.area)
        return people

    def close(self) -> None:
        for d in self._detectors:
            d.close()


def _match(people: list[Person], face: tuple[float, float, float, float]) -> Person | None:
    """The person whose face box overlaps ``face``, if any."""
    if not people:
        return None
    faces = np.array([p.face or p.body for p in people], np.float32)
    ious = _iou(np.array(face, np.float32), faces)
    i = int(np.argmax(ious))
    return people[i] if ious[i] > 0.3 else None


# --- the second pass: segment again on a crop around each small person -------------------

MIN_GAIN = 1.25
"""The crop pass runs on a person when the crop would show them at this many times the
resolution of the first pass: a person is "small in the frame" relative to the model."""

CROP_PAD = 0.1
"""Crop margin around a person's box, as a fraction of the box's larger side."""

Rect = tuple[int, int, int, int]


def crop_rect(box: tuple[float, float, float, float], frame_hw: tuple[int, int], pad: float = CROP_PAD) -> Rect:
    """A square crop around ``box`` (grown by ``pad``), shifted to stay inside the frame."""
    h, w = frame_hw
    x0, y0, x1, y1 = box
    side = min(max(x1 - x0, y1 - y0) * (1 + 2 * pad), float(max(h, w)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx = min(max(cx - side / 2, 0.0), max(0.0, w - side))
    sy = min(max(cy - side / 2, 0.0), max(0.0, h - side))
    return int(sx), int(sy), int(min(w, sx + side)), int(min(h, sy + side))


def resolution_gain(
    rect: Rect, frame_hw: tuple[int, int], input_size_for: Callable[[tuple[int, ...]], tuple[int, int]]
) -> float:
    """How many times more model pixels per frame pixel a crop gets than the whole frame."""
    ch, cw = rect[3] - rect[1], rect[2] - rect[0]
    mh, mw = input_size_for((ch, cw, 3))
    fh, fw = input_size_for((frame_hw[0], frame_hw[1], 3))
    crop_density = min(mh / max(1, ch), mw / max(1, cw))
    frame_density = min(fh / frame_hw[0], fw / frame_hw[1])
    return crop_density / frame_density


def blob_boxes(first_pass: np.ndarray, frame_hw: tuple[int, int]) -> list[tuple[float, float, float, float]]:
    """Boxes (frame pixels) of the parts of the first-pass mask that are not specks."""
    h, w = frame_hw
    mh, mw = first_pass.shape[:2]
    count, _, stats, _ = cv2.connectedComponentsWithStats((first_pass >= 0.5).astype(np.uint8), connectivity=8)
    sx, sy = w / mw, h / mh
    out = []
    for i in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if area >= 0.002 * mh * mw:
            out.append((x * sx, y * sy, (x + bw) * sx, (y + bh) * sy))
    return out


def crop_regions(
    boxes: list[tuple[float, float, float, float]],
    frame_hw: tuple[int, int],
    input_size_for: Callable[[tuple[int, ...]], tuple[int, int]],
    *,
    min_gain: float = MIN_GAIN,
    max_height: float = 1.0,
) -> list[Rect]:
    """Crops for the second pass: one per box that the crop would show at ``min_gain`` x the resolution.

    Boxes taller than ``max_height`` of the frame are skipped (video uses 0.5: only
    people small in the frame are worth a second inference every frame).  Boxes whose
    crops mostly overlap an earlier one are merged into it.
    """
    rects: list[Rect] = []
    for box in boxes:
        if box[3] - box[1] > max_height * frame_hw[0]:
            continue
        rect = crop_rect(box, frame_hw)
        if rect[2] - rect[0] < 16 or rect[3] - rect[1] < 16:
            continue
        if resolution_gain(rect, frame_hw, input_size_for) < min_gain:
            continue
        arr = np.array(rect, np.float32)
        if rects and float(_iou(arr, np.array(rects, np.float32)).max()) > 0.6:
            continue
        rects.append(rect)
    return rects


def _feather(rect: Rect, frame_hw: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Weight 1 inside a crop, ramping to 0 over its outer 10% except where it meets the frame edge."""
    ch, cw = shape
    h, w = frame_hw
    ramp_y = np.ones(ch, np.float32)
    ramp_x = np.ones(cw, np.float32)
    ny, nx = max(1, ch // 10), max(1, cw // 10)
    up = np.linspace(0.0, 1.0, ny, dtype=np.float32)
    ux = np.linspace(0.0, 1.0, nx, dtype=np.float32)
    if rect[1] > 0:
        ramp_y[:ny] = np.minimum(ramp_y[:ny], up)
    if rect[3] < h:
        ramp_y[-ny:] = np.minimum(ramp_y[-ny:], up[::-1])
    if rect[0] > 0:
        ramp_x[:nx] = np.minimum(ramp_x[:nx], ux)
    if rect[2] < w:
        ramp_x[-nx:] = np.minimum(ramp_x[-nx:], ux[::-1])
    return np.outer(ramp_y, ramp_x)


MAX_CROP_FILL = 0.8
"""A crop result that calls more than this fraction of its crop "person" is taken as a model failure and ignored."""


def merge_crops(
    image: np.ndarray,
    first_pass: np.ndarray,
    rects: list[Rect],
    segment: Callable[[np.ndarray], np.ndarray],
    work_size: tuple[int, int],
    *,
    people: list[Person] | None = None,
) -> np.ndarray:
    """Segment each crop of ``image`` and merge the results over ``first_pass`` at ``work_size`` (w, h).

    Inside a crop its own result replaces the first pass (it saw the person at a
    higher resolution); where crops overlap the larger probability wins, so two people
    side by side both stay.  A crop may sharpen what the first pass found and add
    what lies inside a detected person's box, but not invent person pixels far from
    both; and a crop whose result is nearly all "person" is dropped as a failure.
    """
    h, w = image.shape[:2]
    ww, wh = work_size
    canvas = cv2.resize(first_pass, (ww, wh), interpolation=cv2.INTER_LINEAR)
    if not rects:
        return canvas
    sx, sy = ww / w, wh / h
    best = np.zeros((wh, ww), np.float32)
    weight = np.zeros((wh, ww), np.float32)
    # where a crop may add person pixels: near the first pass, or inside a detected person
    near = (canvas >= 0.25).astype(np.uint8)
    grow = max(3, int(0.03 * max(ww, wh))) | 1
    allowed = cv2.dilate(near, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    for person in people or []:
        x0, y0, x1, y1 = person.body
        allowed[max(0, int(y0 * sy)) : int(np.ceil(y1 * sy)), max(0, int(x0 * sx)) : int(np.ceil(x1 * sx))] = 1
    for rect in rects:
        x0, y0, x1, y1 = rect
        prob = segment(np.ascontiguousarray(image[y0:y1, x0:x1]))
        if float((prob >= 0.5).mean()) > MAX_CROP_FILL:
            log.debug("crop %s ignored: the model called %.0f%% of it person", rect, 100 * (prob >= 0.5).mean())
            continue
        wx0, wy0 = int(round(x0 * sx)), int(round(y0 * sy))
        wx1, wy1 = max(wx0 + 1, int(round(x1 * sx))), max(wy0 + 1, int(round(y1 * sy)))
        part = cv2.resize(prob, (wx1 - wx0, wy1 - wy0), interpolation=cv2.INTER_LINEAR)
        feather = _feather((wx0, wy0, wx1, wy1), (wh, ww), part.shape)
        np.maximum(best[wy0:wy1, wx0:wx1], part, out=best[wy0:wy1, wx0:wx1])
        np.maximum(weight[wy0:wy1, wx0:wx1], feather, out=weight[wy0:wy1, wx0:wx1])
    best = np.where(allowed.astype(bool), best, np.minimum(best, canvas))
    return canvas * (1.0 - weight) + best * weight


# --- per-person segmentation: the pose-landmark model on a rotated crop around one person ----

POSE_INPUT = 256
"""Side of the pose-landmark model's square input (and of its segmentation output)."""

ROI_SCALE = 1.25
"""The ROI's side is this many times the pose detector's body-circle diameter (MediaPipe's own margin)."""


@dataclass(frozen=True, slots=True)
class PersonRoi:
    """A square, rotated region around one person, in frame pixels.

    ``centre`` is the mid-hip, ``side`` the square's side and ``rotation`` the angle
    (radians, counter-clockwise in image view) that turns the person upright: the
    region's "up" points from the hip towards the top of the body circle.
    """

    centre: tuple[float, float]
    side: float
    rotation: float

    def shifted(self, dx: float, dy: float) -> PersonRoi:
        """The same region moved by ``(dx, dy)`` pixels."""
        return PersonRoi((self.centre[0] + dx, self.centre[1] + dy), self.side, self.rotation)

    def scaled(self, sx: float, sy: float) -> PersonRoi:
        """The region in an image scaled by ``(sx, sy)`` (near-uniform scales only)."""
        return PersonRoi((self.centre[0] * sx, self.centre[1] * sy), self.side * (sx + sy) / 2, self.rotation)

    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned box ``(x0, y0, x1, y1)`` around the rotated square."""
        half = self.side / 2 * (abs(math.cos(self.rotation)) + abs(math.sin(self.rotation)))
        cx, cy = self.centre
        return cx - half, cy - half, cx + half, cy + half


def roi_from_pose(det: Detection, scale: float = ROI_SCALE) -> PersonRoi:
    """The upright ROI of a ``pose-detection`` result: centred on the hip, turned so the body points up."""
    return roi_from_points(det.keypoints[0], det.keypoints[1], scale)


def roi_from_points(hip: np.ndarray, top: np.ndarray, scale: float = ROI_SCALE) -> PersonRoi:
    """The upright ROI around a body given its centre (hip) and a point on the top of its circle."""
    dx, dy = float(top[0] - hip[0]), float(top[1] - hip[1])
    radius = math.hypot(dx, dy)
    rotation = math.pi / 2 - math.atan2(-dy, dx)
    return PersonRoi((float(hip[0]), float(hip[1])), 2.0 * radius * scale, rotation)


FACE_TO_HIP = 3.5
"""A standing person's mid-hip lies about this many face heights below the face centre."""

FACE_TO_RADIUS = 4.5
"""The body circle around the mid-hip has a radius of about this many face heights."""


def roi_from_face(face: tuple[float, float, float, float], scale: float = ROI_SCALE) -> PersonRoi:
    """An upright whole-body ROI guessed from a face box, for people the pose detector missed.

    The pose-landmark model's presence score then says whether a body is really there.
    """
    x0, y0, x1, y1 = face
    fh = y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + FACE_TO_HIP * fh
    return PersonRoi((cx, cy), 2.0 * FACE_TO_RADIUS * fh * scale, 0.0)


def roi_matrix(roi: PersonRoi, size: int = POSE_INPUT) -> np.ndarray:
    """Affine ``2x3`` map from ROI pixels (``size`` x ``size``, person upright) to frame pixels.

    Its inverse (:func:`cv2.invertAffineTransform`) maps frame pixels into the ROI.
    """
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    k = roi.side / size
    m = np.array([[c * k, -s * k, 0.0], [s * k, c * k, 0.0]], np.float64)
    half = (size - 1) / 2.0
    m[:, 2] = np.array(roi.centre, np.float64) - m[:, :2] @ np.array([half, half])
    return m


def crop_roi(image: np.ndarray, roi: PersonRoi, size: int = POSE_INPUT) -> np.ndarray:
    """The ROI of ``image`` resampled to ``size`` x ``size``, person upright (outside the frame: black).

    A ROI much larger than ``size`` is taken from a pre-shrunk copy so the resampling does not alias.
    """
    shrink = size * 1.5 / roi.side
    if shrink < 0.75:
        # shrink only the part of the frame the ROI covers
        h, w = image.shape[:2]
        bx0, by0, bx1, by1 = roi.bounds()
        x0, y0 = max(0, int(bx0)), max(0, int(by0))
        x1, y1 = min(w, int(math.ceil(bx1)) + 1), min(h, int(math.ceil(by1)) + 1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return np.zeros((size, size, image.shape[2]), image.dtype)
        part = image[y0:y1, x0:x1]
        nw, nh = max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink))
        image = cv2.resize(part, (nw, nh), interpolation=cv2.INTER_AREA)
        roi = roi.shifted(-x0, -y0).scaled(nw / (x1 - x0), nh / (y1 - y0))
    to_roi = cv2.invertAffineTransform(roi_matrix(roi, size))
    return cv2.warpAffine(image, to_roi, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def roi_to_frame(prob: np.ndarray, roi: PersonRoi, frame_size: tuple[int, int]) -> np.ndarray:
    """Paste a ROI-space map back into a frame of ``frame_size`` (w, h); 0 outside the ROI."""
    m = roi_matrix(roi, prob.shape[0])
    return cv2.warpAffine(prob, m, frame_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


class PoseSegmenter:
    """MediaPipe's pose-landmark network used for its segmentation output: one person, one rotated crop."""

    def __init__(self, name: str = "pose-landmark", *, num_threads: int = 1, runtime: str | None = None) -> None:
        info = models.resolve(name)
        if info.kind != "person-segmentation":
            raise ModelLoadError(f"model {name!r} is a {info.kind} model, not a person-segmentation model")
        self._interp, self.runtime = make_interpreter(str(info.path), num_threads, runtime)
        inp = self._interp.get_input_details()[0]
        self.size = int(inp["shape"][1])
        self._input_index = int(inp["index"])
        outs = {d["name"]: d for d in self._interp.get_output_details()}
        seg = [d for d in outs.values() if len(d["shape"]) == 4 and int(d["shape"][1]) == self.size]
        flag = [d for d in outs.values() if len(d["shape"]) == 2 and int(d["shape"][1]) == 1]
        if not seg or not flag:
            raise ModelLoadError(f"model {name!r} has no {self.size}x{self.size} segmentation output")
        self._seg_index = int(seg[0]["index"])
        self._flag_index = int(flag[0]["index"])
        # landmarks: 39 x (x, y, z, visibility, presence) in ROI pixels; 33 and 34 are the
        # auxiliary "body centre" and "body top" points MediaPipe tracks its ROI with
        marks = [d for d in outs.values() if len(d["shape"]) == 2 and int(d["shape"][1]) == 39 * 5]
        self._marks_index = int(marks[0]["index"]) if marks else None
        self.invokes = 0
        self.last_track: PersonRoi | None = None
        """The ROI for the same person in the next frame, from the landmarks of the last call (None if unknown)."""

    def segment_roi(self, image: np.ndarray, roi: PersonRoi) -> tuple[np.ndarray, float]:
        """Person probability ``(size, size)`` in ROI space, and the model's pose-presence score in [0, 1]."""
        crop = crop_roi(image, roi, self.size)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) * (1.0 / 255.0)
        self._interp.set_tensor(self._input_index, x[None])
        self._interp.invoke()
        self.invokes += 1
        logits = self._interp.get_tensor(self._seg_index)[0, :, :, 0]
        prob = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
        flag = float(self._interp.get_tensor(self._flag_index).reshape(-1)[0])
        if not 0.0 <= flag <= 1.0:  # a logit, depending on the export
            flag = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, flag))))
        self.last_track = None
        if self._marks_index is not None:
            marks = self._interp.get_tensor(self._marks_index).reshape(39, 5)
            m = roi_matrix(roi, self.size)
            centre, top = (m[:, :2] @ marks[33:35, :2].T).T.astype(np.float64) + m[:, 2]
            if np.all(np.isfinite(centre)) and np.all(np.isfinite(top)):
                self.last_track = roi_from_points(centre, top)
        return prob.astype(np.float32), flag

    def segment_person(self, image: np.ndarray, roi: PersonRoi, out_size: tuple[int, int]) -> tuple[np.ndarray, float]:
        """Person probability for one person at ``out_size`` (w, h) over the whole frame, and presence."""
        prob, flag = self.segment_roi(image, roi)
        h, w = image.shape[:2]
        ow, oh = out_size
        return roi_to_frame(prob, roi.scaled(ow / w, oh / h), out_size), flag

    def close(self) -> None:
        self._interp = None


MAX_ROI_SIDE = 2.0
"""A person gets the pose-landmark pass only if their ROI side is at most this many frame
heights: a close-up (webcam framing: hip far below the frame, huge body circle) is left
to the selfie model, which is better there."""


def body_roi(person: Person) -> PersonRoi | None:
    """``person``'s body ROI: the pose detector's, else one guessed from the face, else none."""
    if person.roi is None and person.face is not None:
        return roi_from_face(person.face)
    return person.roi


def close_up(person: Person, frame_hw: tuple[int, int], *, max_side: float = MAX_ROI_SIDE) -> bool:
    """Whether ``person`` is framed as a close-up: their :func:`body_roi` is over ``max_side`` frame
    heights, so most of the body lies outside the frame."""
    roi = body_roi(person)
    return roi is not None and roi.side > max_side * frame_hw[0]


def full_body_people(
    people: list[Person], frame_hw: tuple[int, int], *, max_side: float = MAX_ROI_SIDE, limit: int = 6
) -> list[Person]:
    """People worth a per-person segmentation: a pose ROI whose hip is inside the frame, at least 16 px and not huge.

    At most ``limit`` of them, largest first.
    """
    h, w = frame_hw
    out = []
    for p in people:
        if p.roi is None:
            p = replace(p, roi=body_roi(p))
        if p.roi is None:
            continue
        cx, cy = p.roi.centre
        if not (0.0 <= cx < w and 0.0 <= cy < h) or not 16.0 <= p.roi.side <= max_side * h:
            continue  # hip outside the frame (a close-up), a huge body, or a degenerate one
        out.append(p)
    out.sort(key=lambda p: -p.roi.side)  # type: ignore[union-attr]
    return out[:limit]


@dataclass(slots=True)
class PersonMask:
    """One person's probability over the whole (working-size) frame and where their ROI covers it."""

    person: Person
    prob: np.ndarray
    coverage: np.ndarray
    presence: float
    track: PersonRoi | None = None
    """Where this person's ROI is in the next frame (from the pose landmarks), for video tracking."""


MIN_PRESENCE = 0.5
"""A pose-landmark result whose pose-presence score is below this is ignored (no person in the ROI)."""


def person_masks(
    image: np.ndarray, people: list[Person], segmenter: PoseSegmenter, work_size: tuple[int, int]
) -> list[PersonMask]:
    """Run the pose-landmark model on each person's ROI; results at ``work_size`` (w, h), absent ones dropped."""
    h, w = image.shape[:2]
    ww, wh = work_size
    ones = np.ones((segmenter.size, segmenter.size), np.float32)
    out = []
    for p in people:
        assert p.roi is not None
        if p.roi_result is not None:
            (prob, presence), track = p.roi_result, None
        else:
            prob, presence = segmenter.segment_roi(image, p.roi)
            track = segmenter.last_track
        if presence < MIN_PRESENCE:
            log.debug("pose ROI %s ignored: presence %.2f", p.roi, presence)
            continue
        roi = p.roi.scaled(ww / w, wh / h)
        full = roi_to_frame(prob, roi, work_size)
        out.append(PersonMask(p, full, roi_to_frame(ones, roi, work_size), presence, track))
    return out


def merge_person_masks(canvas: np.ndarray, masks: list[PersonMask], *, only: bool = False) -> np.ndarray:
    """Put per-person masks over ``canvas`` (same size).

    Inside a person's ROI their own mask replaces the first pass: it knows the whole
    body, where the selfie model smears full-body people into the background.  Parts
    of the first pass inside the ROI that do not touch that person (someone else
    standing in the ROI) are kept.  ``only``: the result is the people's masks alone
    (``--subject main``: the main person defines what stays sharp).
    """
    if not masks:
        return canvas
    union = np.max([m.prob for m in masks], axis=0) if len(masks) > 1 else masks[0].prob
    if only:
        return np.ascontiguousarray(union, dtype=np.float32)
    cover = np.max([m.coverage for m in masks], axis=0) if len(masks) > 1 else masks[0].coverage
    count, labels = cv2.connectedComponents((canvas >= 0.5).astype(np.uint8), connectivity=8)
    inside = np.zeros_like(canvas)
    if count > 1:
        person = union >= 0.5
        total = np.bincount(labels.ravel(), minlength=count).astype(np.float32)
        shared = np.bincount(labels[person].ravel(), minlength=count).astype(np.float32)
        other = shared < 0.3 * np.maximum(total, 1.0)  # blobs that are mostly not this person: someone else
        other[0] = False
        keep = cv2.dilate(other[labels].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        inside = np.where(keep, np.maximum(canvas, union), union)
    else:
        inside = union
    return np.ascontiguousarray(cover * inside + (1.0 - cover) * canvas, dtype=np.float32)


# --- finding a person the detectors missed: a rotation search scored by pose presence ----

SEARCH_ANGLES = 8
"""Rotations tried by :func:`search_person` (evenly spaced over a full turn)."""

SEARCH_SIDE = 1.1
"""Side of the searched ROI, in units of the frame's shorter side."""

SEARCH_PRESENCE = 0.85
"""The best rotation's pose-presence score must reach this for the search to report a person."""


SEARCH_STOP = 0.99
"""The search stops at the first rotation whose presence reaches this (upright people: at once)."""


def _search_order(angles: int) -> list[int]:
    """Rotation indices, most likely first: upright, upside down, the quarter turns, then the rest."""
    first = [0, angles // 2, angles // 4, 3 * angles // 4] if angles % 4 == 0 else [0]
    return first + [k for k in range(angles) if k not in first]


@dataclass(frozen=True, slots=True)
class Found:
    """A person found by :func:`search_person`: the ROI the model saw them upright in, its presence score."""

    roi: PersonRoi
    presence: float
    body: tuple[float, float, float, float]
    """Box (frame pixels) around the model's mask of the person (probability >= 0.5)."""
    prob: np.ndarray
    """The model's person probability in ROI space (``size`` x ``size``, person upright)."""


def _mask_box(prob: np.ndarray, roi: PersonRoi, frame_hw: tuple[int, int]) -> tuple[float, float, float, float] | None:
    """Frame-pixel box around the ``>= 0.5`` part of a ROI-space probability map, or None if empty."""
    ys, xs = np.nonzero(prob >= 0.5)
    if xs.size == 0:
        return None
    m = roi_matrix(roi, prob.shape[0])
    pts = np.stack([xs, ys], axis=1).astype(np.float64) @ m[:, :2].T + m[:, 2]
    h, w = frame_hw
    x0, y0 = np.clip(pts.min(axis=0), 0, [w, h])
    x1, y1 = np.clip(pts.max(axis=0), 0, [w, h])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return float(x0), float(y0), float(x1), float(y1)


def search_person(
    image: np.ndarray,
    segmenter: PoseSegmenter,
    centre: tuple[float, float] | None = None,
    side: float | None = None,
    *,
    angles: int = SEARCH_ANGLES,
    min_presence: float = SEARCH_PRESENCE,
) -> Found | None:
    """Look for one person in a square region at every rotation, as the pose-landmark model sees them.

    The SSD detectors are trained on mostly upright people and miss someone upside
    down, tumbling or lying.  Here the pose-landmark model itself is run on the region
    (default: the frame's centre, ``SEARCH_SIDE`` x its shorter side) turned by each of
    ``angles`` rotations (upright first, stopping early at a presence of ``SEARCH_STOP``);
    the rotation with the highest pose-presence score wins if that score reaches
    ``min_presence``.  The ROI is then refined once from the model's own body-centre and
    body-top landmarks (as MediaPipe's tracking does) and the refined result kept when its
    presence is at least as high; a person whose refined ROI is a close-up (over
    ``MAX_ROI_SIDE`` frame heights) is not reported.  Costs at most ``angles + 1`` invokes.
    """
    h, w = image.shape[:2]
    if centre is None:
        centre = (w / 2.0, h / 2.0)
    if side is None:
        side = SEARCH_SIDE * min(h, w)
    # every rotation crops the same region: shrink the frame once so that crop_roi need not
    f = min(1.0, 1.5 * segmenter.size / side)
    small = image
    if f < 0.75:
        small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        f = small.shape[1] / w
    else:
        f = 1.0
    sh = small.shape[0]
    centre_s, side_s = (centre[0] * f, centre[1] * f), side * f
    best: tuple[float, PersonRoi, np.ndarray, PersonRoi | None] | None = None
    for k in _search_order(angles):
        roi = PersonRoi(centre_s, side_s, 2.0 * math.pi * k / angles)
        prob, presence = segmenter.segment_roi(small, roi)
        if best is None or presence > best[0]:
            best = (presence, roi, prob, segmenter.last_track)
        if presence >= SEARCH_STOP:
            break  # as sure as the model gets: the refinement below fixes the angle
    if best is None or best[0] < min_presence:
        return None
    presence, roi, prob, track = best
    if track is not None and track.side > MAX_ROI_SIDE * sh:
        return None  # a close-up: the selfie model is better there
    if track is not None and track.side >= 16.0 * f:
        prob2, presence2 = segmenter.segment_roi(small, track)
        if presence2 >= presence:
            presence, roi, prob = presence2, track, prob2
    body = _mask_box(prob, roi, small.shape[:2])
    if body is None:
        return None
    inv = 1.0 / f
    return Found(roi.scaled(inv, inv), presence, (body[0] * inv, body[1] * inv, body[2] * inv, body[3] * inv), prob)

"""Finding a person the detectors missed: a rotation search scored by the pose model's presence.

The SSD detectors are trained on mostly upright people and miss someone upside down,
tumbling or lying.  :func:`search_person` runs the pose-landmark model itself on one
square region at several rotations and keeps the rotation it is most sure of.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .box import Box
from .person import MAX_ROI_SIDE, MIN_ROI_SIDE
from .pose import PoseSegmenterProtocol
from .roi import PersonRoi, roi_matrix

SEARCH_ANGLES = 8
"""Rotations tried by :func:`search_person` (evenly spaced over a full turn)."""

SEARCH_SIDE = 1.1
"""Side of the searched ROI, in units of the frame's shorter side."""

SEARCH_PRESENCE = 0.85
"""The best rotation's pose-presence score must reach this for the search to report a person."""

SEARCH_STOP = 0.99
"""The search stops at the first rotation whose presence reaches this (upright people: at once)."""


@dataclass(frozen=True, slots=True)
class Found:
    """A person found by :func:`search_person`: the ROI the model saw them upright in, its presence score."""

    roi: PersonRoi
    presence: float
    body: Box
    """Box (frame pixels) around the model's mask of the person (probability >= 0.5)."""
    prob: np.ndarray
    """The model's person probability in ROI space (``size`` x ``size``, person upright)."""


def _search_order(angles: int) -> list[int]:
    """Rotation indices, most likely first: upright, upside down, the quarter turns, then the rest."""
    first = [0, angles // 2, angles // 4, 3 * angles // 4] if angles % 4 == 0 else [0]
    return first + [k for k in range(angles) if k not in first]


def _mask_box(prob: np.ndarray, roi: PersonRoi, frame_hw: tuple[int, int]) -> Box | None:
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
    segmenter: PoseSegmenterProtocol,
    centre: tuple[float, float] | None = None,
    side: float | None = None,
    *,
    angles: int = SEARCH_ANGLES,
    min_presence: float = SEARCH_PRESENCE,
) -> Found | None:
    """Look for one person in a square region at every rotation, as the pose-landmark model sees them.

    The region (default: the frame's centre, ``SEARCH_SIDE`` x its shorter side) is turned
    by each of ``angles`` rotations (upright first, stopping early at a presence of
    ``SEARCH_STOP``).  Each rotation's ROI is refined from the model's own body-centre and
    body-top landmarks (as MediaPipe's tracking does) and that ROI tried too: a tumbling or
    upside-down body seldom lines up with one of the fixed rotations, and the model can be
    unsure of a rotation yet place the landmarks well enough for the refined ROI to fit the
    body (``persons/``, an upside-down breakdancer: presence 0.02 at 225 degrees, 0.997 in
    the ROI refined from it, where the best fixed rotation's own refinement scored 0.81).
    The ROI with the highest pose-presence score wins if that score reaches
    ``min_presence``, and is refined once more when that scores at least as high; a person
    whose refined ROI is a close-up (over ``MAX_ROI_SIDE`` frame heights) is not reported.
    Costs at most ``2 * angles + 1`` invokes.
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
        track = segmenter.last_track
        refine = presence < SEARCH_STOP and track is not None and MIN_ROI_SIDE * f <= track.side <= MAX_ROI_SIDE * sh
        if best is None or presence > best[0]:
            best = (presence, roi, prob, None if refine else track)  # None: its refined ROI is tried right here
        if presence >= SEARCH_STOP:
            break  # as sure as the model gets: the refinement below fixes the angle
        if refine:
            assert track is not None
            prob2, presence2 = segmenter.segment_roi(small, track)
            if presence2 > best[0]:
                best = (presence2, track, prob2, segmenter.last_track)
            if presence2 >= SEARCH_STOP:
                break
    if best is None or best[0] < min_presence:
        return None
    presence, roi, prob, track = best
    if track is not None and track.side > MAX_ROI_SIDE * sh:
        return None  # a close-up: the selfie model is better there
    if track is not None and track.side >= MIN_ROI_SIDE * f:
        prob2, presence2 = segmenter.segment_roi(small, track)
        if presence2 >= presence:
            presence, roi, prob = presence2, track, prob2
    body = _mask_box(prob, roi, small.shape[:2])
    if body is None:
        return None
    inv = 1.0 / f
    return Found(roi.scaled(inv, inv), presence, (body[0] * inv, body[1] * inv, body[2] * inv, body[3] * inv), prob)

"""Which people stay sharp: the main subject, and stray blobs that belong to nobody.

Candidates are the people the detectors found (face or body boxes) plus the large
blobs of the mask itself (so a person whose face is hidden still counts).  With
``--subject main`` the candidate with the best *size x centrality* is kept; once
chosen it is followed from frame to frame by box overlap and only given up for a
clearly better one, so the choice does not jump between two similar people.
Independently, connected parts of the mask that are small and far from every
person (a chair, a poster) are removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..people.box import Box, iou, scale_box
from ..people.person import Person

CENTRE_SIGMA = 0.2
"""Width of the centrality weight, as a fraction of the frame diagonal-normalised distance."""

SWITCH_RATIO = 1.5
"""A new candidate must score this many times the tracked one to take its place."""

EDGE_PENALTY = 0.5
"""A candidate cut by the left or right side of the frame has its weight multiplied by this, once
per side: someone at the side is usually a passer-by or spectator, and a blob spanning the whole
width is a crowd.  (Top and bottom cuts are ordinary framing and are not penalised.)"""

EDGE_MARGIN = 0.02
"""A box within this fraction of the frame width from a side counts as cut by it."""

SIDE_THIRD = 1.0 / 3.0
"""A person whose box a side cuts counts as "at that side" only if their face (when seen) is in that side's third."""

STRAY_AREA = 0.15
"""A blob smaller than this fraction of the largest blob is stray unless a person is near it."""


@dataclass(slots=True)
class Candidate:
    """A possible subject in frame pixels; ``weight`` is its size-times-centrality score."""

    box: Box
    weight: float
    from_detector: bool


def centrality_weight(box: Box, frame_size: tuple[int, int], face: Box | None = None) -> float:
    """Area fraction of ``box`` times a Gaussian of its centre's distance from the frame centre.

    Halved (``EDGE_PENALTY``) for each side of the frame, left or right, that cuts the box -
    unless ``face`` (the person's face box, when one was seen) says the person is not at that
    side: a close-up whose body spans the whole width has its face in the middle, a passer-by
    cut by a side has theirs in that side's third.
    """
    w, h = frame_size
    cx, cy = (box[0] + box[2]) / 2 / w - 0.5, (box[1] + box[3]) / 2 / h - 0.5
    area = max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]) / (w * h)
    weight = area * float(np.exp(-(cx * cx + cy * cy) / (2 * CENTRE_SIGMA**2)))
    margin = EDGE_MARGIN * w
    face_x = (face[0] + face[2]) / 2 / w if face is not None else None
    left = box[0] <= margin and (face_x is None or face_x < SIDE_THIRD)
    right = box[2] >= w - margin and (face_x is None or face_x > 1.0 - SIDE_THIRD)
    return weight * EDGE_PENALTY ** (int(left) + int(right))


def components(binary: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected parts of a ``uint8`` 0/1 image: ``(count, labels, stats)`` as
    ``cv2.connectedComponentsWithStats`` returns them (label 0 is the background).

    Labelled with OpenCV's block-based algorithm (Grana's BBDT): the same labels and stats
    as the default one, whose statistics pass is the slow part at mask sizes (384 x 216:
    0.18 ms against 0.50; a group scene labels three masks a frame).
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(binary, 8, cv2.CV_32S, cv2.CCL_GRANA)
    return count, labels, stats


def blobs(alpha: np.ndarray, threshold: float = 0.5) -> tuple[int, np.ndarray, np.ndarray]:
    """Connected parts of ``alpha >= threshold``: ``(count, labels, stats)`` as :func:`components` returns them."""
    return components((alpha >= threshold).astype(np.uint8))


def candidates(people: list[Person], alpha: np.ndarray, frame_size: tuple[int, int]) -> list[Candidate]:
    """Detected people plus mask blobs that no detected person overlaps."""
    out = [Candidate(p.body, centrality_weight(p.body, frame_size, p.face), True) for p in people]
    h, w = alpha.shape[:2]
    sx, sy = frame_size[0] / w, frame_size[1] / h
    count, _, stats = blobs(alpha)
    min_area = 0.002 * h * w
    for i in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if area < min_area:
            continue
        box = scale_box((x, y, x + bw, y + bh), sx, sy)
        if any(iou(box, p.body) > 0.3 for p in people):
            continue
        # a blob is weighted by its own pixels, not its box, so a sprawling merged crowd does not win
        weight = centrality_weight(box, frame_size) * area / max(1, bw * bh)
        out.append(Candidate(box, weight, False))
    return out


def match_person(box: Box, people: list[Person]) -> Person | None:
    """The detected person whose body box best overlaps ``box`` (IoU above 0.3), if any."""
    best, best_iou = None, 0.3
    for p in people:
        overlap = iou(box, p.body)
        if overlap > best_iou:
            best, best_iou = p, overlap
    return best


class SubjectTracker:
    """Chooses the main subject and keeps that choice stable over a stream."""

    def __init__(self) -> None:
        self._box: Box | None = None

    def reset(self) -> None:
        """Forget the tracked subject."""
        self._box = None

    def choose(self, found: list[Candidate]) -> Candidate | None:
        """The main subject among ``found``; the tracked one unless another is clearly better."""
        if not found:
            return None
        best = max(found, key=lambda c: c.weight)
        if self._box is not None:
            tracked = max(found, key=lambda c: iou(c.box, self._box))  # type: ignore[arg-type]
            if iou(tracked.box, self._box) > 0.3 and best.weight < SWITCH_RATIO * tracked.weight:
                best = tracked
        self._box = best.box
        return best


KEEP_MARGIN = 0.1
"""The subject's region is its box grown by this fraction of the box's size on every side."""


def grown(box: Box, margin: float = KEEP_MARGIN) -> Box:
    """``box`` grown by ``margin`` of its width and height on every side."""
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    return (x0 - mx, y0 - my, x1 + mx, y1 + my)


def keep_region(alpha: np.ndarray, box: Box, frame_size: tuple[int, int], *, margin: float = KEEP_MARGIN) -> np.ndarray:
    """``alpha`` with everything zeroed except the blobs overlapping ``box`` (frame pixels).

    Soft pixels next to a kept blob (hair, motion blur) are kept with it; pixels outside
    ``box`` grown by ``margin`` of its size are cleared even when connected (a crowd
    merged with the subject into one blob).
    """
    h, w = alpha.shape[:2]
    x0, y0, x1, y1 = grown(scale_box(box, w / frame_size[0], h / frame_size[1]), margin)
    bx0, by0 = max(0, int(x0)), max(0, int(y0))
    bx1, by1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    out = np.zeros_like(alpha)
    if bx1 <= bx0 or by1 <= by0:
        return out
    count, labels, stats = blobs(alpha)
    inside = labels[by0:by1, bx0:bx1]
    hits = np.bincount(inside.ravel(), minlength=count)
    hits[0] = 0
    if hits.max() == 0:
        return out
    keep = hits >= 0.1 * hits.max()
    kept = keep[labels]
    kept = cv2.dilate(kept.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    region = np.zeros_like(kept)
    region[by0:by1, bx0:bx1] = True
    sel = kept & region
    out[sel] = alpha[sel]
    return out


def drop_stray_blobs(alpha: np.ndarray, people: list[Person], frame_size: tuple[int, int]) -> np.ndarray:
    """Remove blobs that are small next to the largest one and touch no person's box."""
    count, labels, stats = blobs(alpha)
    if count <= 2:
        return alpha
    h, w = alpha.shape[:2]
    sx, sy = w / frame_size[0], h / frame_size[1]
    areas = stats[:, cv2.CC_STAT_AREA]
    drop = areas < STRAY_AREA * int(areas[1:].max())
    drop[0] = False
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    x1, y1 = x0 + stats[:, cv2.CC_STAT_WIDTH], y0 + stats[:, cv2.CC_STAT_HEIGHT]
    for b in (scale_box(p.body, sx, sy) for p in people):  # a blob touching someone's box stays
        drop &= ~((x0 < b[2]) & (x1 > b[0]) & (y0 < b[3]) & (y1 > b[1]))
    if not drop.any():
        return alpha
    # soft pixels around a dropped blob go with it
    dropping = drop[labels]
    dropped = cv2.dilate(dropping.view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    kept = ~dropping & (labels > 0)
    out = alpha.copy()
    out[dropped & ~cv2.dilate(kept.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)] = 0.0
    return out

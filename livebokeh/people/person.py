"""A person found in a frame, and which people are framed for a per-person pass.

:class:`Person` is what the detectors (and the rotation search, and video tracking)
hand to the matte: a whole-body box in frame pixels, the face box when a face was
seen, and the upright ROI the per-person model would look at.  :func:`full_body_people`
and :func:`close_up` decide from that framing who gets the pose-landmark pass and
who is left to the selfie model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .box import Box
from .roi import PersonRoi, roi_from_face

MAX_ROI_SIDE = 2.0
"""A person gets the pose-landmark pass only if their ROI side is at most this many frame
heights: a close-up (webcam framing: hip far below the frame, huge body circle) is left
to the selfie model, which is better there."""

MIN_ROI_SIDE = 16.0
"""A ROI smaller than this many pixels is a degenerate detection, not a person."""


@dataclass(slots=True)
class Person:
    """A person found in a frame, in frame pixels.

    ``face`` is the face box when a face was seen; ``body`` an estimate of the box
    around the whole visible person (from the pose detector's body circle, or from
    the face box by typical proportions).
    """

    body: Box
    score: float
    face: Box | None = None
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
    """People worth a per-person segmentation: a body ROI whose hip is inside the frame, at least
    ``MIN_ROI_SIDE`` pixels and not over ``max_side`` frame heights.

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
        if not (0.0 <= cx < w and 0.0 <= cy < h) or not MIN_ROI_SIDE <= p.roi.side <= max_side * h:
            continue  # hip outside the frame (a close-up), a huge body, or a degenerate one
        out.append(p)
    out.sort(key=lambda p: -p.roi.side)  # type: ignore[union-attr]
    return out[:limit]

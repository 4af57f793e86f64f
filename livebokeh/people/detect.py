"""Finding people: the face and pose detectors run on a frame and merged into :class:`Person` entries.

:class:`PersonDetector` runs one or more bundled detectors (:mod:`.ssd`) and returns one
:class:`Person` per face or body, with an estimated whole-body box for each: from the
pose detector's body circle when it saw the body, else from the face by typical
proportions.  Anything with a ``detect(image) -> list[Person]`` method
(:class:`DetectorProtocol`) can stand in for it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from .box import Box, ious
from .person import Person
from .roi import roi_from_pose
from .ssd import Detection, SsdDetector

DEFAULT_DETECTORS = ("face-full", "pose-detection")
"""The bundled detectors :class:`PersonDetector` runs unless told otherwise."""

SAME_FACE_IOU = 0.3
"""Two detectors' face boxes overlapping by more than this belong to one person."""


class DetectorProtocol(Protocol):
    """What the matte needs from a person detector."""

    def detect(self, image: np.ndarray) -> list[Person]:
        """People in ``image`` (BGR ``uint8``), largest first."""
        ...


def body_from_face(face: Box, frame_hw: tuple[int, int]) -> Box:
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


def body_from_pose(det: Detection, frame_hw: tuple[int, int]) -> Box:
    """Whole-body box from the pose detector's hip centre and body-circle keypoint."""
    hip, edge = det.keypoints[0], det.keypoints[1]
    radius = float(np.hypot(*(edge - hip)))
    h, w = frame_hw
    cx, cy = float(hip[0]), float(hip[1])
    return (max(0.0, cx - radius), max(0.0, cy - radius), min(float(w), cx + radius), min(float(h), cy + radius))


class PersonDetector:
    """Faces and bodies in a frame, merged into :class:`Person` entries.

    ``detectors`` names the bundled models to run (default: the full-range face
    detector and the pose detector).  Each call costs one invoke per detector; with
    ``parallel`` the detectors after the first run in a second thread meanwhile (TFLite
    releases the GIL; live 1080p on two cores: inference p95 27-28 -> 23-24 ms, the same
    CPU).  Their results are merged in the order given either way.
    """

    def __init__(
        self, detectors: tuple[str, ...] = DEFAULT_DETECTORS, *, num_threads: int = 1, parallel: bool = True
    ) -> None:
        self._detectors = [SsdDetector(n, num_threads=num_threads) for n in detectors]
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="livebokeh-detect")
            if parallel and len(self._detectors) > 1
            else None
        )

    def detect(self, image: np.ndarray) -> list[Person]:
        """People in ``image`` (BGR uint8), largest first."""
        hw = (image.shape[0], image.shape[1])
        first, *others = self._detectors
        if self._pool is None:
            found = [det.detect(image) for det in self._detectors]
        else:
            aside = [self._pool.submit(det.detect, image) for det in others]
            try:
                found = [first.detect(image)]
            finally:
                found += [f.result() for f in aside]  # waited for even after an error: the models stay one caller's
        people: list[Person] = []
        for detections in found:
            for d in detections:
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
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for d in self._detectors:
            d.close()


def _match(people: list[Person], face: Box) -> Person | None:
    """The person whose face box overlaps ``face``, if any."""
    if not people:
        return None
    faces = np.array([p.face or p.body for p in people], np.float32)
    overlap = ious(np.array(face, np.float32), faces)
    i = int(np.argmax(overlap))
    return people[i] if overlap[i] > SAME_FACE_IOU else None

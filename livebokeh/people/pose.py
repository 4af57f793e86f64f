"""The per-person model: MediaPipe's pose-landmark network, used for its segmentation output.

It sees one person at a time, on an upright crop of their :class:`~.roi.PersonRoi`, and
knows the whole body where the selfie model smears a full-body person into the
background.  Besides the probability it reports a pose-presence score (is anyone in
this ROI?) and, from its body-centre and body-top landmarks, where the same person's
ROI is in the next frame (:attr:`PoseSegmenter.last_track`), as MediaPipe's own
tracking does.  :func:`person_masks` runs it on each selected person and brings the
results to the matte's working size.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from .. import models
from ..errors import ModelLoadError
from ..segmentation.runtime import make_interpreter
from .person import Person
from .roi import PersonRoi, crop_roi, roi_from_points, roi_matrix, roi_to_frame

log = logging.getLogger(__name__)

MIN_PRESENCE = 0.5
"""A pose-landmark result whose pose-presence score is below this is ignored (no person in the ROI)."""


class PoseSegmenterProtocol(Protocol):
    """What the matte needs from a per-person segmenter (:class:`PoseSegmenter` or a stand-in)."""

    @property
    def size(self) -> int:
        """Side of the square ROI-space probability :meth:`segment_roi` returns."""
        ...

    @property
    def last_track(self) -> PersonRoi | None:
        """Where the person of the last :meth:`segment_roi` call is in the next frame, if known."""
        ...

    def segment_roi(self, image: np.ndarray, roi: PersonRoi) -> tuple[np.ndarray, float]:
        """Person probability ``(size, size)`` in ROI space, and the pose-presence score in [0, 1]."""
        ...


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


@dataclass(slots=True)
class PersonMask:
    """One person's probability over the whole (working-size) frame and where their ROI covers it."""

    person: Person
    prob: np.ndarray
    coverage: np.ndarray
    presence: float
    track: PersonRoi | None = None
    """Where this person's ROI is in the next frame (from the pose landmarks), for video tracking."""
    roi_prob: np.ndarray | None = None
    """The model's probability in ROI space (``person.roi``), so video can reuse it for a still person."""


def person_masks(
    image: np.ndarray, people: list[Person], segmenter: PoseSegmenterProtocol, work_size: tuple[int, int]
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
        out.append(PersonMask(p, full, roi_to_frame(ones, roi, work_size), presence, track, prob))
    return out

"""Stand-ins for the matte tests: a per-person model that calls the red part of each ROI 'person'."""

from __future__ import annotations

import numpy as np

from livebokeh.people import PersonRoi, crop_roi


class RedPose:
    """A stand-in pose-landmark model: 'person' is the red part of the ROI crop, with ``score``; counts its runs."""

    size = 64
    last_track = None

    def __init__(self, score: float = 1.0) -> None:
        self.calls = 0
        self.score = score

    def segment_roi(self, image: np.ndarray, roi: PersonRoi) -> tuple[np.ndarray, float]:
        self.calls += 1
        crop = crop_roi(image, roi, self.size)
        return (crop[:, :, 2] > 128).astype(np.float32), self.score

"""Per-image gains of a matte over the raw model: the distribution, not only the mean.

A mean over hundreds of portraits can hide the few that got much worse - and for a
background-blur tool one portrait whose person is blurred away matters more than many
slightly sharper edges.  :class:`Gains` keeps every image's gain (ours minus raw) and
says which images lost most and how many lost more than a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import Scores

WORSE_BY = (0.02, 0.05)
"""IoU losses against the raw model that are counted (images worse than raw by more than each)."""

WORST_SHOWN = 5
"""How many of the images with the lowest IoU gain are listed."""


@dataclass(frozen=True, slots=True)
class Gains:
    """Per-image scores of ``method`` and of the ``baseline`` (the raw model) on the same images."""

    baseline: str
    method: str
    raw: dict[str, Scores]
    ours: dict[str, Scores]

    def iou(self) -> dict[str, float]:
        """IoU gain of each image (positive: better than raw)."""
        return {k: self.ours[k].iou - self.raw[k].iou for k in self.ours}

    def boundary_f1(self) -> dict[str, float]:
        """Boundary-F1 gain of each image."""
        return {k: self.ours[k].boundary_f1 - self.raw[k].boundary_f1 for k in self.ours}

    def worst(self, n: int = WORST_SHOWN) -> list[str]:
        """The ``n`` images with the lowest IoU gain, worst first."""
        gains = self.iou()
        return sorted(gains, key=lambda k: (gains[k], k))[:n]

    def worse_than_raw(self, by: float) -> list[str]:
        """Images whose IoU is lower than the raw model's by more than ``by``, worst first."""
        gains = self.iou()
        return [k for k in sorted(gains, key=lambda k: (gains[k], k)) if gains[k] < -by]

    def as_dict(self) -> dict[str, object]:
        iou, bf1 = self.iou(), self.boundary_f1()
        return {
            "baseline": self.baseline,
            "method": self.method,
            "iou": _distribution(list(iou.values())),
            "boundary_f1": _distribution(list(bf1.values())),
            "worse_than_raw": {f"{by:g}": len(self.worse_than_raw(by)) for by in WORSE_BY},
            "worst": [
                {
                    "image": k,
                    "raw_iou": self.raw[k].iou,
                    "iou": self.ours[k].iou,
                    "gain": iou[k],
                    "boundary_f1_gain": bf1[k],
                }
                for k in self.worst()
            ],
        }


def _distribution(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": float("nan"), "median": float("nan"), "min": float("nan"), "max": float("nan")}
    a = np.asarray(values, np.float64)
    return {"mean": float(a.mean()), "median": float(np.median(a)), "min": float(a.min()), "max": float(a.max())}

"""Mask quality against ground truth: IoU, boundary F1, mean alpha error; temporal instability of a video's matte."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

BOUNDARY_BAND_PX = 3


@dataclass(frozen=True, slots=True)
class Scores:
    """Scores of one predicted alpha against one binary ground truth."""

    iou: float
    boundary_f1: float
    alpha_mae: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _boundary(binary: np.ndarray) -> np.ndarray:
    """One-pixel inner boundary of a binary mask."""
    u8 = binary.astype(np.uint8)
    eroded = cv2.erode(u8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return (u8 - eroded).astype(bool)


def boundary_f1(pred: np.ndarray, gt: np.ndarray, band: int = BOUNDARY_BAND_PX) -> float:
    """F1 of boundary pixels matched within ``band`` pixels (1.0 when both have no boundary)."""
    pb, gb = _boundary(pred), _boundary(gt)
    if not pb.any() and not gb.any():
        return 1.0
    if not pb.any() or not gb.any():
        return 0.0
    dist_to_gt = cv2.distanceTransform((~gb).astype(np.uint8), cv2.DIST_L2, 3)
    dist_to_pred = cv2.distanceTransform((~pb).astype(np.uint8), cv2.DIST_L2, 3)
    precision = float((dist_to_gt[pb] <= band).mean())
    recall = float((dist_to_pred[gb] <= band).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def score(alpha: np.ndarray, gt: np.ndarray) -> Scores:
    """Score ``alpha`` (float in [0, 1] or uint8) against ``gt`` (bool, or uint8 with 255 = person)."""
    a: np.ndarray = alpha.astype(np.float32) / 255.0 if alpha.dtype == np.uint8 else alpha.astype(np.float32)
    g = gt > 127 if gt.dtype == np.uint8 else gt.astype(bool)
    if a.shape != g.shape:
        a = cv2.resize(a, (g.shape[1], g.shape[0]), interpolation=cv2.INTER_LINEAR)
    pred = a >= 0.5
    union = np.logical_or(pred, g).sum()
    iou = 1.0 if union == 0 else float(np.logical_and(pred, g).sum() / union)
    mae = float(np.abs(a - g.astype(np.float32)).mean())
    return Scores(iou=iou, boundary_f1=boundary_f1(pred, g), alpha_mae=mae)


def mean_scores(items: list[Scores]) -> Scores:
    if not items:
        return Scores(iou=float("nan"), boundary_f1=float("nan"), alpha_mae=float("nan"))
    return Scores(
        iou=float(np.mean([s.iou for s in items])),
        boundary_f1=float(np.mean([s.boundary_f1 for s in items])),
        alpha_mae=float(np.mean([s.alpha_mae for s in items])),
    )


# --- video metrics -----------------------------------------------------------------------

STILL_GREY = 3
"""A pixel whose (3x3-averaged) grey level changed by at most this much counts as unchanged."""


def still_pixels(prev: np.ndarray, cur: np.ndarray, threshold: int = STILL_GREY) -> np.ndarray:
    """Boolean map of the pixels where the frame itself did not change (BGR uint8 frames)."""
    a = cv2.blur(cv2.cvtColor(prev, cv2.COLOR_BGR2GRAY), (3, 3))
    b = cv2.blur(cv2.cvtColor(cur, cv2.COLOR_BGR2GRAY), (3, 3))
    return np.asarray(cv2.absdiff(a, b) <= threshold)


class InstabilityMeter:
    """Temporal instability: mean ``|alpha_t - alpha_{t-1}|`` (alpha in [0, 1]).

    Averaged over the pixels where the frame itself did not change, so it measures
    shimmer of the matte, not the person moving.
    """

    def __init__(self) -> None:
        self._total = 0.0
        self._count = 0
        self._prev_alpha: np.ndarray | None = None

    def add(self, alpha: np.ndarray, still: np.ndarray | None) -> None:
        """Add the alpha (uint8) of the next frame; ``still`` is :func:`still_pixels` of it and the previous frame."""
        if self._prev_alpha is not None and still is not None and still.any():
            diff = cv2.absdiff(alpha, self._prev_alpha)
            self._total += float(diff[still].sum()) / 255.0
            self._count += int(still.sum())
        self._prev_alpha = alpha.copy()

    @property
    def value(self) -> float:
        return self._total / self._count if self._count else float("nan")


def binary_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two alphas (uint8 or float) thresholded at one half; 1.0 when both are empty."""
    pa = a >= (128 if a.dtype == np.uint8 else 0.5)
    pb = b >= (128 if b.dtype == np.uint8 else 0.5)
    union = np.logical_or(pa, pb).sum()
    return 1.0 if union == 0 else float(np.logical_and(pa, pb).sum() / union)

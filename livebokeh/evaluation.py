"""Mask quality metrics against ground truth: IoU, boundary F1, mean alpha error."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError

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
    a = alpha.astype(np.float32) / 255.0 if alpha.dtype == np.uint8 else alpha.astype(np.float32)
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


def read_mask(path: Path) -> np.ndarray:
    """Read a single-channel 8-bit mask PNG."""
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    mask = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data is not None and data.size else None
    if mask is None:
        raise InputError(f"mask {path} is missing or not an image")
    return mask


def pair_images_and_masks(images: Path, masks: Path) -> list[tuple[Path, Path]]:
    """Pair ``images/NAME.ext`` with ``masks/NAME.png`` (the same folder may hold both)."""
    from .sources.images import list_images

    if not images.is_dir():
        raise InputError(f"images folder {images} does not exist")
    if not masks.is_dir():
        raise InputError(f"masks folder {masks} does not exist")
    pairs = []
    for img in list_images(images):
        if img.suffix.lower() == ".png" and images.resolve() == masks.resolve():
            continue  # the mask itself, when images and masks share a folder
        m = masks / f"{img.stem}.png"
        if m.is_file() and m != img:
            pairs.append((img, m))
    if not pairs:
        raise InputError(f"no image in {images} has a mask NAME.png in {masks}")
    return pairs

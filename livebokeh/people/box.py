"""Boxes in pixels and their overlap: the one :data:`Box` type and the one intersection-over-union."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Box = tuple[float, float, float, float]
"""An axis-aligned box ``(x0, y0, x1, y1)`` in the pixels of some image (``x1``, ``y1`` exclusive)."""

Rect = tuple[int, int, int, int]
"""A :data:`Box` on whole pixels, so that it can slice an image: ``image[y0:y1, x0:x1]`` (a crop)."""


def ious(box: Sequence[float] | np.ndarray, boxes: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Intersection over union of ``box`` with each row of ``boxes`` (``N x 4``); 0 where the union is empty.

    Computed in the inputs' own precision (``float32`` arrays stay ``float32``, tuples are ``float64``).
    """
    a = np.asarray(box)
    b = np.asarray(boxes)
    x0 = np.maximum(a[0], b[:, 0])
    y0 = np.maximum(a[1], b[:, 1])
    x1 = np.minimum(a[2], b[:, 2])
    y1 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    nonempty = union > 0
    return np.asarray(np.where(nonempty, inter / np.where(nonempty, union, 1), 0.0))


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (:func:`ious` of one pair)."""
    return float(ious(a, [b])[0])


def scale_box(box: Box, sx: float, sy: float) -> Box:
    """``box`` in an image scaled by ``sx`` across and ``sy`` down."""
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)

"""Bring a low-resolution mask to full resolution."""

from __future__ import annotations

import cv2
import numpy as np


def bilinear(mask: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Bilinear upsample of a float32 ``[0, 1]`` mask to ``size`` = ``(width, height)`` as uint8 alpha."""
    up = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
    return cv2.convertScaleAbs(up, dst=out, alpha=255.0)

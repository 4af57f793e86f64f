"""Depth-like falloff: blur that grows with distance from the person.

A phone's portrait mode blurs what is farther away more.  Without depth, distance
from the person in the image is a fair stand-in: the background next to the person
gets a light blur (``FALLOFF_NEAR`` of the full size) and it reaches full strength
``FALLOFF_DISTANCE`` frame heights away.  The distance transform runs on the
low-resolution weight map, so it costs next to nothing.
"""

from __future__ import annotations

import cv2
import numpy as np

FALLOFF_NEAR = 0.25
FALLOFF_DISTANCE = 0.35


def falloff_map(weight: np.ndarray, f: int, height: int, out: np.ndarray, scratch: dict[str, np.ndarray]) -> None:
    """Fill ``out`` (``sh x sw`` float32) with 0 at the person rising smoothly to 1 far from it.

    ``weight`` is the low-resolution background weight (about 0 on the person, 1 off it)
    at reduction factor ``f`` of a frame ``height`` pixels tall.
    """
    bg = scratch.get("bg")
    if bg is None or bg.shape != weight.shape:
        bg = np.zeros(weight.shape, np.uint8)
        scratch["bg"] = bg
        scratch["dist"] = np.zeros(weight.shape, np.float32)
        scratch["tmp"] = np.zeros(weight.shape, np.float32)
    dist, tmp = scratch["dist"], scratch["tmp"]
    np.greater_equal(weight, 0.5, out=bg)
    if bg.all():  # nobody in the frame: all of it is far
        out.fill(1.0)
        return
    cv2.distanceTransform(bg, cv2.DIST_L2, 3, dst=dist)
    np.multiply(dist, f / (FALLOFF_DISTANCE * height), out=out)
    np.clip(out, 0.0, 1.0, out=out)
    # smoothstep: no visible ring where the blur reaches full strength
    np.multiply(out, -2.0, out=tmp)
    tmp += 3.0
    out *= out
    out *= tmp

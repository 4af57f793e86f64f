"""The compositor: one API that photo, live and convert all call.

``Compositor(options).apply(image, alpha)`` returns ``out = bg + alpha * (image - bg)``
where ``bg`` is the effect's background and ``alpha`` the full-resolution ``uint8``
person alpha (255 = person).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..config import EffectOptions


def blur_sigma(strength: float, height: int) -> float:
    """Gaussian sigma in pixels for a strength in ``[0, 1]``: relative to frame height."""
    return max(0.5, float(strength) * 0.04 * height)


class Compositor:
    """Applies an effect behind the person."""

    def __init__(self, options: EffectOptions | None = None) -> None:
        self.options = options or EffectOptions()

    def set_options(self, options: EffectOptions) -> None:
        self.options = options

    def apply(self, image: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Composite ``image`` (BGR uint8) over the effect background using ``alpha`` (uint8, same H x W)."""
        effect = self.options.effect
        if effect == "none":
            return image
        if effect == "mask":
            return cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR, dst=out)
        h, w = image.shape[:2]
        sigma = blur_sigma(self.options.strength, h)
        scale = min(1.0, 4.0 / sigma) if sigma > 4 else 1.0
        sw, sh = max(1, int(w * scale)), max(1, int(h * scale))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
        weight = 1.0 - cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        s = sigma * scale
        num = cv2.GaussianBlur(small * weight[:, :, None], (0, 0), s)
        den = cv2.GaussianBlur(weight, (0, 0), s)
        bg_small = num / np.maximum(den, 1e-3)[:, :, None]
        fallback = cv2.GaussianBlur(small, (0, 0), s)
        bg_small = np.where((den > 1e-3)[:, :, None], bg_small, fallback)
        bg = cv2.resize(bg_small, (w, h), interpolation=cv2.INTER_LINEAR)
        a = alpha.astype(np.float32)[:, :, None] / 255.0
        result = bg + a * (image.astype(np.float32) - bg)
        if out is None:
            out = np.empty_like(image)
        np.copyto(out, np.clip(result + 0.5, 0, 255), casting="unsafe")
        return out

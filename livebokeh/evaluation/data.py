"""Evaluation data on disk: images paired with their ground-truth masks, subsets, video clips."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..sources.decoder import VideoDecoder
from ..sources.images import list_images


def read_mask(path: Path) -> np.ndarray:
    """Read a single-channel 8-bit mask PNG."""
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    mask = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data is not None and data.size else None
    if mask is None:
        raise InputError(f"mask {path} is missing or not an image")
    return mask


def pair_images_and_masks(images: Path, masks: Path) -> list[tuple[Path, Path]]:
    """Pair ``images/NAME.ext`` with ``masks/NAME.png`` (the same folder may hold both)."""
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


def subset_of(name: str) -> str:
    """The subset an evaluation file belongs to: its name up to the first ``-`` (``davis16-x-1`` -> ``davis16``)."""
    return name.split("-", 1)[0]


def read_clip(path: Path, max_frames: int) -> tuple[list[np.ndarray], float]:
    """Up to ``max_frames`` BGR frames of a video file, turned upright, and its frame rate (the one decoder's)."""
    with VideoDecoder(path, label="video") as clip:
        frames = [frame.image for frame in clip.frames(max_frames, upright=True)]
        fps = clip.fps
    if not frames:
        raise InputError(f"video {path} has no decodable frames")
    return frames, fps

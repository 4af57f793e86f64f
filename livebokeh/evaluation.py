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


def subset_of(name: str) -> str:
    """The subset an evaluation file belongs to: its name up to the first ``-`` (``davis16-x-1`` -> ``davis16``)."""
    return name.split("-", 1)[0]


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


# --- moving-person clips with exact ground truth ----------------------------------------------


@dataclass(frozen=True, slots=True)
class MovingClip:
    """Frames (BGR uint8) of a person pasted along a known path, with the exact person mask of each."""

    name: str
    frames: list[np.ndarray]
    masks: list[np.ndarray]
    fps: float


def cut_out(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The person's bounding box of ``image`` and of its binary ``mask`` (255 = person)."""
    ys, xs = np.nonzero(mask > 127)
    if len(xs) == 0:
        raise InputError("mask has no person pixels: cannot cut a person out of it")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return image[y0:y1, x0:x1].copy(), (mask[y0:y1, x0:x1] > 127).astype(np.uint8) * 255


def make_moving_clip(
    name: str,
    person: np.ndarray,
    person_mask: np.ndarray,
    background: np.ndarray,
    *,
    frames: int = 60,
    fps: float = 30.0,
    height_fraction: float = 0.7,
    speed: float = 0.5,
) -> MovingClip:
    """Paste a cut-out person onto ``background`` moving along a known path.

    The person (scaled to ``height_fraction`` of the frame) crosses the frame
    horizontally at ``speed`` frame-widths per second while bobbing vertically, and
    stands still for the middle fifth of the clip; the mask of each frame is exactly
    where it was pasted.
    The edge is pasted with a 1-pixel soft border so it is not unnaturally sharp.
    """
    h, w = background.shape[:2]
    scale = height_fraction * h / person.shape[0]
    pw, ph = max(1, int(person.shape[1] * scale)), max(1, int(person.shape[0] * scale))
    sprite = cv2.resize(person, (pw, ph), interpolation=cv2.INTER_AREA)
    alpha: np.ndarray = cv2.resize(person_mask, (pw, ph), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0.7)
    out_frames: list[np.ndarray] = []
    out_masks: list[np.ndarray] = []
    span = w - pw
    step = speed * w / fps  # pixels per frame while moving
    for i in range(frames):
        t = i / fps
        # moves for the first 40% of the clip, stands still for 20%, then moves on
        moved = min(i, 0.4 * frames) + max(0.0, i - 0.6 * frames)
        x = int(round(min(span, 0.05 * span + step * moved))) if span > 0 else 0
        bob = 0.0 if 0.4 * frames <= i < 0.6 * frames else 0.04 * h * (1 + np.sin(2 * np.pi * 1.5 * t))
        y = int(round(h - ph - bob))
        frame = background.copy()
        mask = np.zeros((h, w), np.uint8)
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(w, x + pw), min(h, y + ph)
        if x1 > x0 and y1 > y0:
            a = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
            region = frame[y0:y1, x0:x1].astype(np.float32)
            frame[y0:y1, x0:x1] = (a * sprite[y0 - y : y1 - y, x0 - x : x1 - x] + (1 - a) * region).astype(np.uint8)
            mask[y0:y1, x0:x1] = (a[:, :, 0] >= 0.5).astype(np.uint8) * 255
        out_frames.append(frame)
        out_masks.append(mask)
    return MovingClip(name=name, frames=out_frames, masks=out_masks, fps=fps)


def moving_clips_from(persons: Path, backgrounds: list[np.ndarray], *, frames: int = 60) -> list[MovingClip]:
    """Moving clips from every ``NAME.jpg`` + ``NAME.png`` pair in ``persons``, one per background in turn.

    Only one image per subset prefix and scene is used (``davis16-dance-twirl-*`` gives one
    dancer), so the clips show different people.
    """
    pairs = pair_images_and_masks(persons, persons)
    seen: set[str] = set()
    clips: list[MovingClip] = []
    for img_path, mask_path in pairs:
        scene = img_path.stem.rsplit("-", 1)[0] if subset_of(img_path.stem) == "davis16" else img_path.stem
        if scene in seen:
            continue
        seen.add(scene)
        from .sources.images import read_image

        person, pmask = cut_out(read_image(img_path), read_mask(mask_path))
        bg = backgrounds[len(clips) % len(backgrounds)]
        clips.append(make_moving_clip(f"moving-{scene}", person, pmask, bg, frames=frames))
    return clips

"""Video clips with exact ground truth: people pasted onto real backgrounds along known paths, and stored clips.

:func:`make_moving_clip` pastes a cut-out person onto a background moving along a known
path, so every frame's mask is exact; :func:`moving_clips_from` makes one per person in a
folder of photos + masks, on the people-free :func:`backgrounds` of the stored clips;
:func:`gt_clips` reads clips stored as ``NAME/frames`` + ``NAME/masks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..segmentation import create_segmenter
from ..sources.images import list_images, read_image
from .data import pair_images_and_masks, read_mask, subset_of


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
        person, pmask = cut_out(read_image(img_path), read_mask(mask_path))
        bg = backgrounds[len(clips) % len(backgrounds)]
        clips.append(make_moving_clip(f"moving-{scene}", person, pmask, bg, frames=frames))
    return clips


def gt_clips(videos: Path, max_frames: int) -> list[MovingClip]:
    """Clips stored as ``NAME/frames/*.jpg`` + ``NAME/masks/*.png`` (e.g. DAVIS)."""
    clips = []
    for folder in sorted(p for p in videos.iterdir() if (p / "frames").is_dir() and (p / "masks").is_dir()):
        frames, masks = [], []
        for img in list_images(folder / "frames")[:max_frames]:
            m = folder / "masks" / f"{img.stem}.png"
            if not m.is_file():
                break
            frames.append(read_image(img))
            masks.append(read_mask(m))
        fps = 24.0 if folder.name.startswith("davis") else 30.0
        if frames:
            clips.append(MovingClip(name=folder.name, frames=frames, masks=masks, fps=fps))
    return clips


def backgrounds(videos: Path | None, size: tuple[int, int] = (640, 360)) -> list[np.ndarray]:
    """Real backgrounds without people: the top band (buildings, sky) of the first frame of each GT clip.

    Candidates in which the bundled model finds any person are dropped.
    """
    out: list[np.ndarray] = []
    folders = sorted(p for p in videos.iterdir() if (p / "frames").is_dir()) if videos is not None else []
    for folder in folders:
        first = list_images(folder / "frames")[0]
        mask = read_mask(folder / "masks" / f"{first.stem}.png") if (folder / "masks").is_dir() else None
        image = read_image(first)
        h, w = image.shape[:2]
        band = int(0.28 * h)
        if mask is not None:
            ys = np.nonzero(mask.any(axis=1))[0]
            band = min(band, int(ys.min())) if len(ys) else band
        band = max(band, 32)
        bw = int(band * size[0] / size[1])
        for x in range(0, max(1, w - bw + 1), max(1, (w - bw) // 2 or 1)):
            out.append(cv2.resize(image[:band, x : x + bw], size, interpolation=cv2.INTER_CUBIC))
    # keep only backgrounds where the model itself sees nobody (unannotated bystanders)
    seg = create_segmenter("auto")
    out = [bg for bg in out if float((seg.segment(bg) >= 0.5).mean()) < 0.01]
    seg.close()
    if not out:
        raise InputError("no background found: --moving-from needs --videos with NAME/frames folders")
    return out


def save_clip(clip: MovingClip, folder: Path) -> None:
    """Write a clip's frames and masks as numbered JPEG/PNG files under ``folder/NAME``."""
    (folder / clip.name / "frames").mkdir(parents=True, exist_ok=True)
    (folder / clip.name / "masks").mkdir(parents=True, exist_ok=True)
    for i, (f, m) in enumerate(zip(clip.frames, clip.masks, strict=True)):
        cv2.imwrite(str(folder / clip.name / "frames" / f"{i:05d}.jpg"), f, [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(folder / clip.name / "masks" / f"{i:05d}.png"), m)

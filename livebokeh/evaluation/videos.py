"""Video evaluation: temporal instability on clips, and the IoU a stale mask loses, with and without compensation.

Every figure is measured for the raw model (bilinear upsample, no smoothing) and for
livebokeh's video matte in the same run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import MatteOptions
from ..errors import InputError
from ..frames import Frame, Mask
from ..matte import Matte, upsample
from ..matte.warp import MaskWarper, predicted_change
from ..runtime.governor import FLOOR_HZ, InferenceGovernor
from ..segmentation import SegmenterProtocol, create_segmenter
from .clips import MovingClip, backgrounds, gt_clips, moving_clips_from, save_clip
from .data import read_clip
from .metrics import InstabilityMeter, binary_iou, still_pixels
from .options import EvalOptions

FRAME_NS = 33_333_333
"""Clips are stamped at 30 fps for the matte, whatever their own rate (the matte only orders them)."""

MOVING_CLIP_FRAMES = 60
"""Generated moving clips are at most this many frames long."""


@dataclass(frozen=True, slots=True)
class VideoEvaluation:
    """Per clip: ``instability`` (clips without ground truth) and ``stale`` (clips with per-frame masks)."""

    instability: dict[str, dict[str, float]] = field(default_factory=dict)
    stale: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"instability": self.instability, "stale": self.stale}


def _segmenter(options: EvalOptions) -> SegmenterProtocol:
    s = options.segmenter
    return create_segmenter(s.model, num_threads=s.threads, person_class=s.person_class)


def _frames(clip: list[np.ndarray]) -> Iterator[Frame]:
    for i, image in enumerate(clip):
        yield Frame(image=image, timestamp_ns=i * FRAME_NS, index=i)


def instability(options: EvalOptions, path: Path) -> dict[str, float]:
    """Temporal instability of the raw model and of our matte on one clip (a mask every frame)."""
    clip, fps = read_clip(path, options.max_frames)
    seg = _segmenter(options)
    matte = Matte(seg, replace(options.matte, temporal=True), video=True)
    raw_meter, our_meter = InstabilityMeter(), InstabilityMeter()
    prev: np.ndarray | None = None
    for frame in _frames(clip):
        image = frame.image
        still = still_pixels(prev, image) if prev is not None else None
        raw = upsample.bilinear(seg.segment(image), (image.shape[1], image.shape[0]))
        ours = matte.apply_to(matte.compute(frame), frame)
        raw_meter.add(raw, still)
        our_meter.add(ours, still)
        prev = image
    seg.close()
    return {"frames": len(clip), "fps": fps, "raw": raw_meter.value, "livebokeh": our_meter.value}


class _Governed:
    """The live pipeline's inference schedule replayed on a clip: masks where the governor (motion alone) asks.

    The clip's frames are 1/fps apart; no CPU budget applies (offline there is none to
    measure), so the rate is the one the scene asks for, between ``FLOOR_HZ`` and the frame rate.
    """

    def __init__(self, seg: SegmenterProtocol, options: MatteOptions, fps: float) -> None:
        self.matte = Matte(seg, options, video=True)
        self.governor = InferenceGovernor(budget_percent=None, floor_hz=min(FLOOR_HZ, fps), ceiling_hz=fps)
        self.fps = fps
        self._warper = MaskWarper()
        self._due = 0.0
        self.mask: Mask | None = None
        self.masks = 0

    def apply(self, frame: Frame) -> np.ndarray:
        """The alpha the compositor would apply to ``frame``, computing a new mask first when one is due."""
        t = frame.index / self.fps
        if self.mask is None or t >= self._due - 1e-9:
            mask = self.matte.compute(frame)
            change = predicted_change(self._warper, self.mask, mask) if self.mask is not None else None
            self._due = t + self.governor.observed(change, 0.0)
            self.mask = mask
            self.masks += 1
        return self.matte.apply_to(self.mask, frame)


def stale_scores(options: EvalOptions, clip: MovingClip) -> dict[str, float]:
    """IoU against ground truth with a fresh mask every frame and with one every ``infer_every`` frames.

    ``governed`` replays the live CPU governor's schedule (motion alone, see :class:`_Governed`)
    and is scored on every frame, next to ``fresh_all`` (a fresh mask every frame, every frame
    scored); ``governed_masks_per_frame`` is the share of frames it computed a mask for.
    """
    every = options.infer_every
    seg = _segmenter(options)
    opts = replace(options.matte, temporal=True)
    fresh_matte = Matte(seg, opts, video=True)
    stale_matte = Matte(seg, replace(opts, compensate=False), video=True)
    comp_matte = Matte(seg, replace(opts, compensate=True), video=True)
    governed = _Governed(seg, replace(opts, compensate=True), clip.fps)
    keys = ("raw_fresh", "raw_stale", "fresh", "stale", "compensated", "stale_vs_fresh", "compensated_vs_fresh")
    sums = dict.fromkeys(keys, 0.0)
    all_sums = dict.fromkeys(("fresh_all", "governed", "governed_vs_fresh"), 0.0)
    n = 0
    raw_mask = None
    mask = None
    for frame, gt in zip(_frames(clip.frames), clip.masks, strict=True):
        image = frame.image
        size = (image.shape[1], image.shape[0])
        raw_now = seg.segment(image)
        fresh = fresh_matte.apply_to(fresh_matte.compute(frame), frame)
        ruled = governed.apply(frame)
        all_sums["fresh_all"] += binary_iou(fresh, gt)
        all_sums["governed"] += binary_iou(ruled, gt)
        all_sums["governed_vs_fresh"] += binary_iou(ruled, fresh)
        if frame.index % every == 0:
            raw_mask = raw_now
            mask = stale_matte.compute(frame)
        assert raw_mask is not None and mask is not None
        # applied on every frame, as the compositor does (its smoothing sees every frame) ...
        stale = stale_matte.apply_to(mask, frame)
        comp = comp_matte.apply_to(mask, frame)
        if frame.index % every == 0:
            continue  # ... but scored only on the frames that wait for a new mask
        n += 1
        sums["raw_fresh"] += binary_iou(upsample.bilinear(raw_now, size), gt)
        sums["raw_stale"] += binary_iou(upsample.bilinear(raw_mask, size), gt)
        sums["fresh"] += binary_iou(fresh, gt)
        sums["stale"] += binary_iou(stale, gt)
        sums["compensated"] += binary_iou(comp, gt)
        sums["stale_vs_fresh"] += binary_iou(stale, fresh)
        sums["compensated_vs_fresh"] += binary_iou(comp, fresh)
    seg.close()
    out = {k: v / max(1, n) for k, v in sums.items()}
    out.update({k: v / max(1, len(clip.frames)) for k, v in all_sums.items()})
    out["governed_masks_per_frame"] = governed.masks / max(1, len(clip.frames))
    out["frames_scored"] = float(n)
    out["fps"] = clip.fps
    return out


def evaluate_videos(options: EvalOptions) -> VideoEvaluation:
    """Instability on every ``*.mp4`` in ``options.videos``; stale-mask IoU on generated and stored GT clips."""
    result = VideoEvaluation()
    if options.videos is not None:
        if not options.videos.is_dir():
            raise InputError(f"videos folder {options.videos} does not exist")
        for path in sorted(options.videos.glob("*.mp4")):
            result.instability[path.stem] = instability(options, path)
    clips: list[MovingClip] = []
    if options.moving_from is not None:
        frames = min(options.max_frames, MOVING_CLIP_FRAMES)
        clips += moving_clips_from(options.moving_from, backgrounds(options.videos), frames=frames)
        if options.save_clips is not None:
            for clip in clips:
                save_clip(clip, options.save_clips)
    if options.videos is not None:
        clips += gt_clips(options.videos, options.max_frames)
    for clip in clips:
        result.stale[clip.name] = stale_scores(options, clip)
    return result

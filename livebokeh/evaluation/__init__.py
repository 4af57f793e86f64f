"""Scoring masks against ground truth: raw model vs livebokeh's matte, on photos and videos, in one run.

* :mod:`.options` - :class:`EvalOptions`: what to evaluate and with which settings;
* :mod:`.run` - :func:`evaluate` -> :class:`Evaluation` (photos and videos);
* :mod:`.photos` - per-image and per-subset scores; :mod:`.gains` - the per-image gains over raw;
* :mod:`.videos` - temporal instability and the IoU a stale mask loses;
* :mod:`.metrics` - IoU, boundary F1, alpha error, instability;
* :mod:`.data` - images paired with masks, subsets, clips on disk; :mod:`.clips` - moving-person
  clips with exact ground truth.
"""

from __future__ import annotations

from .clips import MovingClip, backgrounds, cut_out, gt_clips, make_moving_clip, moving_clips_from, save_clip
from .data import pair_images_and_masks, read_clip, read_mask, subset_of
from .gains import Gains
from .metrics import InstabilityMeter, Scores, binary_iou, boundary_f1, mean_scores, score, still_pixels
from .options import EvalOptions
from .photos import PhotoEvaluation, evaluate_photos
from .run import Evaluation, evaluate
from .videos import VideoEvaluation, evaluate_videos

__all__ = [
    "EvalOptions",
    "Evaluation",
    "Gains",
    "InstabilityMeter",
    "MovingClip",
    "PhotoEvaluation",
    "Scores",
    "VideoEvaluation",
    "backgrounds",
    "binary_iou",
    "boundary_f1",
    "cut_out",
    "evaluate",
    "evaluate_photos",
    "evaluate_videos",
    "gt_clips",
    "make_moving_clip",
    "mean_scores",
    "moving_clips_from",
    "pair_images_and_masks",
    "read_clip",
    "read_mask",
    "save_clip",
    "score",
    "still_pixels",
    "subset_of",
]

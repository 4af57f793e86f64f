"""Photo evaluation: the raw model and livebokeh's matte scored on the same images, per image and per subset."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..frames import Frame
from ..matte import Matte, upsample
from ..people import PersonDetector
from ..segmentation import create_segmenter
from ..sources.images import read_image
from .data import pair_images_and_masks, read_mask, subset_of
from .gains import Gains
from .metrics import Scores, mean_scores, score
from .options import EvalOptions

RAW_CANDIDATES = ("selfie", "selfie-landscape")
"""The bundled models ``raw_model="best"`` chooses from (the one with the higher mean IoU on these images)."""


@dataclass(frozen=True, slots=True)
class PhotoEvaluation:
    """Scores of every image for the raw baseline (first) and the method under test (last).

    ``crop_seconds`` holds the time the detectors and the crop pass took on each image that
    had crops; ``pose_people`` how many people got the pose-landmark pass on each image.
    """

    per_image: dict[str, dict[str, Scores]]
    crop_seconds: tuple[float, ...] = ()
    pose_people: tuple[int, ...] = ()

    @property
    def baseline(self) -> str:
        return next(iter(self.per_image))

    @property
    def method(self) -> str:
        return list(self.per_image)[-1]

    @property
    def subsets(self) -> dict[str, int]:
        """Images per subset (the file-name prefix before the first ``-``)."""
        ours = self.per_image[self.method]
        return {sub: sum(1 for k in ours if subset_of(k) == sub) for sub in sorted({subset_of(k) for k in ours})}

    def summary(self, subset: str | None = None) -> dict[str, Scores]:
        """Mean scores of each method, over every image or over one subset."""
        return {
            name: mean_scores([s for k, s in per.items() if subset is None or subset_of(k) == subset])
            for name, per in self.per_image.items()
        }

    def gains(self) -> Gains:
        """The method's per-image gains over the raw baseline."""
        return Gains(self.baseline, self.method, self.per_image[self.baseline], self.per_image[self.method])

    def as_dict(self) -> dict[str, Any]:
        """Everything as plain data (the ``--json`` output of ``livebokeh eval``)."""
        subsets = self.subsets
        by_subset = {sub: self.summary(sub) for sub in subsets}
        return {
            "images": len(self.per_image[self.method]),
            "subsets": subsets,
            "summary": {name: s.as_dict() for name, s in self.summary().items()},
            "subset_summary": {
                name: {sub: by_subset[sub][name].as_dict() for sub in subsets} for name in self.per_image
            },
            "crop_pass": {
                "images_with_crops": len(self.crop_seconds),
                "median_seconds": float(np.median(self.crop_seconds)) if self.crop_seconds else 0.0,
                "images_with_pose_pass": sum(1 for n in self.pose_people if n),
                "pose_people": int(sum(self.pose_people)),
            },
            "gains": self.gains().as_dict(),
            "per_image": {name: {k: v.as_dict() for k, v in per.items()} for name, per in self.per_image.items()},
        }


def raw_scores(pairs: list[tuple[Path, Path]], model: str) -> dict[str, Scores]:
    """Scores of the raw ``model``: its mask bilinearly upsampled, nothing else."""
    seg = create_segmenter(model)
    out = {}
    for img_path, mask_path in pairs:
        image = read_image(img_path)
        prob = seg.segment(image)
        out[img_path.stem] = score(upsample.bilinear(prob, (image.shape[1], image.shape[0])), read_mask(mask_path))
    seg.close()
    return out


def evaluate_photos(options: EvalOptions) -> PhotoEvaluation:
    """Score ``options.images`` against their masks: the raw baseline, then the matte (or ``options.pred``)."""
    assert options.images is not None and options.mask_folder is not None
    pairs = pair_images_and_masks(options.images, options.mask_folder)
    results: dict[str, dict[str, Scores]] = {}
    if options.raw_model == "best":
        candidates = {m: raw_scores(pairs, m) for m in RAW_CANDIDATES}
        best = max(candidates, key=lambda m: mean_scores(list(candidates[m].values())).iou)
        results[f"raw ({best})"] = candidates[best]
    else:
        results[f"raw ({options.raw_model})"] = raw_scores(pairs, options.raw_model)
    if options.pred is not None:
        pred = options.pred
        results["pred"] = {img.stem: score(read_mask(pred / f"{img.stem}.png"), read_mask(m)) for img, m in pairs}
        return PhotoEvaluation(results)
    ours: dict[str, Scores] = {}
    crop_seconds: list[float] = []
    pose_people: list[int] = []
    seg_opts = options.segmenter
    seg = create_segmenter(seg_opts.model, num_threads=seg_opts.threads, person_class=seg_opts.person_class)
    mattes: dict[str, Matte] = {}
    detector: PersonDetector | None = None  # one for every subject rule
    for img_path, mask_path in pairs:
        subject = options.subject_of(img_path.stem)
        if subject not in mattes:
            opts = replace(options.matte, subject=subject, temporal=False)
            if detector is None and (opts.crops or opts.subject == "main"):
                detector = PersonDetector()
            mattes[subject] = Matte(seg, opts, video=False, detector=detector)
        matte = mattes[subject]
        image = read_image(img_path)
        frame = Frame(image=image, timestamp_ns=0, index=0)
        alpha = matte.apply_to(matte.compute(frame), frame)
        if matte.last.crops:
            crop_seconds.append(matte.last.seconds)
        pose_people.append(matte.last.pose_people)
        ours[img_path.stem] = score(alpha, read_mask(mask_path))
    seg.close()
    results["livebokeh"] = ours
    return PhotoEvaluation(results, tuple(crop_seconds), tuple(pose_people))

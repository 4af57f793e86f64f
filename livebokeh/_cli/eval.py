"""``livebokeh eval``: score masks against ground truth, raw model vs our matte, in one run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


from ..evaluation import Scores, mean_scores, pair_images_and_masks, read_mask, score
from ..matte import upsample
from ..runtime.photo import PhotoProcessor
from ..segmentation import create_segmenter
from ..sources.images import read_image
from .common import add_matte_args, add_model_args, matte_options, segmenter_options


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "eval",
        help="score person masks against ground truth",
        description="Compare the raw model (bilinear upsample, no refinement) and livebokeh's matte "
        "against ground-truth masks: IoU (alpha >= 0.5), boundary F1 (3 px), mean alpha error.",
    )
    p.add_argument("--images", type=Path, required=True, help="folder of images")
    p.add_argument("--masks", type=Path, required=True, help="folder of ground-truth masks NAME.png (255 = person)")
    p.add_argument("--pred", type=Path, help="score these predicted masks (NAME.png) instead of running the model")
    p.add_argument("--raw-model", default="best", help="raw baseline model: best (of the two bundled), selfie, selfie-landscape")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--per-image", action="store_true", help="list every image in the table")
    add_model_args(p)
    add_matte_args(p)
    p.set_defaults(func=main)


def _raw_scores(pairs: list[tuple[Path, Path]], model: str) -> dict[str, Scores]:
    seg = create_segmenter(model)
    out = {}
    for img_path, mask_path in pairs:
        image = read_image(img_path)
        gt = read_mask(mask_path)
        prob = seg.segment(image)
        alpha = upsample.bilinear(prob, (image.shape[1], image.shape[0]))
        out[img_path.stem] = score(alpha, gt)
    seg.close()
    return out


def main(args: argparse.Namespace) -> int:
    pairs = pair_images_and_masks(args.images, args.masks)
    results: dict[str, dict[str, Scores]] = {}
    if args.raw_model == "best":
        candidates = {m: _raw_scores(pairs, m) for m in ("selfie", "selfie-landscape")}
        best = max(candidates, key=lambda m: mean_scores(list(candidates[m].values())).iou)
        results[f"raw ({best})"] = candidates[best]
    else:
        results[f"raw ({args.raw_model})"] = _raw_scores(pairs, args.raw_model)
    ours: dict[str, Scores] = {}
    if args.pred is not None:
        for img_path, mask_path in pairs:
            ours[img_path.stem] = score(read_mask(args.pred / f"{img_path.stem}.png"), read_mask(mask_path))
        results["pred"] = ours
    else:
        processor = PhotoProcessor(matte=matte_options(args, temporal=False), segmenter=segmenter_options(args))
        for img_path, mask_path in pairs:
            image = read_image(img_path)
            _, alpha = processor.process(image)
            ours[img_path.stem] = score(alpha, read_mask(mask_path))
        processor.close()
        results["livebokeh"] = ours
    summary = {name: mean_scores(list(per.values())).as_dict() for name, per in results.items()}
    if args.json:
        payload = {
            "images": len(pairs),
            "summary": summary,
            "per_image": {name: {k: v.as_dict() for k, v in per.items()} for name, per in results.items()},
        }
        json.dump(payload, sys.stdout, indent=2)
        print()
        return 0
    names = list(results)
    if args.per_image:
        print(f"{'image':<32}" + "".join(f"{n[:22]:>24}" for n in names))
        for stem in results[names[0]]:
            row = "".join(
                f"{results[n][stem].iou:>8.3f}{results[n][stem].boundary_f1:>8.3f}{results[n][stem].alpha_mae:>8.3f}"
                for n in names
            )
            print(f"{stem:<32}{row}")
    print(f"{len(pairs)} images   {'IoU':>8} {'bndF1':>8} {'alphaMAE':>9}")
    for n in names:
        s = summary[n]
        print(f"{n:<18} {s['iou']:>8.4f} {s['boundary_f1']:>8.4f} {s['alpha_mae']:>9.4f}")
    return 0

"""``livebokeh eval``: parse the arguments into :class:`~livebokeh.evaluation.EvalOptions`, run, print.

Photos (``--images``/``--masks``): IoU, boundary F1 (3 px) and mean alpha error, per
subset (the file-name prefix before the first ``-``) and over the set, and the
distribution of per-image gains over the raw model.  Videos (``--videos``): temporal
instability on clips without ground truth, and the cost of a stale mask with and
without compensation on clips with per-frame ground truth (``--moving-from`` makes such
clips).  The evaluation itself lives in :mod:`livebokeh.evaluation`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from ..evaluation import EvalOptions
from .common import add_matte_args, add_model_args, matte_options, segmenter_options


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "eval",
        help="score person masks against ground truth (photos and videos)",
        description="Compare the raw model (bilinear upsample, no refinement) and livebokeh's matte "
        "against ground-truth masks: IoU (alpha >= 0.5), boundary F1 (3 px), mean alpha error, per subset; "
        "on videos temporal instability and the IoU lost to a stale mask, with and without compensation.",
    )
    p.add_argument("--images", type=Path, help="folder of images")
    p.add_argument("--masks", type=Path, help="folder of ground-truth masks NAME.png (255 = person; default: --images)")
    p.add_argument("--pred", type=Path, help="score these predicted masks (NAME.png) instead of running the model")
    p.add_argument(
        "--raw-model", default="best", help="raw baseline model: best (of the two bundled), selfie, selfie-landscape"
    )
    p.add_argument(
        "--subject-for",
        action="append",
        default=[],
        metavar="PREFIX=SUBJECT",
        help="score images whose name starts with PREFIX with --subject SUBJECT (e.g. davis16=main); repeatable",
    )
    p.add_argument(
        "--videos",
        type=Path,
        help="folder of clips: *.mp4 (temporal instability) and NAME/frames + NAME/masks folders (stale-mask IoU)",
    )
    p.add_argument("--moving-from", type=Path, help="make moving-person clips from this folder of NAME.jpg + NAME.png")
    p.add_argument("--save-clips", type=Path, help="write the generated moving clips (frames and masks) to this folder")
    p.add_argument("--max-frames", type=int, default=150, help="frames read per clip (default 150)")
    p.add_argument(
        "--infer-every",
        type=int,
        default=3,
        help="stale-mask test: a new mask every N frames (default 3: 10 Hz at 30 fps)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--per-image", action="store_true", help="list every image in the table")
    add_model_args(p)
    add_matte_args(p)
    p.set_defaults(func=main)


# --- printing ---------------------------------------------------------------------------------


def _print_photos(res: dict[str, Any], per_image: bool) -> None:
    names = list(res["summary"])
    if per_image:
        print(f"{'image':<32}" + "".join(f"{n[:22]:>24}" for n in names))
        first = res["per_image"][names[0]]
        for stem in first:
            row = "".join(
                "{iou:>8.3f}{boundary_f1:>8.3f}{alpha_mae:>8.3f}".format(**res["per_image"][n][stem]) for n in names
            )
            print(f"{stem:<32}{row}")
    print(f"{res['images']} images           {'IoU':>8} {'bndF1':>8} {'alphaMAE':>9}")
    tables = {"all": res["summary"]}
    if len(res["subsets"]) > 1:
        for sub in res["subsets"]:
            tables[sub] = {n: res["subset_summary"][n][sub] for n in names}
    for sub, table in tables.items():
        label = "all" if sub == "all" else f"{sub} ({res['subsets'][sub]})"
        for n in names:
            s = table[n]
            print(f"{label:<14} {n:<24} {s['iou']:>8.4f} {s['boundary_f1']:>8.4f} {s['alpha_mae']:>9.4f}")
        if len(names) == 2:
            a, b = table[names[0]], table[names[1]]
            print(
                f"{'':<14} {'difference':<24} {b['iou'] - a['iou']:>+8.4f} {b['boundary_f1'] - a['boundary_f1']:>+8.4f}"
            )
    crops = res.get("crop_pass", {})
    if crops.get("images_with_crops"):
        print(
            f"crop pass ran on {crops['images_with_crops']} images; detectors + crops took "
            f"{crops['median_seconds'] * 1e3:.1f} ms median per image (pose-landmark pass on "
            f"{crops.get('images_with_pose_pass', 0)} images, {crops.get('pose_people', 0)} people)"
        )
    _print_gains(res["gains"], res["images"])


def _print_gains(gains: dict[str, Any], images: int) -> None:
    from ..evaluation.gains import WORSE_BY

    iou, bf1 = gains["iou"], gains["boundary_f1"]
    print(
        f"per-image gain over {gains['baseline']}: IoU mean {iou['mean']:+.4f}, median {iou['median']:+.4f}, "
        f"min {iou['min']:+.4f}; boundary F1 mean {bf1['mean']:+.4f}, median {bf1['median']:+.4f}, "
        f"min {bf1['min']:+.4f}"
    )
    worse = [gains["worse_than_raw"][f"{by:g}"] for by in WORSE_BY]
    print(
        f"worse than raw by more than {WORSE_BY[0]:g} IoU: {worse[0]} of {images} images; "
        + "; ".join(f"by more than {by:g}: {n}" for by, n in zip(WORSE_BY[1:], worse[1:], strict=True))
    )
    print(
        f"{'worst ' + str(len(gains['worst'])) + ' by IoU gain':<32}{'raw':>8}{'ours':>8}{'gain':>9}{'bndF1 gain':>12}"
    )
    for w in gains["worst"]:
        print(
            f"  {w['image']:<30}{w['raw_iou']:>8.3f}{w['iou']:>8.3f}{w['gain']:>+9.4f}{w['boundary_f1_gain']:>+12.4f}"
        )


def _print_videos(res: dict[str, Any], every: int) -> None:
    import numpy as np

    inst = res["instability"]
    if inst:
        print("temporal instability (mean |a_t - a_t-1| where the frame did not change; mask every frame)")
        print(f"{'clip':<44} {'frames':>6} {'raw':>9} {'livebokeh':>10} {'ratio':>7}")
        for name, r in inst.items():
            print(
                f"{name:<44} {r['frames']:>6} {r['raw']:>9.5f} {r['livebokeh']:>10.5f} "
                f"{r['livebokeh'] / r['raw']:>7.3f}"
            )
        raw = float(np.mean([r["raw"] for r in inst.values()]))
        ours = float(np.mean([r["livebokeh"] for r in inst.values()]))
        print(f"{'mean':<44} {'':>6} {raw:>9.5f} {ours:>10.5f} {ours / raw:>7.3f}")
    stale = res["stale"]
    if stale:
        print(f"\nstale masks: a new mask every {every} frames; IoU vs ground truth on the frames in between")
        print(
            f"{'clip':<34} {'fps':>4} {'raw':>6} {'raw-st':>7} {'fresh':>6} {'stale':>6} {'comp':>6} "
            f"{'loss':>7} {'loss-c':>7} {'st/fr':>6} {'co/fr':>6}"
        )
        for name, r in stale.items():
            print(
                f"{name:<34} {r['fps']:>4.0f} {r['raw_fresh']:>6.3f} {r['raw_stale']:>7.3f} {r['fresh']:>6.3f} "
                f"{r['stale']:>6.3f} {r['compensated']:>6.3f} {r['fresh'] - r['stale']:>7.4f} "
                f"{r['fresh'] - r['compensated']:>7.4f} {r['stale_vs_fresh']:>6.3f} {r['compensated_vs_fresh']:>6.3f}"
            )
        for group, names in (
            ("30 fps (generated)", [n for n, r in stale.items() if r["fps"] >= 29]),
            ("all clips", list(stale)),
        ):
            if not names:
                continue
            m = {k: float(np.mean([stale[n][k] for n in names])) for k in stale[names[0]]}
            loss, loss_c = m["fresh"] - m["stale"], m["fresh"] - m["compensated"]
            raw_loss = m["raw_fresh"] - m["raw_stale"]
            print(
                f"mean over {group}: raw loss {raw_loss:.4f}; ours loss without compensation {loss:.4f}, "
                f"with {loss_c:.4f} (ratio {loss_c / loss if loss else float('nan'):.3f}); "
                f"IoU vs fresh mask {m['stale_vs_fresh']:.3f} -> {m['compensated_vs_fresh']:.3f}"
            )
            print(
                f"  CPU governor's schedule (motion alone), every frame scored: IoU {m['fresh_all']:.4f} fresh -> "
                f"{m['governed']:.4f} governed (cost {m['fresh_all'] - m['governed']:.4f}); IoU vs fresh mask "
                f"{m['governed_vs_fresh']:.4f}; masks on {100 * m['governed_masks_per_frame']:.0f} % of the frames"
            )


def subject_rules(items: list[str]) -> tuple[tuple[str, str], ...]:
    """``--subject-for PREFIX=SUBJECT`` arguments as ``(prefix, subject)`` pairs."""
    out = []
    for item in items:
        prefix, sep, subject = item.partition("=")
        if not sep or subject not in ("all", "main") or not prefix:
            raise InputError(f"--subject-for {item!r}: write PREFIX=all or PREFIX=main, e.g. davis16=main")
        out.append((prefix, subject))
    return tuple(out)


def eval_options(args: argparse.Namespace) -> EvalOptions:
    """:class:`EvalOptions` from parsed (and config-merged) arguments."""
    from ..evaluation import EvalOptions

    return EvalOptions(
        images=args.images,
        masks=args.masks,
        pred=args.pred,
        raw_model=args.raw_model,
        subject_for=subject_rules(args.subject_for),
        videos=args.videos,
        moving_from=args.moving_from,
        save_clips=args.save_clips,
        max_frames=args.max_frames,
        infer_every=args.infer_every,
        segmenter=segmenter_options(args),
        matte=matte_options(args),
    )


def main(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate

    result = evaluate(eval_options(args))
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=2)
        print()
        return 0
    if result.photos is not None:
        _print_photos(result.photos.as_dict(), args.per_image)
    if result.videos is not None:
        if result.photos is not None:
            print()
        _print_videos(result.videos.as_dict(), args.infer_every)
    return 0

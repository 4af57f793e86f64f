"""``livebokeh eval``: score masks against ground truth, raw model vs our matte, in one run.

Photos (``--images``/``--masks``): IoU, boundary F1 (3 px) and mean alpha error, per
subset (the file-name prefix before the first ``-``) and over the set.  Videos
(``--videos``): temporal instability on clips without ground truth, and the cost of a
stale mask (inference slower than the frame rate) with and without compensation on
clips with per-frame ground truth; ``--moving-from`` makes such clips by pasting the
people of a folder of photos + masks onto real backgrounds along known paths (in
memory; ``--save-clips`` writes them out for a look).  Every figure is printed for
the raw model (bilinear upsample, no smoothing, same run) and for livebokeh's matte.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config import MatteOptions
from ..errors import InputError
from ..evaluation import (
    InstabilityMeter,
    MovingClip,
    Scores,
    binary_iou,
    mean_scores,
    moving_clips_from,
    pair_images_and_masks,
    read_mask,
    score,
    still_pixels,
    subset_of,
)
from ..frames import Frame
from ..matte import Matte, upsample
from ..people import PersonDetector
from ..segmentation import create_segmenter
from ..sources.images import list_images, read_image
from .common import add_matte_args, add_model_args, matte_options

log = logging.getLogger(__name__)

RAW_CANDIDATES = ("selfie", "selfie-landscape")


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


# --- photos ----------------------------------------------------------------------------------


def _raw_scores(pairs: list[tuple[Path, Path]], model: str) -> dict[str, Scores]:
    seg = create_segmenter(model)
    out = {}
    for img_path, mask_path in pairs:
        image = read_image(img_path)
        prob = seg.segment(image)
        out[img_path.stem] = score(upsample.bilinear(prob, (image.shape[1], image.shape[0])), read_mask(mask_path))
    seg.close()
    return out


def _subject_map(items: list[str], default: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        prefix, sep, subject = item.partition("=")
        if not sep or subject not in ("all", "main") or not prefix:
            raise InputError(f"--subject-for {item!r}: write PREFIX=all or PREFIX=main, e.g. davis16=main")
        out[prefix] = subject
    out.setdefault("", default)
    return out


def _subject_for(stem: str, mapping: dict[str, str]) -> str:
    best = max((p for p in mapping if stem.startswith(p)), key=len)
    return mapping[best]


def _photo_results(args: argparse.Namespace) -> dict[str, Any]:
    masks = args.masks or args.images
    pairs = pair_images_and_masks(args.images, masks)
    mapping = _subject_map(args.subject_for, args.subject)  # checked before any model runs
    results: dict[str, dict[str, Scores]] = {}
    if args.raw_model == "best":
        candidates = {m: _raw_scores(pairs, m) for m in RAW_CANDIDATES}
        best = max(candidates, key=lambda m: mean_scores(list(candidates[m].values())).iou)
        results[f"raw ({best})"] = candidates[best]
    else:
        results[f"raw ({args.raw_model})"] = _raw_scores(pairs, args.raw_model)
    ours: dict[str, Scores] = {}
    crop_seconds: list[float] = []
    pose_people: list[int] = []
    if args.pred is not None:
        for img_path, mask_path in pairs:
            ours[img_path.stem] = score(read_mask(args.pred / f"{img_path.stem}.png"), read_mask(mask_path))
        results["pred"] = ours
    else:
        seg = create_segmenter(args.model, num_threads=args.threads, person_class=args.person_class)
        mattes: dict[str, Matte] = {}
        detector: PersonDetector | None = None  # one for every subject rule
        for img_path, mask_path in pairs:
            subject = _subject_for(img_path.stem, mapping)
            if subject not in mattes:
                opts = matte_options(args, subject=subject, temporal=False)
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
    subsets = sorted({subset_of(stem) for stem in ours})
    summary = {name: mean_scores(list(per.values())).as_dict() for name, per in results.items()}
    by_subset: dict[str, dict[str, dict[str, float]]] = {}
    for name, per in results.items():
        by_subset[name] = {
            sub: mean_scores([s for k, s in per.items() if subset_of(k) == sub]).as_dict() for sub in subsets
        }
    return {
        "images": len(pairs),
        "subsets": {sub: sum(1 for k in ours if subset_of(k) == sub) for sub in subsets},
        "summary": summary,
        "subset_summary": by_subset,
        "crop_pass": {
            "images_with_crops": len(crop_seconds),
            "median_seconds": float(np.median(crop_seconds)) if crop_seconds else 0.0,
            "images_with_pose_pass": sum(1 for n in pose_people if n),
            "pose_people": int(sum(pose_people)),
        },
        "per_image": {name: {k: v.as_dict() for k, v in per.items()} for name, per in results.items()},
    }


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


# --- videos ----------------------------------------------------------------------------------


def read_clip(path: Path, max_frames: int) -> tuple[list[np.ndarray], float]:
    """Up to ``max_frames`` BGR frames of a video file, and its frame rate."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"video {path} cannot be opened: is it a video file?")
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
    frames: list[np.ndarray] = []
    while len(frames) < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise InputError(f"video {path} has no frames")
    return frames, fps


def _frames(clip: list[np.ndarray]) -> Iterator[Frame]:
    for i, image in enumerate(clip):
        yield Frame(image=image, timestamp_ns=i * 33_333_333, index=i)


def instability(args: argparse.Namespace, path: Path) -> dict[str, float]:
    """Temporal instability of the raw model and of our matte on one clip (a mask every frame)."""
    clip, fps = read_clip(path, args.max_frames)
    seg = create_segmenter(args.model, num_threads=args.threads, person_class=args.person_class)
    matte = Matte(seg, matte_options(args, temporal=True), video=True)
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


def stale_scores(args: argparse.Namespace, clip: MovingClip) -> dict[str, float]:
    """IoU against ground truth with a fresh mask every frame and with one every ``--infer-every`` frames."""
    every = max(1, args.infer_every)
    seg = create_segmenter(args.model, num_threads=args.threads, person_class=args.person_class)
    opts = matte_options(args, temporal=True)
    fresh_matte = Matte(seg, opts, video=True)
    stale_matte = Matte(seg, _replace(opts, compensate=False), video=True)
    comp_matte = Matte(seg, _replace(opts, compensate=True), video=True)
    keys = ("raw_fresh", "raw_stale", "fresh", "stale", "compensated", "stale_vs_fresh", "compensated_vs_fresh")
    sums = dict.fromkeys(keys, 0.0)
    n = 0
    raw_mask = None
    mask = None
    for frame, gt in zip(_frames(clip.frames), clip.masks, strict=True):
        image = frame.image
        size = (image.shape[1], image.shape[0])
        raw_now = seg.segment(image)
        fresh = fresh_matte.apply_to(fresh_matte.compute(frame), frame)
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
    out["frames_scored"] = float(n)
    out["fps"] = clip.fps
    return out


def _replace(opts: MatteOptions, **changes: Any) -> MatteOptions:
    values = {name: getattr(opts, name) for name in opts.__dataclass_fields__}
    values.update(changes)
    return MatteOptions(**values)


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


def save_clip(clip: MovingClip, folder: Path) -> None:
    """Write a clip's frames and masks as numbered JPEG/PNG files under ``folder/NAME``."""
    (folder / clip.name / "frames").mkdir(parents=True, exist_ok=True)
    (folder / clip.name / "masks").mkdir(parents=True, exist_ok=True)
    for i, (f, m) in enumerate(zip(clip.frames, clip.masks, strict=True)):
        cv2.imwrite(str(folder / clip.name / "frames" / f"{i:05d}.jpg"), f, [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(folder / clip.name / "masks" / f"{i:05d}.png"), m)


def _video_results(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"instability": {}, "stale": {}}
    if args.videos is not None:
        if not args.videos.is_dir():
            raise InputError(f"videos folder {args.videos} does not exist")
        for path in sorted(args.videos.glob("*.mp4")):
            out["instability"][path.stem] = instability(args, path)
    clips: list[MovingClip] = []
    if args.moving_from is not None:
        clips += moving_clips_from(args.moving_from, backgrounds(args.videos), frames=min(args.max_frames, 60))
        if args.save_clips is not None:
            for clip in clips:
                save_clip(clip, args.save_clips)
    if args.videos is not None:
        clips += gt_clips(args.videos, args.max_frames)
    for clip in clips:
        out["stale"][clip.name] = stale_scores(args, clip)
    return out


def _print_videos(res: dict[str, Any], every: int) -> None:
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


def main(args: argparse.Namespace) -> int:
    if args.images is None and args.videos is None and args.moving_from is None:
        raise InputError("nothing to evaluate: give --images DIR (and --masks DIR), --videos DIR or --moving-from DIR")
    photos = _photo_results(args) if args.images is not None else None
    videos = _video_results(args) if args.videos is not None or args.moving_from is not None else None
    if args.json:
        # photo results at the top level (images, summary, ...), video results under "videos"
        payload: dict[str, Any] = dict(photos or {})
        if videos is not None:
            payload["videos"] = videos
        json.dump(payload, sys.stdout, indent=2)
        print()
        return 0
    if photos is not None:
        _print_photos(photos, args.per_image)
    if videos is not None:
        if photos is not None:
            print()
        _print_videos(videos, args.infer_every)
    return 0

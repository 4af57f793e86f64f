"""``livebokeh bench matte``: what the matte costs per frame against plain bilinear upsampling, same run.

Everything runs on one thread (OpenCV set to one thread).  Baseline: the model's
144x256 mask bilinearly scaled to the frame and converted to ``uint8`` - what the raw
pipeline does.  Ours: edge-aware upsampling (guide image + guided filter + scale) and
temporal smoothing on both sides (the mask-level filter on the inference side, the
guide-resolution smoother on the compositor side).  Also reported: stale-mask
compensation (optical flow + warp, only when a mask is reused) and the crop pass
(the person detectors, and one second segmentation pass per small person), next to
one full-frame segmentation.  Rounds are interleaved; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..frames import Frame
from ..matte import upsample
from ..matte.temporal import GuideSmoother, TemporalFilter
from ..matte.warp import MaskWarper, flow_grey
from .choices import CLOCKS, SIZES


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "matte",
        help="ms/frame of edge-aware upsampling + smoothing vs plain bilinear, one thread; crop- and pose-pass cost",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--sizes", default="1080p", help="frame sizes (default 1080p; also 720p)")
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    p.add_argument("--per-round", type=int, default=4, help="frames per variant per round (default 4)")
    p.add_argument("--image", type=Path, default=None, help="photo to use (default: a built-in test scene)")
    p.add_argument("--no-models", action="store_true", help="skip the crop-pass timing (needs the bundled models)")
    p.add_argument("--clock", choices=tuple(CLOCKS), default="cpu", help="cpu (this thread's CPU time) or wall")
    p.add_argument("--json", action="store_true", help="print one JSON object of median ms")
    p.set_defaults(func=main)


def _scene(size: tuple[int, int], image: np.ndarray | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two frames (the second with the person moved a little and sensor noise) and their low-res masks."""
    from .composite import test_scene

    frames, masks = [], []
    for shift in (0, 12):
        frame, alpha = test_scene(size, image)
        frame = np.roll(frame, shift, axis=1)
        alpha = np.roll(alpha, shift, axis=1)
        noise = np.random.default_rng(shift).integers(-3, 4, frame.shape, dtype=np.int16)
        frames.append(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8))
        masks.append(cv2.resize(alpha, (256, 144), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0)
    return frames, masks


def _time(fn: Callable[[int], object], n: int, clock: Callable[[], float]) -> float:
    start = clock()
    for i in range(n):
        fn(i)
    return (clock() - start) / n * 1e3


def bench_size(
    size: tuple[int, int], rounds: int, per_round: int, clock: Callable[[], float], image: np.ndarray | None
) -> dict[str, float]:
    """Median ms per frame of each variant at one frame size."""
    frames, masks = _scene(size, image)
    w, h = size
    out = np.empty((h, w), np.uint8)
    temporal = TemporalFilter()
    smoother = GuideSmoother()
    warper = MaskWarper()

    # Each call sees a new Frame, as each video frame does, so every variant pays its own
    # shrinking (in convert the two sides share it: "ours total" counts it twice).
    def frame(i: int) -> Frame:
        return Frame(image=frames[i % 2], timestamp_ns=0, index=i)

    old_grey = flow_grey(frame(0))

    def bilinear(i: int) -> None:
        upsample.bilinear(masks[i % 2], size, out=out)

    def refine(i: int) -> None:
        guide = upsample.frame_guide(frame(i), upsample.VIDEO_GUIDE_SIDE)
        upsample.guided(masks[i % 2], guide, size, out=out, subsample=2)

    def refine_smooth(i: int) -> None:
        # compositor side: guide + guided filter + guide-resolution smoothing + scale
        guide = upsample.frame_guide(frame(i), upsample.VIDEO_GUIDE_SIDE)
        upsample.guided(masks[i % 2], guide, size, out=out, smoother=smoother.update, subsample=2)

    def inference_side(i: int) -> None:
        # inference side: small grey copy of the frame + mask-level temporal filter
        grey = flow_grey(frame(i))
        temporal.update(masks[i % 2], grey)

    def compensate(i: int) -> None:
        new_grey = flow_grey(frame(1))
        warper.warp(masks[0], old_grey, new_grey)

    variants: dict[str, Callable[[int], None]] = {
        "bilinear (baseline)": bilinear,
        "refine": refine,
        "refine+smooth (compositor)": refine_smooth,
        "smooth (inference side)": inference_side,
        "compensate (stale masks only)": compensate,
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():
        fn(0)
    for _ in range(rounds):
        for name, fn in variants.items():
            samples[name].append(_time(fn, per_round, clock))
    med = {k: statistics.median(v) for k, v in samples.items()}
    med["ours total (refine+smooth both sides)"] = med["refine+smooth (compositor)"] + med["smooth (inference side)"]
    return med


def bench_crops(image: np.ndarray | None, rounds: int, clock: Callable[[], float]) -> dict[str, float]:
    """Median ms of one full-frame segmentation, the person detectors, one crop pass and one pose pass (1080p)."""
    from ..matte.crops import crop_rect, merge_crops, merge_person_masks
    from ..people import Person, PersonDetector, PersonRoi, PoseSegmenter, person_masks
    from ..segmentation import create_segmenter

    frames, _ = _scene(SIZES["1080p"], image)
    frame = frames[0]
    h, w = frame.shape[:2]
    seg = create_segmenter("auto")
    det = PersonDetector()
    first = seg.segment(frame)
    rect = crop_rect((w * 0.45, h * 0.45, w * 0.55, h * 0.85), (h, w))  # a person 40% of the frame tall
    work = upsample.guide_size((w, h), 384)
    pose = PoseSegmenter()
    # a whole-body person 60% of the frame tall: the pose-landmark pass (video runs it on at most 2 people)
    body = (w * 0.4, h * 0.2, w * 0.6, h * 0.8)
    person = Person(body=body, score=1.0, roi=PersonRoi((w * 0.5, h * 0.5), 0.6 * h * 1.25, 0.0))
    first_work = cv2.resize(first, work, interpolation=cv2.INTER_LINEAR)

    def pose_pass(i: int) -> object:
        return merge_person_masks(first_work, person_masks(frame, [person], pose, work))

    variants: dict[str, Callable[[int], object]] = {
        "segment full frame": lambda i: seg.segment(frame),
        "detectors (face-full + pose)": lambda i: det.detect(frame),
        "crop pass, one person": lambda i: merge_crops(frame, first, [rect], seg.segment, work),
        "pose-landmark pass, one person": pose_pass,
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():
        fn(0)
    for _ in range(rounds):
        for name, fn in variants.items():
            samples[name].append(_time(fn, 2, clock))
    det.close()
    seg.close()
    pose.close()
    return {k: statistics.median(v) for k, v in samples.items()}


def main(args: argparse.Namespace) -> int:
    cv2.setNumThreads(1)
    clock = CLOCKS[args.clock]
    image = None
    if args.image is not None:
        from ..sources.images import read_image

        image = read_image(args.image)
    results: dict[str, dict[str, float]] = {}
    for name in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        if name not in SIZES:
            raise SystemExit(f"unknown size {name!r}: use {', '.join(SIZES)}")
        results[name] = bench_size(SIZES[name], args.rounds, args.per_round, clock, image)
    crops = {} if args.no_models else bench_crops(image, max(3, args.rounds // 3), clock)
    if args.json:
        print(json.dumps({"sizes": results, "crop_pass": crops, "clock": args.clock}, indent=2))
        return 0
    for name, med in results.items():
        base = med["bilinear (baseline)"]
        print(f"{name}, one thread, {args.clock} ms per frame (median of {args.rounds} rounds)")
        for k, v in med.items():
            extra = "" if k.startswith("bilinear") else f"   (+{v - base:.2f} ms vs bilinear)"
            if k.startswith("smooth (inference") or k.startswith("compensate"):
                extra = ""
            print(f"  {k:<40} {v:>7.2f}{extra}")
    if crops:
        print(f"crop pass on a 1080p frame, one thread, {args.clock} ms")
        for k, v in crops.items():
            print(f"  {k:<40} {v:>7.2f}")
        print(
            "  (video: the crop pass runs only for people under half the frame height, the pose-landmark pass only"
            " for whole-body people, at most 2; detectors every 10th mask, boxes follow the optical flow between)"
        )
    return 0

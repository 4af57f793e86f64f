"""``livebokeh bench composite``: milliseconds per frame of each effect against the simple approach, same run.

Everything runs on one thread (OpenCV set to one thread; the numba kernels are
single-threaded).  The baseline is what simple background blur tools do: ``cv2.blur``
13x13 of the whole frame, a 256x256 mask upscaled nearest-neighbour to a hard mask,
and ``np.where``.  ``copy`` is ``frame.copy()``: the memory-speed floor.  The frame
is a photo scaled to size with a soft, person-shaped alpha at full resolution.
Effects and baselines are timed in interleaved rounds so that load from other
processes hits them alike; medians are reported.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..config import EffectOptions
from ..effect_kinds import Color, Replace
from ..effects import Compositor, _kernels
from ..effects.replace import cover_fit
from ..errors import ConfigError
from .choices import CLOCKS, SIZES

log = logging.getLogger(__name__)

# Everything timed runs on the calling thread, so its CPU time is the work done;
# elapsed time also counts the time other processes held the CPU.
EFFECTS = ("blur", "bokeh", "blur+falloff", "bokeh+falloff", "replace", "color", "mask", "none")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "composite",
        help="ms/frame of each effect vs cv2.blur + hard mask + np.where, one thread",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--sizes", default="1080p,720p", help="frame sizes (default 1080p,720p)")
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    p.add_argument("--per-round", type=int, default=4, help="frames per effect per round (default 4)")
    p.add_argument("--strength", type=float, default=0.5, help="effect strength (default 0.5)")
    p.add_argument("--image", type=Path, default=None, help="photo to use (default: a built-in test scene)")
    p.add_argument("--backend", choices=("numba", "numpy"), default=None, help="kernel implementation")
    p.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="cpu",
        help="cpu: this thread's CPU time, which other processes on a shared machine do not inflate "
        "(everything timed runs on this one thread); wall: elapsed time (default cpu)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object of median ms per frame")
    p.set_defaults(func=main)


def test_scene(size: tuple[int, int], image: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A frame of ``size`` = ``(width, height)`` and a soft person-shaped ``uint8`` alpha for it."""
    w, h = size
    if image is None:
        image = _synthetic_photo()
    frame = cover_fit(image, size)
    alpha = np.zeros((h, w), np.uint8)
    cx = w // 2
    cv2.ellipse(alpha, (cx, int(h * 0.36)), (int(h * 0.13), int(h * 0.17)), 0, 0, 360, 255, -1)  # head
    cv2.rectangle(alpha, (cx - int(h * 0.06), int(h * 0.48)), (cx + int(h * 0.06), int(h * 0.6)), 255, -1)  # neck
    cv2.ellipse(alpha, (cx, h), (int(h * 0.42), int(h * 0.45)), 0, 180, 360, 255, -1)  # shoulders
    cv2.GaussianBlur(alpha, (0, 0), max(1.0, h / 400), dst=alpha)
    return frame, alpha


def _synthetic_photo() -> np.ndarray:
    """A textured scene with lights, so no photo file is needed."""
    rng = np.random.default_rng(7)
    h, w = 540, 960
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([60 + 80 * xx / w, 90 + 60 * yy / h, 120 + 40 * np.sin(xx / 37.0)], axis=2)
    img += rng.normal(0, 12, (h, w, 3)).astype(np.float32)
    for _ in range(25):
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(2, 6))
        cv2.circle(img, (x, y), r, (255, 255, 255), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _timer(fn: Callable[[], object], n: int, samples: list[float], clock: Callable[[], float]) -> None:
    for _ in range(n):
        start = clock()
        fn()
        samples.append((clock() - start) * 1e3)


def bench_size(
    size: tuple[int, int], args: argparse.Namespace, photo: np.ndarray | None, tmp: Path
) -> dict[str, float]:
    """Median ms per frame of every effect, the baseline and the copy floor at one size."""
    frame, alpha = test_scene(size, photo)
    w, h = size
    out = np.empty_like(frame)
    backdrop = cv2.rotate(cover_fit(_synthetic_photo(), (h * 4 // 3, h)), cv2.ROTATE_180)  # 4:3, cover-fitted
    bg_path = tmp / "backdrop.png"
    cv2.imwrite(str(bg_path), backdrop)

    runs: dict[str, Callable[[], object]] = {}
    for name in EFFECTS:
        effect, _, extra = name.partition("+")
        kind = Replace(bg_path) if effect == "replace" else Color((0x40, 0xB1, 0x00)) if effect == "color" else effect
        comp = Compositor(EffectOptions(effect=kind, strength=args.strength, falloff=extra == "falloff"))
        runs[name] = functools.partial(comp.apply, frame, alpha, out)

    mask256 = cv2.resize(alpha, (256, 256), interpolation=cv2.INTER_AREA)

    def baseline() -> np.ndarray:
        blurred = cv2.blur(frame, (13, 13))
        hard = cv2.resize(mask256, (w, h), interpolation=cv2.INTER_NEAREST) > 127
        return np.where(hard[:, :, None], frame, blurred)

    runs["baseline"] = baseline
    runs["copy"] = frame.copy
    samples: dict[str, list[float]] = {name: [] for name in runs}
    clock = CLOCKS[args.clock]
    for fn in runs.values():  # warm caches and buffers
        _timer(fn, 2, [], clock)
    for _ in range(args.rounds):
        for name, fn in runs.items():
            _timer(fn, args.per_round, samples[name], clock)
    return {name: round(statistics.median(vals), 3) for name, vals in samples.items()}


def main(args: argparse.Namespace) -> int:
    cv2.setNumThreads(1)
    if args.backend:
        _kernels.set_backend(args.backend)
    jit_s = _kernels.warm_up()
    photo = None
    if args.image is not None:
        from ..sources.images import read_image

        photo = read_image(args.image)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise ConfigError(f"size {unknown[0]!r} is unknown: use {', '.join(SIZES)}")
    if args.rounds < 1 or args.per_round < 1:
        raise ConfigError("--rounds and --per-round must be at least 1")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="livebokeh-bench-") as tmp:
        results = {name: bench_size(SIZES[name], args, photo, Path(tmp)) for name in sizes}
    load_after = os.getloadavg()[0]
    if args.json:
        print(json.dumps(results))
        return 0
    backend = "numba" if _kernels.using_numba() else "numpy"
    print(f"one thread, {backend} kernels (first call {jit_s * 1e3:.0f} ms), strength {args.strength}")
    print(f"load average {load_before:.2f} -> {load_after:.2f} on {os.cpu_count()} CPUs")
    print(f"median ms per frame ({args.clock} time)")
    names = list(next(iter(results.values())))
    print(f"{'':16}" + "".join(f"{s:>10}" for s in results))
    for name in names:
        print(f"{name:16}" + "".join(f"{results[s][name]:10.2f}" for s in results))
    for s, r in results.items():
        ratio = r["baseline"] / r["blur"]
        print(f"{s}: blur is {ratio:.1f}x faster than the baseline and takes {r['blur'] / r['copy']:.1f}x a copy")
    return 0

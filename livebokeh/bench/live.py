"""``livebokeh bench live``: the threaded live pipeline against a synchronous loop, same run.

The baseline is what simple tools do: in the capture loop, segment every frame, then
composite it, then hand it on, all in one thread.  Both sides use the same synthetic
source, model, matte and compositor, with a null sink.

Measurements per frame size:

* **at 30 fps** (a camera): output fps, frames lost, inference rate, mask age and
  process CPU (100 = one core) of the threaded pipeline with its CPU governor
  (``--cpu-budget``, default the live default), of the same pipeline without it (a mask
  for every frame the model keeps up with: ``cpu_budget_off``) and of the synchronous
  loop; with ``--sources raw,mjpeg`` (the default) the threaded sides run on the raw
  synthetic frames and on the same frames decoded from JPEG one per frame, as a webcam
  in MJPEG mode delivers them (``synthetic:...:mjpeg``);
* **sustainable fps**: the threaded pipeline (governed and not) and the synchronous loop
  fed by a source offering 1000 fps, so each runs as fast as it can; the ratio
  ``live / synchronous`` is the headroom the threads buy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

from ..config import EffectOptions, MatteOptions, SegmenterOptions
from ..effects import Compositor
from ..frames import Frame
from ..matte import Matte
from ..runtime.governor import DEFAULT_CPU_BUDGET
from ..runtime.live import LiveOptions, Pipeline
from ..segmentation import create_segmenter
from ..sources import open_source
from ..sources.synthetic import SyntheticSource
from ..stats import CpuMeter, peak_rss_mb
from .choices import SIZES as BENCH_SIZES

SIZES = {**BENCH_SIZES, "480p": (854, 480)}
CAMERA_FPS = 30.0
OFFERED_FPS = 1000.0
"""Frames offered per second for the sustainable rates: more than either side takes (at 240 the threaded
pipeline took 218-228 of them, so the source, not the pipeline, set its figure)."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "live",
        help="threaded live pipeline vs a synchronous segment-then-composite loop",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--sizes", default="1080p,720p", help=f"frame sizes, of {', '.join(SIZES)} (default 1080p,720p)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each 30 fps run (default 10)")
    p.add_argument("--model", default="auto", help="model (default auto)")
    p.add_argument("--effect", default="blur", help="effect (default blur)")
    p.add_argument(
        "--sources",
        default="raw,mjpeg",
        help="raw (precomputed frames) and/or mjpeg (decoded from JPEG per frame, as a webcam): default both",
    )
    p.add_argument(
        "--cpu-budget",
        type=float,
        default=DEFAULT_CPU_BUDGET,
        help=f"the governed runs' budget in percent of one core (default {DEFAULT_CPU_BUDGET:g})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=main)


def _summary_of(stats: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "frames_captured",
        "frames_composited",
        "frames_dropped",
        "output_fps",
        "inference_count",
        "inference_hz",
        "mask_age_ms_p50",
        "mask_age_ms_p95",
        "cpu_percent",
        "stage_ms",
        "governor",
        "load_average_1min",
    )
    return {k: stats.get(k) for k in keep}


def run_live(
    size: tuple[int, int],
    fps: float,
    seconds: float,
    model: str,
    effect: str,
    *,
    mjpeg: bool = False,
    cpu_budget: float | None = DEFAULT_CPU_BUDGET,
) -> dict[str, Any]:
    """The threaded pipeline on a synthetic source (raw or MJPEG-coded frames); its stats summary."""
    spec = f"synthetic:{size[0]}x{size[1]}@{fps:g}" + (":mjpeg" if mjpeg else "")
    pipeline = Pipeline(
        open_source(spec),
        ["null"],
        effect=EffectOptions(effect=effect),
        segmenter=SegmenterOptions(model=model),
        options=LiveOptions(duration=seconds, cpu_budget=cpu_budget),
    )
    return _summary_of(pipeline.run())


def run_synchronous(size: tuple[int, int], fps: float, seconds: float, model: str, effect: str) -> dict[str, Any]:
    """Segment every frame in the capture loop, then composite: the baseline."""
    source = SyntheticSource(width=size[0], height=size[1], fps=fps)
    segmenter = create_segmenter(model, num_threads=1)
    matte = Matte(segmenter, MatteOptions(), video=True)
    compositor = Compositor(EffectOptions(effect=effect))
    w, h = size
    out = np.empty((h, w, 3), np.uint8)
    alpha_buf = np.empty((h, w), np.uint8)
    warm = Frame(image=np.full((h, w, 3), 128, np.uint8), timestamp_ns=time.monotonic_ns(), index=-1)
    compositor.apply(warm.image, matte.apply_to(matte.compute(warm), warm, out=alpha_buf), out=out)
    matte.reset()
    seg_ms: list[float] = []
    comp_ms: list[float] = []
    latency_ms: list[float] = []
    cpu = CpuMeter()
    start = time.monotonic_ns()
    end = start + int(seconds * 1e9)
    frames = 0
    try:
        while True:
            image = source.read()
            now = time.monotonic_ns()
            if image is None or now >= end:
                break
            frame = Frame(image=image, timestamp_ns=now, index=frames)
            mask = matte.compute(frame)
            t1 = time.monotonic_ns()
            alpha = matte.apply_to(mask, frame, out=alpha_buf)
            compositor.apply(frame.image, alpha, out=out, reduced=frame.reduced)
            t2 = time.monotonic_ns()
            seg_ms.append((t1 - now) / 1e6)
            comp_ms.append((t2 - t1) / 1e6)
            latency_ms.append((t2 - now) / 1e6)
            frames += 1
    finally:
        segmenter.close()
        source.close()
    wall = (time.monotonic_ns() - start) / 1e9
    cpu_percent = cpu.total_percent()
    offered = int(round(wall * fps))

    def pct(values: list[float], q: float) -> float | None:
        return round(float(np.percentile(values, q)), 2) if values else None

    return {
        "frames_captured": frames,
        "frames_composited": frames,
        "frames_dropped": max(0, offered - frames),
        "output_fps": round(frames / wall, 2) if wall > 0 else 0.0,
        "inference_count": frames,
        "inference_hz": round(frames / wall, 2) if wall > 0 else 0.0,
        "mask_age_ms_p50": 0.0,
        "mask_age_ms_p95": 0.0,
        "latency_ms_p50": pct(latency_ms, 50),
        "latency_ms_p95": pct(latency_ms, 95),
        "cpu_percent": round(cpu_percent, 2),
        "stage_ms": {
            "inference": {"p50": pct(seg_ms, 50), "p95": pct(seg_ms, 95)},
            "upsample+composite": {"p50": pct(comp_ms, 50), "p95": pct(comp_ms, 95)},
        },
    }


def bench_size(
    name: str, seconds: float, model: str, effect: str, log: Any, *, sources: list[str], budget: float
) -> dict[str, Any]:
    size = SIZES[name]
    camera: dict[str, Any] = {}
    for kind in sources:
        mjpeg = kind == "mjpeg"
        log(f"{name} {kind}: threaded pipeline, budget {budget:g} %, at {CAMERA_FPS:g} fps for {seconds:g} s ...")
        governed = run_live(size, CAMERA_FPS, seconds, model, effect, mjpeg=mjpeg, cpu_budget=budget)
        log(f"{name} {kind}: threaded pipeline, no budget (a mask per frame), for {seconds:g} s ...")
        ungoverned = run_live(size, CAMERA_FPS, seconds, model, effect, mjpeg=mjpeg, cpu_budget=None)
        camera[kind] = {"live": governed, "cpu_budget_off": ungoverned}
    log(f"{name}: synchronous loop at {CAMERA_FPS:g} fps for {seconds:g} s ...")
    sync = run_synchronous(size, CAMERA_FPS, seconds, model, effect)
    short = max(2.0, seconds / 2)
    log(f"{name}: threaded (budget {budget:g} % and off) and synchronous, {OFFERED_FPS:g} fps offered, {short:g} s ...")
    live_max = run_live(size, OFFERED_FPS, short, model, effect, cpu_budget=budget)
    free_max = run_live(size, OFFERED_FPS, short, model, effect, cpu_budget=None)
    sync_max = run_synchronous(size, OFFERED_FPS, short, model, effect)
    live_fps, free_fps, sync_fps = live_max["output_fps"], free_max["output_fps"], sync_max["output_fps"]
    first = camera[sources[0]]
    return {
        "size": list(size),
        "camera_fps": CAMERA_FPS,
        "cpu_budget": budget,
        "live": first["live"],
        "synchronous": sync,
        "sources": camera,
        "sustainable_fps": {
            "live": live_fps,
            "cpu_budget_off": free_fps,
            "synchronous": sync_fps,
            "ratio": round(live_fps / sync_fps, 2) if sync_fps else None,
            "ratio_cpu_budget_off": round(free_fps / sync_fps, 2) if sync_fps else None,
            "live_inference_hz": live_max["inference_hz"],
            "live_cpu_percent": live_max["cpu_percent"],
            "cpu_budget_off_cpu_percent": free_max["cpu_percent"],
            "synchronous_cpu_percent": sync_max["cpu_percent"],
        },
    }


def _table(name: str, r: dict[str, Any]) -> str:
    sync, sus = r["synchronous"], r["sustainable_fps"]
    columns = [(f"{kind} {label}", run) for kind, runs in r["sources"].items() for label, run in (
        (f"{r['cpu_budget']:g}%", runs["live"]), ("off", runs["cpu_budget_off"]))]  # fmt: skip
    columns.append(("synchronous", sync))

    def row(label: str, values: list[Any]) -> str:
        return f"  {label:<24}" + "".join(f"{v!s:>16}" for v in values)

    def age(run: dict[str, Any]) -> str:
        return "0 (same frame)" if run is sync else f"{run['mask_age_ms_p50']} / {run['mask_age_ms_p95']}"

    lines = [
        f"{name} ({r['size'][0]}x{r['size'][1]}), source at {r['camera_fps']:g} fps; threaded with budget or off:",
        row("", [label for label, _ in columns]),
        row("output fps", [run["output_fps"] for _, run in columns]),
        row("frames dropped", [run["frames_dropped"] for _, run in columns]),
        row("inference Hz", [run["inference_hz"] for _, run in columns]),
        row("mask age ms p50 / p95", [age(run) for _, run in columns]),
        row("CPU % of one core", [run["cpu_percent"] for _, run in columns]),
        f"  sustainable fps: threaded {sus['live']} (budget off {sus['cpu_budget_off']}), synchronous "
        f"{sus['synchronous']}, ratio {sus['ratio']}x (off {sus['ratio_cpu_budget_off']}x)",
    ]
    for label, run in columns[:-1]:
        stages = ", ".join(f"{k} {v['p50']}/{v['p95']}" for k, v in run["stage_ms"].items() if v.get("p50") is not None)
        lines.append(f"  {label} stage ms p50/p95: {stages}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    names = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [n for n in names if n not in SIZES]
    if unknown or not names:
        raise ConfigError(f"sizes {args.sizes!r}: use a comma-separated list of {', '.join(SIZES)}")

    def log(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    started = time.monotonic()
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    if not sources or any(s not in ("raw", "mjpeg") for s in sources):
        raise ConfigError(f"sources {args.sources!r}: use raw, mjpeg or raw,mjpeg")
    results = {
        name: bench_size(name, args.seconds, args.model, args.effect, log, sources=sources, budget=args.cpu_budget)
        for name in names
    }
    try:
        import os

        load = os.getloadavg()
    except (AttributeError, OSError):
        load = None
    report = {
        "bench": "live",
        "results": results,
        "machine": {"cpus": _cpus(), "load_average": list(load) if load else None},
        "seconds": round(time.monotonic() - started, 1),
        "peak_rss_mb": peak_rss_mb(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, r in results.items():
            print(_table(name, r))
        ratios = [r["sustainable_fps"]["ratio"] for r in results.values() if r["sustainable_fps"]["ratio"]]
        if ratios:
            print(f"median sustainable-fps ratio (threaded / synchronous): {statistics.median(ratios):.2f}x")
        if load:
            print(f"load average during the bench: {load[0]:.2f} (1 min) on {_cpus()} CPUs")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

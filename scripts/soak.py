#!/usr/bin/env python3
"""Soak test: run the live pipeline for a long time and check that nothing grows or slows.

Runs :class:`livebokeh.Pipeline` (the same wiring as ``livebokeh live``) from a
synthetic source (or a file played as a camera, looped) into the null sink for
``--duration`` seconds, and every ``--every`` seconds samples the process RSS, the
output frame rate over the last interval, the inference rate and the thread count.
After a warm-up it checks:

* RSS grows by at most ``--max-rss-growth-mb`` (default 20 MB) from the first
  post-warm-up sample to the largest later one;
* output fps does not decay: the median of the last quarter of samples is at least
  ``--min-fps-ratio`` (default 0.9) of the median of the first quarter;
* the thread count never changes after warm-up.

Prints one line per sample and a JSON report at the end (``--json PATH`` writes it);
exit status 0 when every check passes, 1 otherwise.

    python scripts/soak.py                       # 10 minutes, synthetic 1280x720@30
    python scripts/soak.py --duration 60 --source sample
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger("soak")

DEFAULT_DURATION_S = 600.0
DEFAULT_EVERY_S = 5.0
DEFAULT_WARMUP_S = 20.0


@dataclass
class Sample:
    """One look at the running process."""

    t_s: float
    rss_mb: float
    output_fps: float
    inference_hz: float
    threads: int
    cpu_ms_per_frame: float
    frames_composited: int
    frames_dropped: int


def _rss_mb() -> float:
    """Current resident set size in MB (psutil when present, else /proc)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 1e6
    except ImportError:  # pragma: no cover - psutil is a test dependency
        with open("/proc/self/statm") as fh:
            import os

            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def soak(
    *,
    duration: float = DEFAULT_DURATION_S,
    every: float = DEFAULT_EVERY_S,
    warmup: float = DEFAULT_WARMUP_S,
    source: str = "synthetic:640x360@30",
    sink: str = "null",
    max_rss_growth_mb: float = 20.0,
    min_fps_ratio: float = 0.9,
    on_sample: Any = None,
) -> dict[str, Any]:
    """Run the pipeline for ``duration`` s, sampling every ``every`` s; return the report dict."""
    from livebokeh import Pipeline
    from livebokeh.runtime.live import LiveOptions

    samples: list[Sample] = []
    options = LiveOptions(duration=duration, loop=True)
    with Pipeline(source=source, sinks=[sink], options=options) as pipeline:
        t0 = time.monotonic()
        next_at = t0 + every
        last_t, last_n = t0, pipeline.stats.frames_composited
        last_inf = pipeline.stats.inference_count
        last_cpu = time.process_time()
        for _frame, _mask in pipeline:
            now = time.monotonic()
            if now < next_at:
                continue
            if now - t0 > duration - 1.0:  # capture is ending: its thread may already be gone
                continue
            next_at += every
            stats = pipeline.stats
            dt = now - last_t
            n, inf = stats.frames_composited, stats.inference_count
            cpu = time.process_time()
            sample = Sample(
                t_s=round(now - t0, 2),
                rss_mb=round(_rss_mb(), 2),
                output_fps=round((n - last_n) / dt, 2),
                inference_hz=round((inf - last_inf) / dt, 2),
                threads=threading.active_count(),
                cpu_ms_per_frame=round(1000 * (cpu - last_cpu) / max(1, n - last_n), 2),
                frames_composited=n,
                frames_dropped=stats.frames_dropped,
            )
            last_t, last_n, last_inf, last_cpu = now, n, inf, cpu
            samples.append(sample)
            if on_sample is not None:
                on_sample(sample)
        summary = pipeline.stats.summary()
    return evaluate(
        samples,
        warmup=warmup,
        max_rss_growth_mb=max_rss_growth_mb,
        min_fps_ratio=min_fps_ratio,
        summary=summary,
        duration=duration,
        source=source,
    )


def evaluate(
    samples: list[Sample],
    *,
    warmup: float,
    max_rss_growth_mb: float,
    min_fps_ratio: float,
    summary: dict[str, Any] | None = None,
    duration: float = 0.0,
    source: str = "",
) -> dict[str, Any]:
    """Apply the three checks to ``samples``; the report says what passed and the figures."""
    steady = [s for s in samples if s.t_s >= warmup]
    failures: list[str] = []
    report: dict[str, Any] = {
        "duration_s": duration,
        "source": source,
        "warmup_s": warmup,
        "samples": [asdict(s) for s in samples],
        "summary": summary,
    }
    if len(steady) < 4:
        failures.append(f"only {len(steady)} samples after the {warmup:g} s warm-up: run longer")
        report.update(ok=False, failures=failures)
        return report
    quarter = max(1, len(steady) // 4)
    head, tail = steady[:quarter], steady[-quarter:]
    rss_start = steady[0].rss_mb
    rss_max = max(s.rss_mb for s in steady)
    fps_start = statistics.median(s.output_fps for s in head)
    fps_end = statistics.median(s.output_fps for s in tail)
    threads = sorted({s.threads for s in steady})
    cpu_start = statistics.median(s.cpu_ms_per_frame for s in head)
    cpu_end = statistics.median(s.cpu_ms_per_frame for s in tail)
    report.update(
        rss_mb_start=rss_start,
        rss_mb_end=steady[-1].rss_mb,
        rss_mb_max=rss_max,
        rss_growth_mb=round(rss_max - rss_start, 2),
        fps_start=fps_start,
        fps_end=fps_end,
        fps_ratio=round(fps_end / fps_start, 3) if fps_start > 0 else 0.0,
        threads=threads,
        cpu_ms_per_frame_start=cpu_start,
        cpu_ms_per_frame_end=cpu_end,
    )
    if rss_max - rss_start > max_rss_growth_mb:
        failures.append(f"RSS grew by {rss_max - rss_start:.1f} MB after warm-up (limit {max_rss_growth_mb:g} MB)")
    if fps_start <= 0 or fps_end < min_fps_ratio * fps_start:
        failures.append(f"output fps decayed from {fps_start:.1f} to {fps_end:.1f} (limit x{min_fps_ratio:g})")
    if len(threads) != 1:
        failures.append(f"thread count changed during the run: {threads}")
    report.update(ok=not failures, failures=failures)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="seconds to run (default 600)")
    p.add_argument("--every", type=float, default=DEFAULT_EVERY_S, help="seconds between samples (default 5)")
    p.add_argument("--warmup", type=float, default=DEFAULT_WARMUP_S, help="seconds ignored at the start (default 20)")
    p.add_argument("--source", default="synthetic:640x360@30", help="live source spec (default synthetic 640x360@30)")
    p.add_argument("--sink", default="null", help="sink spec (default null)")
    p.add_argument("--max-rss-growth-mb", type=float, default=20.0)
    p.add_argument("--min-fps-ratio", type=float, default=0.9)
    p.add_argument("--json", metavar="PATH", help="write the report here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def show(s: Sample) -> None:
        print(
            f"t={s.t_s:7.1f}s rss={s.rss_mb:7.1f} MB out={s.output_fps:5.1f} fps "
            f"inf={s.inference_hz:5.1f} Hz threads={s.threads} cpu={s.cpu_ms_per_frame:5.1f} ms/frame "
            f"dropped={s.frames_dropped}",
            flush=True,
        )

    report = soak(
        duration=args.duration,
        every=args.every,
        warmup=args.warmup,
        source=args.source,
        sink=args.sink,
        max_rss_growth_mb=args.max_rss_growth_mb,
        min_fps_ratio=args.min_fps_ratio,
        on_sample=show,
    )
    brief = {k: v for k, v in report.items() if k not in ("samples", "summary")}
    print(json.dumps(brief, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

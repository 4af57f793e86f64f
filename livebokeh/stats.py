"""Run statistics of the live pipeline: counters, stage timings, mask age, CPU and memory.

Worker threads record into :class:`LiveStats` without locks (appends to bounded
deques and integer counters are atomic enough for statistics in CPython);
:meth:`LiveStats.summary` turns them into the JSON object written by
``--stats-json``.  CPU is process CPU time over wall time: 100 means one full core.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["CpuMeter", "LiveStats", "peak_rss_mb", "format_summary"]

SAMPLES = 36_000
"""Timing samples kept per stage (20 minutes at 30 fps); older ones are dropped."""

STAGES = ("capture", "inference", "wait", "upsample", "composite", "sinks", "frame")
"""``capture``: waiting for and reading a frame; ``inference``: :meth:`Matte.compute`; ``wait``: the
matte thread waiting for a frame's own mask (latency, not work: see ``OWN_MASK_WAIT`` in
:mod:`livebokeh.runtime.live`); ``upsample``: :meth:`Matte.apply_to` (the matte thread); ``composite``:
the effect; ``sinks``: every sink's ``write``; ``frame``: the whole work for one frame (upsample,
composite and sinks).

The mask age of a composited frame is the time between the capture of the frame the
mask was computed from and the capture of the frame it is applied to (absolute: when
the compositor lags, the mask can come from a newer frame)."""


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process in MiB, or ``None`` where it cannot be read."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    except ImportError:
        pass
    try:
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / (1024 * 1024)
    except Exception:  # noqa: BLE001 - memory figures are best effort
        return None


class CpuMeter:
    """Process CPU over wall time, overall and over the last second (for the HUD)."""

    def __init__(self) -> None:
        self.start_wall = time.monotonic()
        self.start_cpu = time.process_time()
        self._last = (self.start_wall, self.start_cpu)
        self._recent = 0.0

    def total_percent(self) -> float:
        wall = time.monotonic() - self.start_wall
        return 100.0 * (time.process_time() - self.start_cpu) / wall if wall > 0 else 0.0

    def recent_percent(self) -> float:
        """CPU % since the previous call at least 0.5 s ago (cheap to call every frame)."""
        now = time.monotonic()
        last_wall, last_cpu = self._last
        if now - last_wall >= 0.5:
            cpu = time.process_time()
            self._recent = 100.0 * (cpu - last_cpu) / (now - last_wall)
            self._last = (now, cpu)
        return self._recent


class _Rate:
    """Events per second over a sliding window of recent event times."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_ns = int(window_s * 1e9)
        self.times: deque[int] = deque(maxlen=1024)

    def tick(self, now_ns: int) -> None:
        self.times.append(now_ns)

    def rate(self, now_ns: int) -> float:
        times = self.times
        while times and now_ns - times[0] > self.window_ns:
            times.popleft()
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        return (len(times) - 1) * 1e9 / span if span > 0 else 0.0


class LiveStats:
    """Counters and timings of one live run."""

    def __init__(self) -> None:
        self.frames_captured = 0
        self.frames_composited = 0
        self.frames_dropped = 0
        """Frames the compositor never got to because it fell behind capture."""
        self.frames_passthrough = 0
        """Frames shown unchanged because no mask existed yet."""
        self.inference_count = 0
        self.inference_skipped = 0
        """Frames replaced in the mailbox before inference read them (by design)."""
        self.sinks_dropped: list[str] = []
        self.inference_errors = 0
        """Masks discarded because the model raised or returned garbage."""
        self.masks_rejected = 0
        """Of those, masks rejected as garbage (NaN, wrong shape, out of range)."""
        self.camera_lost = 0
        """Times the camera was lost (a status card was shown until it came back)."""
        self.stage_ns: dict[str, deque[int]] = {s: deque(maxlen=SAMPLES) for s in STAGES}
        self.mask_age_ns: deque[int] = deque(maxlen=SAMPLES)
        self.cpu = CpuMeter()
        self.first_capture_ns: int | None = None
        self.last_composite_ns: int | None = None
        self.first_inference_ns: int | None = None
        self.end_ns: int | None = None
        self.output_rate = _Rate()
        self.inference_rate = _Rate()
        self.last_mask_age_ms = float("nan")
        self.source = ""
        self.startup_s = 0.0
        """Seconds spent warming up every stage before the run's clock started."""
        self.size: tuple[int, int] | None = None
        self.governor: Callable[[], Any] | None = None
        """The CPU governor's ``report()`` (a :class:`~livebokeh.runtime.governor.GovernorReport`), if one runs."""
        self._changes: deque[float] = deque(maxlen=SAMPLES)
        self._limits: dict[str, int] = {}

    def start(self) -> None:
        """Reset the CPU and wall clocks (call when the threads start)."""
        self.cpu = CpuMeter()

    def stage(self, name: str, ns: int) -> None:
        """Record that stage ``name`` took ``ns`` nanoseconds."""
        self.stage_ns[name].append(ns)

    def captured(self, now_ns: int) -> None:
        self.frames_captured += 1
        if self.first_capture_ns is None:
            self.first_capture_ns = now_ns

    def composited(self, now_ns: int, mask_age_ns: int | None) -> None:
        self.frames_composited += 1
        self.last_composite_ns = now_ns
        self.output_rate.tick(now_ns)
        if mask_age_ns is not None:
            self.mask_age_ns.append(mask_age_ns)
            self.last_mask_age_ms = mask_age_ns / 1e6
        else:
            self.frames_passthrough += 1

    def inferred(self, now_ns: int) -> None:
        self.inference_count += 1
        if self.first_inference_ns is None:
            self.first_inference_ns = now_ns
        self.inference_rate.tick(now_ns)

    def governed(self, change: float | None, limited_by: str) -> None:
        """Record the governor's reading after one mask (the predicted change, what limited the rate)."""
        if change is not None:
            self._changes.append(change)
        self._limits[limited_by] = self._limits.get(limited_by, 0) + 1

    def stop(self) -> None:
        """Freeze the run's end time and CPU total."""
        if self.end_ns is None:
            self.end_ns = time.monotonic_ns()
            self._cpu_total = self.cpu.total_percent()

    def hud(self) -> dict[str, float]:
        """Live figures for the preview's HUD (``cpu_budget`` is NaN without a governor)."""
        now = time.monotonic_ns()
        budget = self.governor().budget_percent if self.governor is not None else None
        return {
            "output_fps": self.output_rate.rate(now),
            "inference_hz": self.inference_rate.rate(now),
            "mask_age_ms": self.last_mask_age_ms,
            "cpu_percent": self.cpu.recent_percent(),
            "cpu_budget": float("nan") if budget is None else float(budget),
        }

    def _governor_summary(self) -> dict[str, Any] | None:
        if self.governor is None:
            return None
        report = self.governor()
        changes = np.asarray(self._changes, dtype=np.float64)
        return {
            "cpu_budget_percent": report.budget_percent,
            "gap_ms": _round(report.gap_s * 1e3),
            "limited_by": dict(sorted(self._limits.items())),
            "change_p50": round(float(np.percentile(changes, 50)), 4) if changes.size else None,
            "change_p95": round(float(np.percentile(changes, 95)), 4) if changes.size else None,
            "cost_level": report.cost_level,
        }

    def summary(self) -> dict[str, Any]:
        """The stats JSON object (see ``--stats-json``)."""
        end = self.end_ns or time.monotonic_ns()
        cpu_total = getattr(self, "_cpu_total", None)
        if cpu_total is None:
            cpu_total = self.cpu.total_percent()
        span_s = (end - self.first_capture_ns) / 1e9 if self.first_capture_ns is not None else 0.0
        out_span = (
            (self.last_composite_ns - self.first_capture_ns) / 1e9
            if self.first_capture_ns is not None and self.last_composite_ns is not None
            else 0.0
        )
        inf_span = (end - self.first_inference_ns) / 1e9 if self.first_inference_ns is not None else 0.0
        ages = np.asarray(self.mask_age_ns, dtype=np.float64) / 1e6
        stages = {}
        for name, values in self.stage_ns.items():
            arr = np.asarray(values, dtype=np.float64) / 1e6
            stages[name] = {
                "p50": _round(np.percentile(arr, 50)) if arr.size else None,
                "p95": _round(np.percentile(arr, 95)) if arr.size else None,
                "mean": _round(arr.mean()) if arr.size else None,
                "max": _round(arr.max()) if arr.size else None,
                "count": int(arr.size),
            }
        rss = peak_rss_mb()
        return {
            "source": self.source,
            "size": list(self.size) if self.size else None,
            "duration_s": _round(span_s),
            "startup_s": _round(self.startup_s),
            "frames_captured": self.frames_captured,
            "frames_composited": self.frames_composited,
            "frames_dropped": self.frames_dropped,
            "frames_passthrough": self.frames_passthrough,
            "output_fps": _round(self.frames_composited / out_span) if out_span > 0 else 0.0,
            "inference_count": self.inference_count,
            "inference_skipped": self.inference_skipped,
            "inference_hz": _round(self.inference_count / inf_span) if inf_span > 0 else 0.0,
            "mask_age_ms_p50": _round(np.percentile(ages, 50)) if ages.size else None,
            "mask_age_ms_p95": _round(np.percentile(ages, 95)) if ages.size else None,
            "stage_ms": stages,
            "cpu_percent": _round(cpu_total),
            "governor": self._governor_summary(),
            "peak_rss_mb": _round(rss) if rss is not None else None,
            "sinks_dropped": list(self.sinks_dropped),
            "inference_errors": self.inference_errors,
            "masks_rejected": self.masks_rejected,
            "camera_lost": self.camera_lost,
            "load_average_1min": _load_average(),
        }

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`summary` to ``path`` (atomically)."""
        from .safe_write import atomic_output

        with atomic_output(Path(path), overwrite=True) as tmp:
            tmp.write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")


def _load_average() -> float | None:
    """The machine's 1-minute load average (other processes competing for the CPU), if known."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _round(x: float) -> float:
    return round(float(x), 2)


def format_summary(s: dict[str, Any]) -> str:
    """A few human-readable lines from a :meth:`LiveStats.summary` object."""
    stages = s["stage_ms"]

    def st(name: str) -> str:
        v = stages.get(name) or {}
        return f"{name} {v.get('p50')}/{v.get('p95')}" if v.get("count") else f"{name} -"

    age = s["mask_age_ms_p50"]
    faults = []
    if s.get("inference_errors"):
        faults.append(f"{s['inference_errors']} masks discarded ({s.get('masks_rejected', 0)} garbage)")
    if s.get("camera_lost"):
        faults.append(f"camera lost {s['camera_lost']}x")
    if s.get("sinks_dropped"):
        faults.append("sinks dropped: " + ", ".join(s["sinks_dropped"]))
    governor = s.get("governor")
    budget = ""
    if governor:
        limits = ", ".join(f"{k} {v}" for k, v in governor["limited_by"].items())
        budget = f" (budget {governor['cpu_budget_percent']:g} %; rate set by {limits or '-'})"
    return "\n".join(
        [
            f"{s['frames_composited']} frames in {s['duration_s']:.1f} s: {s['output_fps']:.1f} fps out, "
            f"{s['frames_dropped']} dropped, inference {s['inference_hz']:.1f} Hz ({s['inference_count']} masks)",
            f"mask age p50/p95 {age} / {s['mask_age_ms_p95']} ms, CPU {s['cpu_percent']:.0f} % of one core{budget}, "
            f"peak memory {s['peak_rss_mb']} MiB",
            "stage ms p50/p95: " + ", ".join(st(n) for n in STAGES),
        ]
        + (["faults: " + "; ".join(faults)] if faults else [])
    )

"""The live CPU budget's Done-when runs: ``livebokeh live ... --sink null --duration N``, governed vs off, same run.

    python scripts/live_budget.py [--duration 30] [--repeat 1] [--json out.json]

For each source (1080p MJPEG, 1080p raw, 720p MJPEG by default) the live command runs with the
default CPU budget and with ``--cpu-budget off`` (a mask for every frame the model keeps up
with: the baseline), interleaved, each in a fresh process as a user would start it.  Prints
per run: output fps, frames dropped, CPU % of one core (stats ``cpu_percent``), mask age p95,
inference rate, what set the rate, and the load average, which says how much other
processes competed (the figures mean something only on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCES = ("synthetic:1920x1080@30:mjpeg", "synthetic:1920x1080@30", "synthetic:1280x720@30:mjpeg")


def run(source: str, budget: str | None, duration: float, folder: Path) -> dict:
    stats = folder / "stats.json"
    argv = [sys.executable, "-m", "livebokeh", "--no-config", "live", "--source", source, "--sink", "null"]
    argv += ["--duration", str(duration), "--stats-json", str(stats), "-q"]
    if budget is not None:
        argv += ["--cpu-budget", budget]
    subprocess.run(argv, check=True)
    return json.loads(stats.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--budget", default=None, help="the governed runs' --cpu-budget (default: the default)")
    parser.add_argument("--json", type=Path, default=None, help="also write every run's stats here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for source in args.sources.split(","):
                for label, budget in (("governed", args.budget), ("off", "off")):
                    s = run(source, budget, args.duration, Path(tmp))
                    gov = s.get("governor") or {}
                    row = {
                        "source": source,
                        "run": label if budget != args.budget or budget is None else f"budget {budget}",
                        "output_fps": s["output_fps"],
                        "frames_dropped": s["frames_dropped"],
                        "cpu_percent": s["cpu_percent"],
                        "mask_age_ms_p95": s["mask_age_ms_p95"],
                        "inference_hz": s["inference_hz"],
                        "limited_by": gov.get("limited_by"),
                        "cpu_budget_percent": gov.get("cpu_budget_percent"),
                        "load_average_1min": s.get("load_average_1min"),
                        "stats": s,
                    }
                    results.append(row)
                    print(
                        f"{source:32} {row['run']:9} fps {s['output_fps']:5.1f}  dropped {s['frames_dropped']:4d}  "
                        f"CPU {s['cpu_percent']:5.1f} %  mask age p95 {s['mask_age_ms_p95']} ms  "
                        f"inference {s['inference_hz']:4.1f} Hz  {gov.get('limited_by') or ''}  "
                        f"load {s.get('load_average_1min')}",
                        flush=True,
                    )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

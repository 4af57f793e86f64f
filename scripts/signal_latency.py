#!/usr/bin/env python3
"""How long ``live``, ``convert`` and ``photo`` take to exit after SIGINT or SIGTERM, under CPU load.

    python scripts/signal_latency.py                       # 20 runs per command and signal, one busy core
    python scripts/signal_latency.py --runs 5 --commands convert --busy 2 --json out.json

For every command and signal, ``--runs`` times: start the real command (``python -m
livebokeh``) in a fresh folder, wait until it is working (its first output or temporary
file appears), wait a random 0 - ``--max-delay`` s more, send the signal, and time
until the process has exited.  Meanwhile ``--busy`` processes each keep one core busy
(a plain Python loop), as a machine doing something else would.

Each run is also checked: the exit status is 130 (SIGINT) or 143 (SIGTERM), or 0 if
the work ended first; stderr holds no traceback; no temporary file is left; an
interrupted ``convert`` left its target untouched; every photo that exists is complete;
a live recording that exists decodes.  Prints the distribution per command and signal
(min, median, p90, max, runs over the limit) and one JSON object; exit status 1 if
any run broke a check or took longer than ``--limit`` (default 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HANG_S = 20.0


def _busy_loops(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _make_inputs(work: Path) -> dict[str, Path]:
    import cv2
    import numpy as np

    from livebokeh.bench.clips import make_clip

    clip = make_clip(work / "talk.mp4", width=640, height=360, seconds=20.0, scene="call")
    photos = work / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for i in range(60):
        img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        cv2.circle(img, (320, 300), 120, (130, 160, 215), -1)
        cv2.imwrite(str(photos / f"p{i:02d}.png"), img)
    return {"clip": clip, "photos": photos}


def _command(name: str, inputs: dict[str, Path], out: Path) -> list[str]:
    if name == "live":
        return ["live", "--source", "synthetic:640x360@30", "--sink", "null", "--sink", str(out / "rec.mp4"), "-q"]
    if name == "convert":
        return ["convert", str(inputs["clip"]), "-o", str(out / "out.mp4"), "--overwrite", "-q"]
    return ["photo", str(inputs["photos"]), "--out-dir", str(out), "-q"]


def _working(out: Path, before: set[str]) -> bool:
    return any(p.name not in before for p in out.iterdir())


def _check(name: str, sig: int, code: int, err: str, out: Path) -> list[str]:
    problems = []
    expected = 130 if sig == signal.SIGINT else 143
    if code not in (0, expected):
        problems.append(f"exit {code}, expected {expected} (or 0)")
    if "Traceback" in err:
        problems.append("traceback on stderr")
    leftovers = [p.name for p in out.iterdir() if ".part" in p.name or p.name.startswith(".")]
    if leftovers:
        problems.append(f"temporary files left: {leftovers}")
    if name == "convert" and code != 0 and (out / "out.mp4").read_bytes() != b"the user's previous file":
        problems.append("the existing target was changed")
    if name == "photo":
        import cv2

        for p in out.iterdir():
            img = cv2.imread(str(p))
            if img is None or img.shape != (480, 640, 3):
                problems.append(f"{p.name} is incomplete")
    if name == "live" and (out / "rec.mp4").exists():
        import av

        try:
            with av.open(str(out / "rec.mp4")) as c:
                if sum(1 for _ in c.decode(video=0)) < 1:
                    problems.append("the recording has no frames")
        except Exception as exc:  # noqa: BLE001 - reported as a broken recording
            problems.append(f"the recording does not decode: {exc}")
    return problems


def run_once(name: str, sig: int, inputs: dict[str, Path], work: Path, max_delay: float) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
    if name == "convert":
        (out / "out.mp4").write_bytes(b"the user's previous file")
    before = {p.name for p in out.iterdir()}
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("DISPLAY", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "livebokeh", *_command(name, inputs, out), "--no-config"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=out,
    )
    while proc.poll() is None and not _working(out, before) and time.monotonic() - started < 120:
        time.sleep(0.005)
    working_after = time.monotonic() - started
    time.sleep(random.uniform(0.0, max_delay))
    sent = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err_bytes = proc.communicate(timeout=HANG_S)
        latency = time.monotonic() - sent
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err_bytes = proc.communicate()
        latency = float("inf")
    err = err_bytes.decode(errors="replace")
    problems = _check(name, sig, proc.returncode, err, out)
    return {
        "latency_s": latency,
        "exit": proc.returncode,
        "working_after_s": round(working_after, 2),
        "problems": problems,
        "stderr": err.strip().splitlines()[-3:],
    }


def summarise(latencies: list[float], limit: float) -> dict[str, Any]:
    s = sorted(latencies)
    return {
        "n": len(s),
        "min_s": round(s[0], 3),
        "median_s": round(statistics.median(s), 3),
        "p90_s": round(s[min(len(s) - 1, int(0.9 * len(s)))], 3),
        "max_s": round(s[-1], 3),
        "over_limit": sum(1 for v in s if v > limit),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20, help="runs per command and signal (default 20)")
    p.add_argument("--commands", nargs="+", default=["live", "convert", "photo"], choices=["live", "convert", "photo"])
    p.add_argument("--signals", nargs="+", default=["SIGINT", "SIGTERM"], choices=["SIGINT", "SIGTERM"])
    p.add_argument("--busy", type=int, default=1, help="processes keeping one core busy each (default 1)")
    p.add_argument("--max-delay", type=float, default=1.0, help="random wait after work starts, up to (default 1 s)")
    p.add_argument("--limit", type=float, default=1.0, help="the promise, in seconds (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the report here")
    args = p.parse_args(argv)
    random.seed(args.seed)

    report: dict[str, Any] = {"busy_cores": args.busy, "limit_s": args.limit, "cpus": os.cpu_count(), "results": {}}
    failed = False
    with tempfile.TemporaryDirectory(prefix="livebokeh-signals-") as tmp:
        work = Path(tmp)
        inputs = _make_inputs(work)
        busy = _busy_loops(args.busy)
        try:
            time.sleep(0.5)
            load_start = os.getloadavg()[0]
            for name in args.commands:
                for sig_name in args.signals:
                    sig = getattr(signal, sig_name)
                    runs = [run_once(name, sig, inputs, work, args.max_delay) for _ in range(args.runs)]
                    lat = [r["latency_s"] for r in runs]
                    summary = summarise(lat, args.limit)
                    summary["exits"] = sorted({r["exit"] for r in runs})
                    summary["problems"] = [pr for r in runs for pr in r["problems"]]
                    summary["latencies_s"] = [round(v, 3) for v in lat]
                    report["results"][f"{name} {sig_name}"] = summary
                    bad = summary["over_limit"] or summary["problems"]
                    failed = failed or bool(bad)
                    print(
                        f"{name:8s} {sig_name:8s} n={summary['n']} min {summary['min_s']:.3f} median "
                        f"{summary['median_s']:.3f} p90 {summary['p90_s']:.3f} max {summary['max_s']:.3f} s; "
                        f"over {args.limit:g} s: {summary['over_limit']}; exits {summary['exits']}"
                        + (f"; PROBLEMS: {summary['problems']}" if summary["problems"] else ""),
                        flush=True,
                    )
                    for r in runs:
                        if r["problems"] or r["latency_s"] > args.limit:
                            print(f"    {r['latency_s']:.3f} s exit {r['exit']}: {r['problems']} {r['stderr']}")
            report["load_average_1min"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
        finally:
            for b in busy:
                b.kill()
                b.wait()
    print(json.dumps({k: v for k, v in report.items()}, default=str))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput of ``convert --backend local`` against ``--backend ray`` (a local Ray instance) on the same files.

Prints, from one run on this machine: wall time and frames per second of each backend, the
ratio, the CPU seconds one file costs (what a node has to supply per file), Ray's start-up
(the instance, then the first task on each worker: process, imports, model), and the load
average before and after (other programs share the machine).  From those it states the
throughput a cluster of N such nodes would reach.

    python scripts/cluster_throughput.py --files 4 --seconds 10 --size 640x360
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livebokeh.bench.clips import make_clip  # noqa: E402
from livebokeh.config import EffectOptions  # noqa: E402
from livebokeh.runtime.convert import VideoConverter  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0, help="length of each clip")
    p.add_argument("--size", default="640x360")
    p.add_argument("--cpus-per-task", type=float, default=None, help="default: ClusterOptions' default")
    args = p.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="lb-throughput-"))
    try:
        clips = [
            make_clip(work / f"in{i}.mp4", width=width, height=height, seconds=args.seconds, scene="sample")
            for i in range(args.files)
        ]
        frames = 0
        print(f"{args.files} files, {args.size}, {args.seconds:g} s each; cores: {os.cpu_count()}; load {load()}")

        out = work / "local"
        out.mkdir()
        cpu_s = []
        started = time.perf_counter()
        with VideoConverter(effect=EffectOptions(effect="blur")) as converter:
            for clip in clips:
                r = converter.convert(clip, out / clip.name)
                frames += r.frames
                cpu_s.append(r.cpu_ms_per_frame["process"] * r.frames / 1000)
        local_wall = time.perf_counter() - started
        per_file_cpu = sum(cpu_s) / len(cpu_s)
        print(
            f"local: {local_wall:.1f} s wall ({frames / local_wall:.1f} fps), "
            f"{per_file_cpu:.1f} CPU s per file ({per_file_cpu * 1000 / (frames / len(clips)):.1f} CPU ms per frame); "
            f"load {load()}"
        )

        from livebokeh.runtime.cluster import convert_on_ray
        from livebokeh.runtime.cluster_tasks import ConverterSpec
        from livebokeh.runtime.ray_session import ClusterOptions, ray_session

        options = ClusterOptions(temp_dir=Path(tempfile.mkdtemp(prefix="lbt-")))
        if args.cpus_per_task is not None:
            options = ClusterOptions(cpus_per_task=args.cpus_per_task, temp_dir=options.temp_dir)
        spec = ConverterSpec(effect=EffectOptions(effect="blur"))
        out = work / "ray"
        out.mkdir()
        started = time.perf_counter()
        with ray_session(options):
            up = time.perf_counter() - started
            first: list[float] = []
            report = convert_on_ray(
                [(c, out / c.name, None) for c in clips],
                spec=spec,
                options=options,
                on_progress=lambda n, running: first.append(time.perf_counter()) if n and not first else None,
            )
            ray_run = time.perf_counter() - started - up
        ray_wall = time.perf_counter() - started
        assert not report.failed, [f.result.error for f in report.failed]
        first_frame = (first[0] - started - up) if first else float("nan")
        print(
            f"ray ({options.cpus_per_task:g} CPUs per task): {ray_wall:.1f} s wall ({frames / ray_wall:.1f} fps) = "
            f"{up:.1f} s instance start + {ray_run:.1f} s converting ({frames / ray_run:.1f} fps; first frame "
            f"{first_frame:.1f} s after submitting); load {load()}"
        )
        print(f"ray/local throughput: {local_wall / ray_wall:.2f} overall, {local_wall / ray_run:.2f} once started")
        cores = os.cpu_count() or 1
        per_node = cores / per_file_cpu * args.seconds
        print(
            f"expected: a node with C cores converts about C / {per_file_cpu:.1f} files of this kind per second of "
            f"wall time if busy ({per_node:.2f}x real time here with {cores} cores); N nodes: N times that, "
            f"less {up:.0f} s once for Ray and about {first_frame:.0f} s per worker for its first file"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if "options" in locals() and options.temp_dir is not None:
            shutil.rmtree(options.temp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

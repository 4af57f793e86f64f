"""``livebokeh convert --backend ray``: the cluster flags, and the run's progress bar, lines and summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import native_stderr
from ..runtime.ray_session import DEFAULT_CPUS_PER_TASK, DEFAULT_MAX_RETRIES, DEFAULT_SEGMENT_SECONDS, default_temp_dir
from .signals import Terminated

RAY_FLAGS = {
    "--ray-address": "ray_address",
    "--cpus-per-task": "cpus_per_task",
    "--max-retries": "max_retries",
    "--segment-seconds": "segment_seconds",
    "--ray-temp-dir": "ray_temp_dir",
}
"""The flags that only mean something with ``--backend ray``, and their ``args`` names."""


def add_cluster_args(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and the Ray options (defaults ``None``: :class:`ClusterOptions` decides)."""
    g = parser.add_argument_group("cluster (Ray)")
    g.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local: convert here, one file after another (default); ray: as tasks on a Ray cluster "
        "(pip install 'livebokeh[ray]'; inputs and outputs on a filesystem every node mounts at the same path)",
    )
    g.add_argument(
        "--ray-address",
        metavar="auto|HOST:PORT",
        help="join this running Ray cluster (auto: the one `ray start` started here; default: start a local Ray)",
    )
    g.add_argument(
        "--cpus-per-task",
        type=float,
        metavar="N",
        help=f"CPUs one conversion task reserves (default {DEFAULT_CPUS_PER_TASK:g})",
    )
    g.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help=f"times a task is run again when its worker or node dies (default {DEFAULT_MAX_RETRIES})",
    )
    g.add_argument(
        "--segment-seconds",
        type=float,
        metavar="S",
        help=f"files longer than this are converted in pieces of about this length, in parallel "
        f"(default {DEFAULT_SEGMENT_SECONDS:g}; 0: never)",
    )
    g.add_argument(
        "--ray-temp-dir",
        type=Path,
        metavar="DIR",
        help=f"a local Ray instance's temp and log folder (default {default_temp_dir()})",
    )


def main(args: argparse.Namespace, plan: list[tuple[Path, Path, Path | None]]) -> int:
    """Convert ``plan`` on Ray; exit 0 when every file converted, 1 if any failed, 130/143 if interrupted."""
    from ..runtime.cluster import FileReport, convert_on_ray
    from ..runtime.cluster_tasks import ConverterSpec
    from ..runtime.convert import EncodeOptions
    from ..runtime.ray_session import ClusterOptions
    from .common import effect_options, is_terminal, matte_options, segmenter_options, write_stats_json

    given = {
        "address": args.ray_address,
        "cpus_per_task": args.cpus_per_task,
        "max_retries": args.max_retries,
        "segment_seconds": args.segment_seconds,
        "temp_dir": args.ray_temp_dir,
    }
    options = ClusterOptions(**{k: v for k, v in given.items() if v is not None})
    spec = ConverterSpec(
        effect=effect_options(args),
        matte=matte_options(args),
        segmenter=segmenter_options(args),
        encode=EncodeOptions(
            codec=args.codec, crf=args.crf, preset=args.preset, threads=args.encoder_threads, faststart=args.faststart
        ),
        mask_every=args.mask_every,
    )
    bar: Any = None
    reports: list[FileReport] = []

    def say(line: str, *, err: bool = False) -> None:
        if bar is not None:
            bar.write(line, file=sys.stderr if err else sys.stdout)
        else:
            print(line, file=sys.stderr if err else sys.stdout)

    def start(total: int | None) -> None:
        nonlocal bar
        if args.quiet or not is_terminal(sys.stderr):  # in a log or pipe: the line per finished file only
            return
        from tqdm import tqdm

        desc = f"{len(plan)} file{'s' if len(plan) != 1 else ''}"
        bar = tqdm(total=total, unit="frame", desc=desc, file=sys.stderr, dynamic_ncols=True)

    def progress(frames: int, running: dict[str, tuple[str, int]]) -> None:
        if bar is not None:
            bar.update(frames - bar.n)
            bar.set_postfix_str(f"{len(running)} task{'s' if len(running) != 1 else ''} running", refresh=False)

    def note(text: str) -> None:
        if not args.quiet:
            say(f"livebokeh: {text}", err=True)

    def done(report: FileReport) -> None:
        reports.append(report)
        write_stats_json(args.stats_json, reports)
        r = report.result
        if r.error:
            say(f"livebokeh: error: {r.input}: {r.error}", err=True)
        elif not args.quiet:
            extra = [f"audio {', '.join(r.audio)}" if r.audio else "no audio"]
            if report.pieces:
                extra.append(f"in {report.pieces} pieces")
            extra.append("on " + ", ".join(sorted(report.nodes)) if report.nodes else "finished by an earlier attempt")
            timing = f"{r.frames} frames in {r.seconds:.1f} s ({r.fps:.1f} fps)"
            say(f"{r.input} -> {r.output}: {timing}, {'; '.join(extra)}")

    try:  # SIGTERM raises Terminated (the command line's own handler), Ctrl-C KeyboardInterrupt
        report = convert_on_ray(
            plan,
            spec=spec,
            options=options,
            overwrite=args.overwrite,
            on_start=start,
            on_progress=progress,
            on_done=done,
            on_note=note,
        )
    except (KeyboardInterrupt, Terminated) as exc:
        if bar is not None:
            bar.close()
            bar = None
        native_stderr.restore()  # the signal may have cut a silenced native start-up short
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"livebokeh: {what}: tasks cancelled, unfinished outputs removed", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if bar is not None:
            bar.close()
    failed = len(report.failed)
    if not args.quiet:
        tail = f", {failed} failed" if failed else ""
        retried = sum(f.retries for f in report.files)
        tail += f", {retried} task{'s' if retried != 1 else ''} retried after a crash" if retried else ""
        print(f"{len(report.files) - failed} of {len(report.files)} videos converted{tail}")
        nodes = report.per_node()
        if nodes:
            print("frames per node: " + ", ".join(f"{node} {frames}" for node, frames in nodes.items()))
    return 1 if failed else 0

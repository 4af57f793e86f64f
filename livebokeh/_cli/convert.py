"""``livebokeh convert``: blur the background of video files, keeping audio and timing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import native_stderr
from .common import (
    add_effect_args,
    add_matte_args,
    add_model_args,
    effect_options,
    is_terminal,
    matte_options,
    segmenter_options,
    write_stats_json,
)
from .convert_ray import RAY_FLAGS, add_cluster_args
from .signals import Terminated, raise_if_dropped


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "convert",
        help="blur the background of video files",
        description="Convert video files: every frame masked, audio and timestamps kept, output written atomically.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files or folders of videos")
    p.add_argument("-o", "--output", type=Path, help="output file (.mp4, .mkv, .webm, .mov; one input)")
    p.add_argument("--out-dir", type=Path, help="output folder (any number of inputs; same file names)")
    g = p.add_argument_group("encoding")
    g.add_argument("--codec", default=None, help="video encoder: libx264 (default; libvpx-vp9 for .webm), libx265, ...")
    g.add_argument("--crf", type=int, default=None, help="constant quality (default: visually lossless, 18 for x264)")
    g.add_argument("--preset", default=None, help="encoder speed preset, ultrafast ... veryslow (x264: medium)")
    g.add_argument("--encoder-threads", type=int, default=None, help="encoder threads (default: the encoder decides)")
    g.add_argument(
        "--faststart",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="MP4/MOV: index in front, so a browser plays before the whole file has arrived (default)",
    )
    p.add_argument(
        "--mask-out",
        type=Path,
        help="also write the applied mask: a .mp4/.mkv file (gray), a folder of PNGs, or a folder for several inputs",
    )
    p.add_argument(
        "--mask-every",
        type=int,
        default=1,
        metavar="N",
        help="compute a mask every N frames and reuse the newest in between (faster; default 1 = every frame)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--skip-existing", action="store_true", help="leave inputs whose output exists alone (resume)")
    p.add_argument("--stats-json", type=Path, help="write per-file results (frames, fps, audio, errors) as JSON")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress (a bar on a terminal, else a line per file) or summary"
    )
    add_effect_args(p)
    add_model_args(p)
    add_matte_args(p)
    add_cluster_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the conversion; exit 0 when every file converted, 1 if any failed, 130/143 if interrupted."""
    from ..runtime.convert import ConvertResult, EncodeOptions, VideoConverter, expand_inputs, plan_outputs, run_convert

    plan = plan_outputs(expand_inputs(args.inputs), args.output, args.out_dir, args.mask_out)
    if args.skip_existing:
        existing = [dst for _, dst, _ in plan if dst.exists()]
        plan = [job for job in plan if not job[1].exists()]
        if existing and not args.quiet:
            print(f"{len(existing)} of {len(existing) + len(plan)} outputs exist already: skipped")
        if not plan:
            return 0
    if args.backend == "ray":
        from .convert_ray import main as main_ray

        return main_ray(args, plan)
    used = [flag for flag, dest in RAY_FLAGS.items() if getattr(args, dest) is not None]
    if used:
        from ..errors import ConfigError

        raise ConfigError(f"{used[0]} applies to --backend ray only: add --backend ray")
    encode = EncodeOptions(
        codec=args.codec, crf=args.crf, preset=args.preset, threads=args.encoder_threads, faststart=args.faststart
    )
    bar: Any = None
    results: list[ConvertResult] = []

    terminal = is_terminal(sys.stderr)

    def start(path: Path, total: int | None) -> None:
        nonlocal bar
        if args.quiet or not terminal:  # a log or pipe gets the line per finished file only
            return
        from tqdm import tqdm

        bar = tqdm(total=total, unit="frame", desc=path.name[:30], file=sys.stderr, dynamic_ncols=True, leave=False)

    def frame(n: int) -> None:
        raise_if_dropped()  # here the converter stops cleanly, as for a signal that was not dropped
        if bar is not None:
            bar.update(n - bar.n)

    def done(result: ConvertResult) -> None:
        nonlocal bar
        if bar is not None:
            bar.close()
            bar = None
        results.append(result)
        if result.error:
            print(f"livebokeh: error: {result.error}", file=sys.stderr)
        elif not args.quiet:
            extra = [f"audio {', '.join(result.audio)}" if result.audio else "no audio"]
            if result.corrupt_skipped:
                extra.append(f"{result.corrupt_skipped} corrupt frames skipped")
            print(
                f"{result.input} -> {result.output}: {result.frames} frames in {result.seconds:.1f} s "
                f"({result.fps:.1f} fps), {'; '.join(extra)}",
                flush=True,
            )

    try:
        with VideoConverter(
            effect=effect_options(args),
            matte=matte_options(args),
            segmenter=segmenter_options(args),
            encode=encode,
            mask_every=args.mask_every,
        ) as converter:
            report = run_convert(
                [p for p, _, _ in plan] if args.out_dir is not None else args.inputs,
                output=args.output,
                out_dir=args.out_dir,
                mask_out=args.mask_out,
                overwrite=args.overwrite,
                converter=converter,
                on_start=start,
                on_frame=frame,
                on_done=done,
            )
    except (KeyboardInterrupt, Terminated) as exc:
        if bar is not None:
            bar.close()
        native_stderr.restore()  # the signal may have cut a silenced native start-up short
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"livebokeh: {what}: the unfinished output was removed", file=sys.stderr)
        write_stats_json(args.stats_json, results)
        return 143 if isinstance(exc, Terminated) else 130
    write_stats_json(args.stats_json, report.results)
    failed = len(report.failed)
    if not args.quiet and len(report.results) > 1:
        ok = len(report.results) - failed
        tail = f", {failed} failed" if failed else ""
        print(f"{ok} of {len(report.results)} videos converted{tail}")
    return 1 if failed else 0

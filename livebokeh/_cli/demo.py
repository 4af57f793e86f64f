"""``livebokeh demo``: the live pipeline on the bundled sample clip, with nothing to set up.

With a display the result is shown in the preview window; without one (or if the
window cannot open) it is written to ``livebokeh-demo.mp4`` in the current folder.
Either way a stats summary ends the run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SinkError
from .common import add_effect_args, add_model_args, effect_options, matte_options, segmenter_options
from .live import add_run_args, governor_options, run_pipeline

if TYPE_CHECKING:
    from ..runtime.live import Pipeline

DEMO_OUTPUT = "livebokeh-demo.mp4"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="try it: the live pipeline on the bundled sample clip (window, or livebokeh-demo.mp4 without a display)",
        description="Run the live pipeline (capture, inference and compositor threads) on the bundled sample "
        f"clip: in the preview window when a display exists, otherwise into {DEMO_OUTPUT} in the current "
        "folder. Ends with a stats summary.",
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        help=f"write the video here instead of showing it (default without a display: {DEMO_OUTPUT})",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    p.add_argument("--no-window", action="store_true", help="write the video file even when a display exists")
    p.add_argument("--loop", action="store_true", help="replay the clip until q is pressed (window only)")
    add_run_args(p)
    add_effect_args(p)
    add_model_args(p)
    p.set_defaults(func=main)


def _pipeline(args: argparse.Namespace, sink: str, *, loop: bool, overwrite: bool) -> Pipeline:
    from ..runtime.live import LiveOptions, Pipeline

    options = LiveOptions(
        inference_fps=args.inference_fps,
        duration=args.duration,
        loop=loop,
        overwrite=overwrite,
        **governor_options(args),
    )
    return Pipeline(
        "sample",
        [sink],
        effect=effect_options(args),
        matte=matte_options(args),
        segmenter=segmenter_options(args),
        options=options,
    )


def main(args: argparse.Namespace) -> int:
    from ..sinks.preview import display_available

    if args.output is None and not args.no_window and display_available():
        pipeline = _pipeline(args, "preview", loop=args.loop, overwrite=False)
        try:
            pipeline.start()
        except SinkError as exc:
            print(f"livebokeh: {exc}; writing {DEMO_OUTPUT} instead", file=sys.stderr)
        else:
            run_pipeline(pipeline, args)
            return 0
    target = args.output or Path(DEMO_OUTPUT)
    # The default demo file is ours to replace; a name the user chose needs --overwrite.
    overwrite = args.overwrite or args.output is None
    pipeline = _pipeline(args, str(target), loop=False, overwrite=overwrite)
    if not args.quiet:
        print(f"livebokeh demo: no display, recording the bundled sample clip to {target} ...", file=sys.stderr)
    run_pipeline(pipeline, args)
    if not args.quiet:
        print(f"wrote {target}")
    return 0

"""``livebokeh live``: blur the background of a camera (or file, sample, synthetic) live."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import CameraOpenError, ConfigError
from ..runtime.governor import DEFAULT_CPU_BUDGET, FLOOR_HZ
from .common import add_effect_args, add_matte_args, add_model_args, effect_options, matte_options, segmenter_options
from .signals import caught, raise_if_dropped

if TYPE_CHECKING:
    from ..runtime.live import Pipeline

# The pipeline's modules (NumPy, OpenCV, the model runtime) are imported where a command runs, not
# when the parser is built: every command's parser is built for any command line.


def _size(text: str) -> tuple[int, int]:
    from ..sources import parse_size

    try:
        return parse_size(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def live_number(field: str) -> Callable[[str], float]:
    """An argparse ``type`` for a numeric :class:`LiveOptions` field, range-checked by ``LiveOptions`` itself.

    The check runs where the value is read, so a bad value in a config file is reported
    with the file, section and key, like every other config error; the range and its
    wording stay in one place.
    """
    what = field.replace("_", " ")

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not a number") from None
        given: dict[str, Any] = {field: value}
        from ..runtime.live import LiveOptions

        try:
            LiveOptions(**given)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return number


def cpu_budget(text: str) -> float | str:
    """``--cpu-budget``'s type: a percentage of one core (range-checked by ``LiveOptions``), or ``off``."""
    if text.strip().lower() in ("off", "none"):
        return "off"
    return live_number("cpu_budget")(text.strip().rstrip("%"))


def governor_options(args: argparse.Namespace) -> dict[str, Any]:
    """``cpu_budget`` / ``inference_floor`` for :class:`LiveOptions` from the flags given (absent: the defaults)."""
    given: dict[str, Any] = {}
    budget = getattr(args, "cpu_budget", None)
    if budget is not None:
        given["cpu_budget"] = None if budget == "off" else budget
    floor = getattr(args, "inference_floor", None)
    if floor is not None:
        given["inference_floor"] = floor
    return given


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``live`` and ``demo``: how long, how fast, where the stats go."""
    g = parser.add_argument_group("run")
    g.add_argument("--duration", type=live_number("duration"), metavar="SECONDS", help="stop after this many seconds")
    g.add_argument(
        "--inference-fps",
        type=live_number("inference_fps"),
        metavar="FPS",
        help="cap the model's rate (default: as fast as one core allows, up to the frame rate)",
    )
    g.add_argument(
        "--cpu-budget",
        type=cpu_budget,
        metavar="PERCENT",
        help="keep the whole process within this much of one core by running the model less often on a still "
        f"scene (default {DEFAULT_CPU_BUDGET:g}; 'off': a mask for every frame the model keeps up with)",
    )
    g.add_argument(
        "--inference-floor",
        type=live_number("inference_floor"),
        metavar="FPS",
        help=f"never fewer masks per second than this, whatever the budget (default {FLOOR_HZ:g})",
    )
    g.add_argument("--stats-json", metavar="PATH", help="write the run's statistics as one JSON object")
    g.add_argument("-q", "--quiet", action="store_true", help="no summary at the end")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "live",
        help="blur the background of a live camera (preview window, virtual camera, file)",
        description="Live background blur: capture, inference and compositing run in their own threads; "
        "the model runs at its own pace and the newest mask is applied to every frame. "
        "Keys in the preview: b effect, m mask view, space bypass, +/- strength, h HUD, q/Esc quit.",
    )
    p.add_argument(
        "--source",
        help="camera[:N] (default camera:0, or the sample when there is no camera), sample, "
        "synthetic[:WxH@FPS], or a video file/URL played in real time",
    )
    p.add_argument(
        "--sink",
        action="append",
        help="preview (default when a display exists), virtualcam, null, or a video file; repeatable",
    )
    p.add_argument("--size", type=_size, metavar="WxH", help="camera resolution to ask for (files are scaled)")
    p.add_argument("--fps", type=live_number("fps"), help="camera frame rate to ask for")
    p.add_argument("--loop", action="store_true", help="replay a file or the sample when it ends")
    p.add_argument("--mirror", action="store_true", help="flip the virtual camera picture left-right")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument(
        "--reconnect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="when the camera is lost, show a 'camera lost' picture and reopen it with backoff "
        "(default; --no-reconnect ends the run instead)",
    )
    add_run_args(p)
    add_effect_args(p)
    add_model_args(p)
    add_matte_args(p)
    p.set_defaults(func=main)


@contextlib.contextmanager
def stop_on_signals(pipeline: Pipeline) -> Iterator[None]:
    """SIGTERM and the first Ctrl-C end the run cleanly; a second Ctrl-C interrupts at once.

    While the pipeline still starts, the signal's exception unwinds from where it lands.
    Should Python drop it (see :mod:`.signals`), the pipeline was asked to stop as well, so
    it opens nothing more, and :func:`run_pipeline` raises it again once the run has returned.
    """

    def on_signal(signum: int, _frame: Any) -> None:
        if signum == signal.SIGINT and pipeline.stopping:
            raise KeyboardInterrupt
        alive = pipeline.threads_alive
        pipeline.stop("interrupted" if signum == signal.SIGINT else "SIGTERM")
        if not alive:  # still opening camera, model and sinks: unwind from here at once
            raise caught(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):  # not the main thread, or no such signal here
            previous[sig] = signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_pipeline(pipeline: Pipeline, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``pipeline`` with signal handling, write ``--stats-json`` and print the summary."""
    from ..stats import format_summary

    pipeline.on_sink_dropped = lambda msg: print(f"livebokeh: {msg}", file=sys.stderr)
    try:
        with stop_on_signals(pipeline):
            summary = pipeline.run()
        raise_if_dropped()  # a signal during start-up whose exception was lost: the run stopped before it began
    finally:
        if args.stats_json:
            pipeline.stats.write_json(args.stats_json)
    if not args.quiet:
        reason = pipeline.stop_reason
        print(format_summary(summary) + (f"\nended: {reason}" if reason else ""))
    return summary


def default_sinks() -> list[str]:
    from ..sinks.preview import display_available

    if not display_available():
        raise ConfigError(
            "no display for the preview window: pass --sink virtualcam, --sink FILE.mp4 or --sink null "
            "(or run `livebokeh demo`)"
        )
    return ["preview"]


def main(args: argparse.Namespace) -> int:
    from ..runtime.live import LiveOptions, Pipeline
    from ..sources import open_source

    options = LiveOptions(
        inference_fps=args.inference_fps,
        duration=args.duration,
        size=args.size,
        fps=args.fps,
        loop=args.loop,
        mirror=args.mirror,
        overwrite=args.overwrite,
        reconnect=args.reconnect,
        **governor_options(args),
    )
    sinks = args.sink or default_sinks()
    if args.source is None:
        try:
            source = open_source("camera:0", size=options.size, fps=options.fps)
        except CameraOpenError as exc:
            print(f"livebokeh: {exc}; playing the bundled sample instead", file=sys.stderr)
            options = dataclasses.replace(options, loop=True)
            source = open_source("sample", size=options.size, loop=True)
    else:
        source = open_source(args.source, size=options.size, fps=options.fps, loop=options.loop)
    if source.delivered and not args.quiet:
        print(f"livebokeh: {source.delivered}", file=sys.stderr)
    pipeline = Pipeline(
        source,
        sinks,
        effect=effect_options(args),
        matte=matte_options(args),
        segmenter=segmenter_options(args),
        options=options,
    )
    run_pipeline(pipeline, args)
    return 0

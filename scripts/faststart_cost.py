#!/usr/bin/env python3
"""What writing MP4 files with their index in front (faststart) costs ``convert``.

    python scripts/faststart_cost.py                      # a generated 1080p clip of the bundled sample
    python scripts/faststart_cost.py --scene pan --crf 12  # a large file: fine texture, high bitrate
    python scripts/faststart_cost.py --input talk.mp4 --runs 5

Converts the same input alternately with and without faststart (one model, loaded
once; ``--runs`` of each, interleaved so that load on the machine hits both alike)
and reports, for each, the median wall time of the whole conversion and the median
time of writing the trailer (``VideoFileSink.trailer_seconds``: with faststart it
includes moving the media data up inside the file to make room for the index in
front).  The difference of the trailer times is the rewrite; it is printed with the
file size, its rate in MB/s and its share of the conversion.  One JSON object at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", type=Path, help="video to convert (default: a clip generated from the sample)")
    p.add_argument("--size", default="1920x1080", help="size of the generated clip (default 1920x1080)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of the generated clip (default 5)")
    p.add_argument("--runs", type=int, default=3, help="conversions with and without faststart, each (default 3)")
    p.add_argument("--preset", default=None, help="encoder preset (default: the encoder's)")
    p.add_argument("--crf", type=int, default=None, help="output quality (lower: larger file)")
    p.add_argument("--scene", default="sample", choices=("sample", "call", "pan"), help="generated clip's scene")
    args = p.parse_args(argv)

    from livebokeh.bench.clips import make_clip
    from livebokeh.runtime.convert import EncodeOptions, VideoConverter
    from livebokeh.sinks import video as video_sink

    closing: list[float] = []
    real_close = video_sink.VideoFileSink.close

    def timed_close(self: Any) -> None:
        real_close(self)
        closing.append(self.trailer_seconds)

    video_sink.VideoFileSink.close = timed_close  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="livebokeh-faststart-") as tmp:
        work = Path(tmp)
        src = args.input
        if src is None:
            w, h = (int(v) for v in args.size.lower().split("x"))
            print(f"making a {w}x{h} clip of {args.seconds:g} s ...", file=sys.stderr)
            src = make_clip(work / "clip.mp4", width=w, height=h, seconds=args.seconds, scene=args.scene)
        encode = {"preset": args.preset, "crf": args.crf}
        plain = VideoConverter(encode=EncodeOptions(**encode, faststart=False))
        fast = VideoConverter(segmenter=plain.segmenter, encode=EncodeOptions(**encode, faststart=True))
        converters = {False: plain, True: fast}  # one model for both
        wall: dict[bool, list[float]] = {False: [], True: []}
        close: dict[bool, list[float]] = {False: [], True: []}
        size = 0
        for run in range(args.runs):
            for fs in (False, True) if run % 2 == 0 else (True, False):
                out = work / f"out-{int(fs)}.mp4"
                closing.clear()
                t0 = time.perf_counter()
                result = converters[fs].convert(src, out, overwrite=True)
                wall[fs].append(time.perf_counter() - t0)
                close[fs].append(closing[-1])
                size = out.stat().st_size
                print(
                    f"run {run + 1} faststart={'on ' if fs else 'off'}: {result.frames} frames in "
                    f"{wall[fs][-1]:.2f} s, trailer {close[fs][-1] * 1000:.0f} ms",
                    file=sys.stderr,
                )
        plain.close()
    med = {k: {"wall_s": statistics.median(wall[k]), "close_s": statistics.median(close[k])} for k in (False, True)}
    rewrite = med[True]["close_s"] - med[False]["close_s"]
    report = {
        "input": str(args.input or f"generated {args.size} {args.seconds:g} s ({args.scene} scene)"),
        "output_mb": round(size / 1e6, 1),
        "runs_each": args.runs,
        "without": {k: round(v, 3) for k, v in med[False].items()},
        "with": {k: round(v, 3) for k, v in med[True].items()},
        "rewrite_s": round(rewrite, 3),
        "rewrite_mb_per_s": round(size / 1e6 / rewrite, 1) if rewrite > 0 else None,
        "rewrite_share_of_convert": round(rewrite / med[False]["wall_s"], 4),
        "wall_ratio_with_vs_without": round(med[True]["wall_s"] / med[False]["wall_s"], 3),
    }
    print(
        f"faststart: trailer {med[False]['close_s'] * 1000:.0f} -> {med[True]['close_s'] * 1000:.0f} ms "
        f"(+{rewrite * 1000:.0f} ms for {size / 1e6:.1f} MB), conversion {med[False]['wall_s']:.2f} -> "
        f"{med[True]['wall_s']:.2f} s (ratio {report['wall_ratio_with_vs_without']})"
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

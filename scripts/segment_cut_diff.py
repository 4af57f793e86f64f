"""How much a file converted in pieces differs from the same file converted whole, at the cuts and elsewhere.

Converts one clip whole, then in pieces (cut, converted with and without the matte's
pre-roll, joined - the same functions the Ray tasks run, here in one process), and prints
the mean absolute pixel difference to the whole-file conversion at the first frame of each
piece and over all other frames, and the CPU seconds of both ways (the cost of the pieces:
their pre-roll, cutting and joining).  ``--crf 0`` encodes losslessly, so only the picture
pipeline differs; at the default quality the encoder's own noise (a fresh encoder at each
cut) adds to it.

    python scripts/segment_cut_diff.py --seconds 60 --fps 10 --segment 20 --crf 0
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livebokeh.bench.clips import make_clip  # noqa: E402
from livebokeh.config import EffectOptions, MatteOptions  # noqa: E402
from livebokeh.matte import DETECT_EVERY  # noqa: E402
from livebokeh.runtime.convert import EncodeOptions, VideoConverter  # noqa: E402
from livebokeh.runtime.segments import cut_piece, join_pieces, plan_segments  # noqa: E402


def pictures(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24").astype(np.int16) for f in c.decode(video=0)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", type=Path, help="a video (default: the sample scene, made here)")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--fps", type=int, default=10)
    p.add_argument("--size", default="320x180")
    p.add_argument("--gop", type=int, default=25, help="keyframe interval of the made clip, in frames")
    p.add_argument("--segment", type=float, default=20, help="piece length in seconds")
    p.add_argument("--crf", type=int, default=None, help="default: the converter's (visually lossless)")
    p.add_argument("--no-temporal", action="store_true")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lb-cuts-"))
    try:
        src = args.input
        if src is None:
            w, h = (int(v) for v in args.size.split("x"))
            src = make_clip(
                work / "in.mp4", width=w, height=h, seconds=args.seconds, fps=args.fps, gop=args.gop, scene="sample"
            )
        matte = MatteOptions(temporal=not args.no_temporal)
        converter = VideoConverter(effect=EffectOptions(effect="blur"), matte=matte, encode=EncodeOptions(crf=args.crf))
        cpu = time.process_time()
        converter.convert(src, work / "whole.mp4")
        whole_cpu = time.process_time() - cpu
        whole = pictures(work / "whole.mp4")
        plan = plan_segments(src, args.segment, align=DETECT_EVERY)
        if isinstance(plan, str):
            print(f"{src} cannot be cut: {plan}")
            return 1
        starts = np.cumsum([piece.frames for piece in plan.pieces])[:-1]
        print(f"{src.name}: {len(whole)} frames, pieces start at frames {list(starts)}")
        for preroll in (True, False):
            cpu = time.process_time()
            outputs = []
            for piece in plan.pieces:
                copy, out = work / f"cut{piece.index}.mp4", work / f"piece{piece.index}.mp4"
                for f in (copy, out):
                    f.unlink(missing_ok=True)
                window = cut_piece(src, plan, piece, copy)
                if window is not None and not preroll:
                    window = replace(window, matte_from=window.write_from)
                converter.convert(copy, out, preroll=window)
                outputs.append(out)
            joined = work / "joined.mp4"
            joined.unlink(missing_ok=True)
            join_pieces(src, plan, outputs, joined, overwrite=False)
            pieces_cpu = time.process_time() - cpu
            diff = np.array([np.abs(a - b).mean() for a, b in zip(whole, pictures(joined), strict=True)])
            other = np.ones(len(diff), bool)
            other[starts] = False
            print(
                f"{'with' if preroll else 'without'} pre-roll: first frame of each piece "
                f"{', '.join(f'{d:.3f}' for d in diff[starts])}; elsewhere mean {diff[other].mean():.3f}, "
                f"p95 {np.percentile(diff[other], 95):.3f}, max {diff[other].max():.3f}; "
                f"CPU {pieces_cpu:.1f} s in {len(plan.pieces)} pieces vs {whole_cpu:.1f} s whole "
                f"({(pieces_cpu / whole_cpu - 1) * 100:+.1f} %)"
            )
        converter.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

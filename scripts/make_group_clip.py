#!/usr/bin/env python3
"""Make a video clip from one photo: a slow hand-held-like pan and zoom over it, for group-scene benchmarks.

    python scripts/make_group_clip.py ../shared/data/persons/cihp-0012008.jpg /tmp/group-1080p.mp4

The photo is cover-fitted to a frame a little larger than ``--size`` and a ``--size``
window drifts and zooms over it (sub-pixel, so the people move as in a real recording),
encoded with x264 at ``--fps`` with an AAC tone.  Then ``livebokeh bench convert --input
OUT`` measures conversion against a plain transcode of the same clip.  The photo is read,
never copied into the repository.
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def frames(photo: np.ndarray, size: tuple[int, int], count: int, margin: float = 0.12):  # type: ignore[no-untyped-def]
    """``count`` BGR frames of ``size`` = ``(w, h)``: a window drifting and zooming over ``photo`` by ``margin``."""
    w, h = size
    ph, pw = photo.shape[:2]
    scale = max(w / pw, h / ph) * (1.0 + margin)
    base = cv2.resize(photo, (round(pw * scale), round(ph * scale)), interpolation=cv2.INTER_CUBIC)
    bh, bw = base.shape[:2]
    for i in range(count):
        t = i / max(1, count - 1)
        zoom = 1.0 + 0.5 * margin * (0.5 - 0.5 * math.cos(2 * math.pi * t))  # in and out once
        cx = bw / 2 + 0.35 * (bw - w * zoom) * math.sin(2 * math.pi * t)
        cy = bh / 2 + 0.25 * (bh - h * zoom) * math.sin(4 * math.pi * t)
        m = np.float32([[1 / zoom, 0, cx - w / (2 * zoom)], [0, 1 / zoom, cy - h / (2 * zoom)]])
        yield cv2.warpAffine(base, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="1920x1080", help="frame size WxH (default 1920x1080)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument(
        "--motion",
        type=float,
        default=0.03,
        help="how far the window drifts and zooms, as a fraction of the frame (default 0.03: a camera on a "
        "tripod in a meeting room, nudged; 0.12 pans over the whole photo)",
    )
    args = parser.parse_args()
    photo = cv2.imread(str(args.photo))
    if photo is None:
        raise SystemExit(f"error: {args.photo} is not an image")
    w, h = (int(v) for v in args.size.lower().split("x"))
    count = round(args.seconds * args.fps)
    with av.open(str(args.out), "w") as out:
        video = out.add_stream("libx264", rate=args.fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"crf": str(args.crf), "preset": "veryfast"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        for image in frames(photo, (w, h), count, margin=args.motion):
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        samples = int(args.seconds * 48000)
        tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    print(f"wrote {args.out}: {count} frames of {w}x{h} at {args.fps} fps from {args.photo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

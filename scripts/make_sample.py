"""Build ``livebokeh/data/sample.mp4``, the clip behind ``--source sample`` and ``livebokeh demo``.

The picture is scikit-image's ``astronaut.png`` (NASA portrait of Eileen Collins,
public domain), framed head-and-shoulders like a webcam at 16:9 and moved the way a
hand-held or laptop camera moves: a slow pan, a slow zoom in and out, and a small
shake.  The result is deterministic for a given scikit-image and FFmpeg build.

Usage: ``python scripts/make_sample.py [--out livebokeh/data/sample.mp4] [--seconds 8]``
(needs ``scikit-image`` installed; the package itself does not).
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 960, 540, 30


def load_astronaut() -> np.ndarray:
    """The 512x512 photo as BGR, read from the installed scikit-image package."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def camera_path(t: float, seconds: float) -> tuple[float, float, float, float]:
    """Crop centre (x, y in photo pixels), zoom and roll (degrees) at time ``t``.

    The crop always stays inside the photo (no mirrored borders).
    """
    phase = 2 * math.pi * t / seconds  # one closed cycle, so the clip loops without a jump
    zoom = 1.07 + 0.05 * math.sin(phase)
    shake_x = 2.0 * math.sin(2 * math.pi * 1.7 * t) + 1.2 * math.sin(2 * math.pi * 3.1 * t + 1)
    shake_y = 1.5 * math.sin(2 * math.pi * 1.3 * t + 2) + 1.0 * math.sin(2 * math.pi * 2.9 * t)
    roll = 0.4 * math.sin(2 * math.pi * 0.9 * t) + 0.15 * math.sin(2 * math.pi * 2.3 * t)
    half_w = 256 / zoom
    half_h = half_w * HEIGHT / WIDTH
    margin = 4.0  # room for the roll
    cx = min(max(256 + 24 * math.sin(phase + 0.5) + shake_x, half_w + margin), 512 - half_w - margin)
    cy = min(max(150 + 6 * math.cos(phase) + shake_y, half_h + margin), 512 - half_h - margin)
    return cx, cy, zoom, roll


def render(photo: np.ndarray, t: float, seconds: float) -> np.ndarray:
    """One output frame: the photo cropped, scaled and rotated about the crop centre."""
    cx, cy, zoom, roll = camera_path(t, seconds)
    scale = WIDTH * zoom / 512
    m = cv2.getRotationMatrix2D((cx, cy), roll, scale)
    m[0, 2] += WIDTH / 2 - cx
    m[1, 2] += HEIGHT / 2 - cy
    return cv2.warpAffine(photo, m, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parents[1] / "livebokeh" / "data" / "sample.mp4"
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--crf", type=int, default=27)
    args = parser.parse_args()
    photo = load_astronaut()
    frames = int(round(args.seconds * FPS))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".part.mp4")
    with av.open(str(tmp), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS), options={"crf": str(args.crf), "preset": "slow"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(render(photo, i / FPS, args.seconds), format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    tmp.replace(args.out)
    print(f"{args.out}: {frames} frames {WIDTH}x{HEIGHT} @ {FPS} fps, {args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

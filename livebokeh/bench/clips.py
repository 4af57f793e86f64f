"""Synthetic test clips for benchmarks and tests: textured moving scene, optional audio.

The picture is a blurred-noise backdrop panning slowly with a bright figure moving
across it, so an encoder sees realistic motion and texture.  Audio, when asked for, is
a sine tone encoded as AAC (or Opus for ``.webm``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def _backdrop(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    big_w, big_h = width + width // 2, height + height // 4
    small = rng.integers(0, 255, size=(max(2, big_h // 8), max(2, big_w // 8), 3), dtype=np.uint8)
    back = cv2.resize(small, (big_w, big_h), interpolation=cv2.INTER_CUBIC)
    fine = rng.integers(-12, 12, size=back.shape, dtype=np.int16)
    return np.clip(back.astype(np.int16) + fine, 0, 255).astype(np.uint8)


def make_clip(
    path: str | Path,
    *,
    width: int = 160,
    height: int = 120,
    seconds: float = 1.0,
    fps: int = 30,
    audio: bool = True,
    codec: str = "libx264",
    preset: str = "veryfast",
    crf: int = 20,
    rotation: int = 0,
    pts_step: list[int] | None = None,
    sample_rate: int = 48000,
    audio_codec: str | None = None,
    scene: str = "pan",
    gop: int | None = None,
    open_gop: bool = False,
) -> Path:
    """Write a test clip to ``path`` and return it.

    ``scene`` is ``"pan"`` (the camera pans over a fine texture: hard for an encoder,
    and blurring it makes motion search harder still), ``"call"`` (a still camera on
    a textured room, as in a recorded call or lecture, with the figure moving) or
    ``"sample"`` (the bundled sample clip - a real person, hand-held camera - looped
    and scaled to the size).
    ``pts_step`` gives a variable frame rate: frame ``i`` lasts ``pts_step[i % len]``
    ticks of a 1/1000 s time base (``fps`` then only sets the nominal rate).
    ``gop`` sets the largest keyframe interval in frames (x264: 250); ``open_gop`` lets
    B-frames shown before every keyframe after the first refer to the group before it (x264 only).
    """
    if scene not in ("pan", "call", "sample"):
        raise ValueError(f"scene {scene!r} is unknown: use pan, call or sample")
    path = Path(path)
    n = max(1, round(seconds * fps))
    back = _backdrop(width, height, seed=width * 7 + height)
    sample = _SampleFrames(width, height) if scene == "sample" else None
    suffix = path.suffix.lower()
    if audio_codec is None:
        audio_codec = "libopus" if suffix == ".webm" else "aac"
    if codec == "libx264" and (width % 2 or height % 2):
        pix_fmt = "yuv444p"
    else:
        pix_fmt = "yuv420p"
    with av.open(str(path), "w") as out:
        options = {"crf": str(crf), "preset": preset} if codec.startswith("libx26") else {}
        if gop is not None:
            options["g"] = str(gop)
        if open_gop and codec == "libx264":
            options["x264-params"] = "open-gop=1:b-adapt=0:bframes=3:scenecut=0"  # B-frames lead every keyframe
        vs = out.add_stream(codec, rate=fps, options=options)
        vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
        time_base = Fraction(1, 1000) if pts_step else Fraction(1, fps)
        vs.codec_context.time_base = time_base
        vs.time_base = time_base
        if rotation:
            vs.set_display_rotation(rotation)
        aus = None
        if audio:
            aus = out.add_stream(audio_codec, rate=sample_rate)
            aus.codec_context.layout = "mono"
        pts = 0
        frame_img = np.empty((height, width, 3), np.uint8)
        for i in range(n):
            if sample is not None:
                picture = sample.next()
            else:
                if scene == "pan":
                    ox = int((back.shape[1] - width) * (0.5 + 0.5 * math.sin(i / 60.0)))
                    oy = int((back.shape[0] - height) * (0.5 + 0.5 * math.cos(i / 80.0)))
                else:
                    ox = oy = 0
                np.copyto(frame_img, back[oy : oy + height, ox : ox + width])
                cx = int(width * (0.3 + 0.4 * (i % (4 * fps)) / (4 * fps)))
                axes = (max(1, width // 10), max(1, height // 3))
                cv2.ellipse(frame_img, (cx, height // 2), axes, 0, 0, 360, (200, 180, 160), -1)
                cv2.circle(frame_img, (cx, height // 5), max(1, height // 10), (170, 150, 140), -1)
                picture = frame_img
            vf = av.VideoFrame.from_ndarray(picture, format="bgr24")
            vf.pts = pts
            out.mux(vs.encode(vf))
            pts += pts_step[i % len(pts_step)] if pts_step else 1
        out.mux(vs.encode(None))
        if aus is not None:
            total = pts / 1000 if pts_step else n / fps
            samples = int(total * sample_rate)
            chunk = 1024
            t0 = 0
            while t0 < samples:
                m = min(chunk, samples - t0)
                t = (np.arange(t0, t0 + m) / sample_rate).astype(np.float32)
                tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
                af = av.AudioFrame.from_ndarray(tone[None, :], format="flt", layout="mono")
                af.sample_rate = sample_rate
                af.pts = t0
                af.time_base = Fraction(1, sample_rate)
                out.mux(aus.encode(af))
                t0 += m
            out.mux(aus.encode(None))
    return path


class _SampleFrames:
    """The bundled sample clip's frames scaled to ``width x height`` (cover-fit), looped."""

    def __init__(self, width: int, height: int) -> None:
        from ..sources.sample import sample_path

        self._frames: list[np.ndarray] = []
        with av.open(str(sample_path())) as c:
            for vf in c.decode(video=0):
                img = vf.to_ndarray(format="bgr24")
                h, w = img.shape[:2]
                scale = max(width / w, height / h)
                sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
                big = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
                x0, y0 = (sw - width) // 2, (sh - height) // 2
                self._frames.append(np.ascontiguousarray(big[y0 : y0 + height, x0 : x0 + width]))
        self._i = 0

    def next(self) -> np.ndarray:
        frame = self._frames[self._i % len(self._frames)]
        self._i += 1
        return frame

"""``livebokeh bench convert``: ``livebokeh convert`` against a plain PyAV transcode, same run.

The baseline decodes the same input and encodes it with the same encoder settings
through the same writer (audio copied too), with no processing in between.  Its frames
reach the encoder without the input's picture types, so the encoder picks frame types
itself on both sides (forcing them makes x264 skip that work and encode differently).  The ratio
``convert fps / transcode fps`` says how much of the encoder's speed the masking and
compositing cost.  Test clips (1080p and 720p with an AAC track; by default the bundled
sample clip of a real person, scaled up - smoother than native footage, so cheaper to encode,
which makes the ratio conservative) are generated in a temp folder unless ``--input`` is given.
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

from av.video.frame import PictureType

from ..runtime.convert import EncodeOptions, VideoConverter
from ..sinks.video import VideoFileSink
from ..sources.decoder import VideoDecoder
from .choices import SIZES
from .clips import make_clip


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "convert",
        help="convert fps vs a plain PyAV transcode with the same encoder settings",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--input", type=Path, action="append", help="clip(s) to use instead of generated ones")
    p.add_argument("--sizes", default="1080p,720p", help="generated clip sizes (default 1080p,720p)")
    p.add_argument("--seconds", type=float, default=10.0, help="generated clip length (default 10)")
    p.add_argument(
        "--scene",
        choices=("sample", "call", "pan"),
        default="sample",
        help="generated content: sample (the bundled clip of a real person, scaled; default), call (still "
        "camera, synthetic figure the model is unsure of) or pan (camera pans over fine texture)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs of each side; medians are reported (default 1)")
    p.add_argument("--codec", default=None, help="video encoder (default libx264)")
    p.add_argument("--crf", type=int, default=None, help="quality (default visually lossless)")
    p.add_argument("--preset", default=None, help="encoder preset (default: the encoder's)")
    p.add_argument("--encoder-threads", type=int, default=None, help="encoder threads (default: encoder decides)")
    p.add_argument("--encoder-thread-type", choices=("frame", "slice"), default=None, help="encoder threading")
    p.add_argument("--effect", default="blur", help="effect for the convert side (default blur)")
    p.add_argument("--model", default="auto", help="model for the convert side (default auto)")
    p.add_argument("--mask-every", type=int, default=1, help="mask every N frames on the convert side (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=main)


def plain_transcode(src: Path, dst: Path, encode: EncodeOptions) -> tuple[int, float]:
    """Decode ``src`` and encode it unchanged to ``dst`` with ``encode``; return (frames, seconds)."""
    start = time.perf_counter()
    decoder = VideoDecoder(src, label="input")
    container = decoder.container
    try:
        vs = decoder.stream
        sink = VideoFileSink(
            dst,
            fps=decoder.rate,
            codec=encode.codec,
            crf=encode.crf,
            preset=encode.preset,
            overwrite=True,
            size=(decoder.width, decoder.height),
            time_base=decoder.time_base,
            threads=encode.threads,
            thread_type=encode.thread_type,
        )
        routes = {a.index: sink.add_audio(a) for a in container.streams.audio}
        try:
            for packet in container.demux(vs, *container.streams.audio):
                if packet.stream.type == "audio":
                    sink.write_audio(routes[packet.stream.index], packet)
                    continue
                for frame in vs.decode(packet):
                    # A decoded frame keeps the input's picture type (I/P/B), and libx264 obeys it,
                    # skipping its own frame-type decision.  Clear it, as the ffmpeg tool does, so
                    # the encoder decides here exactly as it does for convert's new frames.
                    frame.pict_type = PictureType.NONE
                    sink.write_av(frame, frame.pts)
        except BaseException:
            sink.abort()
            raise
        sink.close()
        return sink.frames_written, time.perf_counter() - start
    finally:
        decoder.close()


def _bench_one(
    label: str, src: Path, tmp: Path, encode: EncodeOptions, converter: VideoConverter, repeat: int
) -> dict[str, Any]:
    base_fps: list[float] = []
    conv_fps: list[float] = []
    base_cpu: list[float] = []
    conv_cpu: list[float] = []
    frames = 0
    for _ in range(max(1, repeat)):
        cpu0 = time.process_time()
        n, secs = plain_transcode(src, tmp / f"base-{label}.mp4", encode)
        base_cpu.append((time.process_time() - cpu0) * 1000 / max(1, n))
        base_fps.append(n / secs)
        cpu0 = time.process_time()
        result = converter.convert(src, tmp / f"conv-{label}.mp4", overwrite=True)
        conv_cpu.append((time.process_time() - cpu0) * 1000 / max(1, result.frames))
        conv_fps.append(result.frames / result.seconds)
        frames = result.frames
        if result.frames != n:
            print(f"warning: {label}: transcode wrote {n} frames, convert {result.frames}", file=sys.stderr)
    with VideoDecoder(src, label="input") as decoder:
        size = f"{decoder.width}x{decoder.height}"
        est = decoder.estimated_frames
    base, conv = statistics.median(base_fps), statistics.median(conv_fps)
    return {
        "input": str(src),
        "size": size,
        "frames": frames or est,
        "transcode_fps": round(base, 2),
        "convert_fps": round(conv, 2),
        "ratio": round(conv / base, 3) if base else None,
        "transcode_runs": [round(x, 2) for x in base_fps],
        "convert_runs": [round(x, 2) for x in conv_fps],
        # CPU time (all threads) per frame: less sensitive to other load on the machine.
        "transcode_cpu_ms_per_frame": round(statistics.median(base_cpu), 1),
        "convert_cpu_ms_per_frame": round(statistics.median(conv_cpu), 1),
        "cpu_ratio": round(statistics.median(base_cpu) / statistics.median(conv_cpu), 3),
    }


def main(args: argparse.Namespace) -> int:
    """Run the benchmark and print a table (or JSON)."""
    from ..config import EffectOptions, SegmenterOptions

    encode = EncodeOptions(
        codec=args.codec,
        crf=args.crf,
        preset=args.preset,
        threads=args.encoder_threads,
        thread_type=args.encoder_thread_type,
    )
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="livebokeh-bench-") as tmpdir:
        tmp = Path(tmpdir)
        inputs: list[tuple[str, Path]] = []
        if args.input:
            inputs = [(p.stem, p) for p in args.input]
        else:
            for name in [s.strip() for s in args.sizes.split(",") if s.strip()]:
                if name not in SIZES:
                    print(f"livebokeh: error: unknown size {name}: use {', '.join(SIZES)}", file=sys.stderr)
                    return 2
                w, h = SIZES[name]
                if not args.json:
                    print(f"generating {args.seconds:g} s {name} test clip ...", file=sys.stderr)
                clip = make_clip(tmp / f"{name}.mp4", width=w, height=h, seconds=args.seconds, scene=args.scene)
                inputs.append((name, clip))
        t0 = time.perf_counter()
        converter = VideoConverter(
            effect=EffectOptions(effect=args.effect),
            segmenter=SegmenterOptions(model=args.model),
            encode=encode,
            mask_every=args.mask_every,
        )
        # One-time start-up (JIT-compiled kernels, detector models opened on first use) is
        # paid here on a tiny clip, like the model load, so it does not count as per-frame cost.
        warm = make_clip(tmp / "warm-up.mp4", width=320, height=240, seconds=0.5)
        converter.convert(warm, tmp / "warm-up-out.mp4", overwrite=True)
        load_s = time.perf_counter() - t0
        with converter:
            for label, src in inputs:
                out[label] = _bench_one(label, src, tmp, encode, converter, args.repeat)
                if not args.json:
                    r = out[label]
                    print(
                        f"{label:>8} {r['size']:>10}  transcode {r['transcode_fps']:6.1f} fps   "
                        f"convert {r['convert_fps']:6.1f} fps   ratio {r['ratio']:.2f}   "
                        f"(CPU ms/frame {r['transcode_cpu_ms_per_frame']:.0f} vs {r['convert_cpu_ms_per_frame']:.0f}, "
                        f"ratio {r['cpu_ratio']:.2f})"
                    )
    out["settings"] = {
        "codec": encode.codec or "libx264",
        "crf": encode.crf,
        "preset": encode.preset,
        "encoder_threads": encode.threads,
        "encoder_thread_type": encode.thread_type or "frame",
        "effect": args.effect,
        "model": args.model,
        "mask_every": args.mask_every,
        "repeat": args.repeat,
        "scene": None if args.input else args.scene,
        "startup_s": round(load_s, 3),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    return 0

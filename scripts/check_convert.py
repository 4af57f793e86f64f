#!/usr/bin/env python3
"""Compare a converted video with its source: frames, duration, audio bytes, A/V sync.

    python scripts/check_convert.py INPUT OUTPUT

Prints one JSON object and exits 1 if the frame count differs by more than one, the
durations by more than one frame, an audio stream is missing, or the offset between
the first video frame and the first audio packet moved by more than one frame.
Copied audio is compared packet payload by packet payload.
"""

from __future__ import annotations

import hashlib
import json
import sys

import av


def describe(path: str) -> dict:
    """Video pts and size, and per audio stream: codec, packet count, payload hash, first/last time."""
    with av.open(path) as c:
        vs = c.streams.video[0]
        pts = sorted(float(f.pts * f.time_base) for f in c.decode(vs))
        rate = float(vs.average_rate or vs.guessed_rate or 30)
    with av.open(path) as c:
        first = next(c.decode(video=0))
        rotation = first.rotation
        size = (first.width, first.height)
    audio = []
    with av.open(path) as c:
        for s in c.streams.audio:
            h = hashlib.sha256()
            packets = [p for p in c.demux(s) if p.size]
            for p in packets:
                h.update(bytes(p))
            audio.append(
                {
                    "codec": s.codec_context.name,
                    "packets": len(packets),
                    "sha256": h.hexdigest()[:16],
                    "start": round(float(packets[0].pts * packets[0].time_base), 4) if packets else None,
                    "end": round(float((packets[-1].pts + packets[-1].duration) * packets[-1].time_base), 4)
                    if packets
                    else None,
                }
            )
    return {
        "frames": len(pts),
        "size": size,
        "rotation": rotation,
        "first_pts": round(pts[0], 4),
        "duration": round(pts[-1] - pts[0] + 1 / rate, 4),
        "frame_s": 1 / rate,
        "audio": audio,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = describe(argv[1]), describe(argv[2])
    frame_s = a.pop("frame_s")
    b.pop("frame_s")
    checks = {
        "frames_within_1": abs(a["frames"] - b["frames"]) <= 1,
        "duration_within_1_frame": abs(a["duration"] - b["duration"]) <= frame_s + 1e-6,
        "size_same": a["size"] == b["size"],
        "rotation_same": a["rotation"] == b["rotation"],
        "audio_streams_same": len(a["audio"]) == len(b["audio"]),
    }
    for i, (x, y) in enumerate(zip(a["audio"], b["audio"], strict=False)):
        checks[f"audio{i}_bit_identical"] = x["sha256"] == y["sha256"]
        if x["start"] is not None and y["start"] is not None:
            off_a = x["start"] - a["first_pts"]
            off_b = y["start"] - b["first_pts"]
            checks[f"audio{i}_sync_within_1_frame"] = abs(off_a - off_b) <= frame_s
            checks[f"audio{i}_av_offset_ms"] = [round(off_a * 1000, 1), round(off_b * 1000, 1)]
    print(json.dumps({"input": a, "output": b, "checks": checks}, indent=2))
    hard = [k for k, v in checks.items() if v is False and "bit_identical" not in k]
    return 1 if hard else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""What one MJPEG frame costs to decode here: cv2.imdecode (the baseline) vs libjpeg-turbo, same run.

    python scripts/jpeg_decode.py [--sizes 1080p,720p] [--rounds 30]

The frames are the synthetic source's (a real person, 4:2:2 JPEG at quality 85, as
``synthetic:...:mjpeg`` stores them).  Timed in interleaved rounds on this thread's CPU
clock (other processes do not inflate it); medians in ms.  Rows:

* ``opencv``: ``cv2.imdecode`` to BGR - what OpenCV's VideoCapture does with an MJPEG camera;
* ``turbo-bgr``: PyTurboJPEG to BGR with the fast integer IDCT (what :mod:`livebokeh.sources.mjpeg` uses);
* ``turbo-bgr-exact``: the same with the default (accurate) IDCT;
* ``turbo-yuv``: PyTurboJPEG to planar Y/Cb/Cr (no colour conversion, no chroma upsampling),
  fast IDCT: what a 4:2:x pipeline would need.

The turbo rows need ``pip install pyturbojpeg`` and libjpeg-turbo (Debian: libturbojpeg0).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import cv2
import numpy as np

from livebokeh.bench import SIZES
from livebokeh.sources.mjpeg import _turbo, encode_jpeg
from livebokeh.sources.synthetic import SyntheticSource


def _runs(data: np.ndarray, turbo: Any) -> dict[str, Callable[[], object]]:
    runs: dict[str, Callable[[], object]] = {"opencv": partial(cv2.imdecode, data, cv2.IMREAD_COLOR)}
    if turbo is not None:
        import turbojpeg

        raw, bgr, fast = data.tobytes(), turbojpeg.TJPF_BGR, turbojpeg.TJFLAG_FASTDCT
        runs["turbo-bgr"] = partial(turbo.decode, raw, pixel_format=bgr, flags=fast)
        # not used by the source: repeating chroma samples moves sharp colour edges by up to ~20 levels
        fast_up = fast | turbojpeg.TJFLAG_FASTUPSAMPLE
        runs["turbo-bgr-fastupsample"] = partial(turbo.decode, raw, pixel_format=bgr, flags=fast_up)
        runs["turbo-bgr-exact"] = partial(turbo.decode, raw, pixel_format=bgr)
        runs["turbo-yuv"] = partial(turbo.decode_to_yuv_planes, raw, flags=fast)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1080p,720p")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    turbo = _turbo()
    load = os.getloadavg()[0]
    report: dict[str, dict[str, float]] = {}
    for name in args.sizes.split(","):
        w, h = SIZES[name]
        image = SyntheticSource(width=w, height=h, realtime=False, frames=8).read()
        assert image is not None
        data = encode_jpeg(image)
        runs = _runs(data, turbo)
        samples: dict[str, list[float]] = {k: [] for k in runs}
        for fn in runs.values():
            fn()
        for _ in range(args.rounds):
            for key, fn in runs.items():
                t0 = time.thread_time()
                fn()
                samples[key].append((time.thread_time() - t0) * 1e3)
        report[name] = {k: round(statistics.median(v), 2) for k, v in samples.items()}
        report[name]["jpeg_kib"] = round(data.size / 1024, 1)
    if args.json:
        print(json.dumps({"load_average": load, "results": report}))
        return
    found = "found" if turbo else "missing"
    print(f"median ms per frame (thread CPU time), load average {load:.2f}; turbojpeg {found}")
    for name, row in report.items():
        base = row["opencv"]
        cells = ", ".join(f"{k} {v:.2f}" + (f" ({base / v:.2f}x)" if k != "opencv" else "") for k, v in row.items()
                          if k != "jpeg_kib")  # fmt: skip
        print(f"{name} ({row['jpeg_kib']} KiB): {cells}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Make the effect pictures in ``docs/`` from a public-domain photo.

The photo is scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain); the
``replace`` background is scikit-image's ``rocket`` (SpaceX, public domain).  See
``docs/PROVENANCE.md``.  The person mask comes from livebokeh's own bundled model, so
the pictures show what the tool really does.  Needs scikit-image (``pip install
scikit-image``), only for the two photos.

    python scripts/make_docs_images.py [--out docs]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import cv2
import numpy as np

from livebokeh.config import EffectOptions, MatteOptions
from livebokeh.effects import Compositor
from livebokeh.runtime.photo import PhotoProcessor

log = logging.getLogger("make_docs_images")

# (file name, effect, strength, falloff, caption)
PICTURES = [
    ("effect-none.jpg", "none", 0.5, False, "original"),
    ("effect-blur.jpg", "blur", 0.5, False, "--effect blur"),
    ("effect-bokeh.jpg", "bokeh", 0.5, False, "--effect bokeh"),
    ("effect-bokeh-falloff.jpg", "bokeh", 0.6, True, "--effect bokeh --falloff --strength 0.6"),
    ("effect-replace.jpg", "replace:{backdrop}", 0.5, False, "--effect replace:rocket.jpg"),
    ("effect-color.jpg", "color:#00b140", 0.5, False, "--effect color:#00b140"),
    ("effect-mask.jpg", "mask", 0.5, False, "--effect mask"),
]
MAX_BYTES = 300_000


def photos() -> tuple[np.ndarray, np.ndarray]:
    """The portrait and the replacement background, as BGR."""
    from skimage import data

    portrait = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    backdrop = cv2.cvtColor(data.rocket(), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(portrait), np.ascontiguousarray(backdrop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality (default 85)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    portrait, backdrop = photos()
    processor = PhotoProcessor(effect=EffectOptions(effect="none"), matte=MatteOptions(temporal=False))
    try:
        _, alpha = processor.process(portrait)
    finally:
        processor.close()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        backdrop_path = Path(tmp) / "rocket.png"
        cv2.imwrite(str(backdrop_path), backdrop)
        for name, effect, strength, falloff, _caption in PICTURES:
            options = EffectOptions(effect=effect.format(backdrop=backdrop_path), strength=strength, falloff=falloff)
            picture = Compositor(options).apply(portrait, alpha)
            path = args.out / name
            ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
            if not ok or data.size > MAX_BYTES:
                raise SystemExit(f"{path}: could not encode under {MAX_BYTES} bytes")
            path.write_bytes(data.tobytes())
            log.info("%s  %s  (%d KB)", path, options.effect.name, data.size // 1024)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmarks behind ``livebokeh bench``; each prints its baseline from the same run.

Modules::

    live.py        the threaded pipeline vs a synchronous loop
    composite.py   each effect vs cv2.blur + np.where and frame.copy()
    convert.py     convert vs a plain PyAV transcode with the same encoder settings
    matte.py       edge-aware upsampling and smoothing vs bilinear
    clips.py       the clips they run on;  choices.py: frame sizes and clocks by name
"""

from __future__ import annotations

from .choices import CLOCKS, SIZES

__all__ = ["CLOCKS", "SIZES"]

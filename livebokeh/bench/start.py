"""``livebokeh bench start``: how long a command takes from process start to exit, next to the bare imports.

Each round starts, in turn, fresh processes of this interpreter for:

* ``python -c pass``: the interpreter alone;
* ``import numpy, cv2``: the baseline - what any OpenCV tool pays before doing anything;
* ``livebokeh --version``;
* ``livebokeh photo IMAGE -o OUT``: the whole command on a 12-megapixel JPEG (the bundled
  sample's first frame scaled to 4000 x 3000, or ``--image``), with the seconds the
  command itself reports for the photo (read, matte, composite, write: "in-process");
  where ONNX Runtime is installed the default (``--quality auto``) runs the MODNet matting
  model too, and ``photo --quality fast`` is timed as well.

Rounds are interleaved so that load from other processes hits every row alike; medians
are reported, with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PHOTO_SIZE = (4000, 3000)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "start",
        help="process start to exit of --version and photo, vs python and import numpy+cv2",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--image", type=Path, default=None, help="photo to use (default: a 12 MP test picture)")
    p.add_argument(
        "--compare",
        type=Path,
        default=None,
        metavar="CHECKOUT",
        help="also time the livebokeh rows of another checkout (its folder, put first on PYTHONPATH): before/after; "
        "without it the livebokeh that this Python imports is timed",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=main)


def test_photo(path: Path) -> Path:
    """Write the 12-megapixel test JPEG (the sample clip's first frame, scaled) to ``path``."""
    import cv2

    from ..sources.synthetic import _drawn_person, _sample_picture

    picture = _sample_picture()
    if picture is None:
        picture = _drawn_person(960, 540)
    cv2.imwrite(
        str(path), cv2.resize(picture, PHOTO_SIZE, interpolation=cv2.INTER_CUBIC), [cv2.IMWRITE_JPEG_QUALITY, 92]
    )
    return path


def _timed(argv: list[str], pythonpath: Path | None = None) -> tuple[float, str]:
    """Wall seconds and stdout of one process, started in the temp folder (``-m`` puts the cwd on the path)."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return seconds, done.stdout


def main(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..segmentation.onnx import matting_available

    if args.runs < 1:
        raise ConfigError("--runs must be at least 1")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="livebokeh-start-") as tmp:
        image = args.image or test_photo(Path(tmp) / "photo-12mp.jpg")
        out = Path(tmp) / "out.jpg"
        rows: dict[str, list[str]] = {
            "python": [py, "-c", "pass"],
            "import numpy, cv2": [py, "-c", "import numpy, cv2"],
            "livebokeh --version": [py, "-m", "livebokeh", "--version"],
            "livebokeh photo": [
                py,
                "-m",
                "livebokeh",
                "--no-config",
                "photo",
                str(image),
                "-o",
                str(out),
                "--overwrite",
            ],
        }
        if matting_available():  # the default (quality auto) runs MODNet for photos: time the fast path too
            rows["livebokeh photo --quality fast"] = [*rows["livebokeh photo"], "--quality", "fast"]
        runs: dict[str, tuple[list[str], Path | None]] = {name: (argv, None) for name, argv in rows.items()}
        if args.compare is not None:
            for name in ("livebokeh --version", "livebokeh photo"):
                runs[f"{name} [compare]"] = (rows[name], args.compare.resolve())
        walls: dict[str, list[float]] = {name: [] for name in runs}
        inside: dict[str, list[float]] = {name: [] for name in runs if name.startswith("livebokeh photo")}
        load_before = os.getloadavg()[0]
        for name in inside:  # page cache and numba caches warm, not timed
            _timed(*runs[name])
        for _ in range(args.runs):
            for name, (argv, path) in runs.items():
                seconds, stdout = _timed(argv, path)
                walls[name].append(seconds)
                m = re.search(r"written in ([0-9.]+) s", stdout)
                if name in inside and m:
                    inside[name].append(float(m.group(1)))
        load_after = os.getloadavg()[0]
    report: dict[str, Any] = {name: round(statistics.median(v), 3) for name, v in walls.items()}
    for name, values in inside.items():
        key = "photo_in_process" + name[len("livebokeh photo") :]
        report[key] = round(statistics.median(values), 3) if values else None
    report["runs"] = args.runs
    report["load_average"] = [round(load_before, 2), round(load_after, 2)]
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"median seconds over {args.runs} interleaved runs, load average {load_before:.2f} -> {load_after:.2f}")
    base = report["import numpy, cv2"]
    for name in runs:
        extra = f"   ({report[name] - base:+.3f} vs import numpy, cv2)" if name.startswith("livebokeh") else ""
        print(f"  {name:<36} {report[name]:6.3f}{extra}")
    for key in [k for k in report if k.startswith("photo_in_process")]:
        print(f"  {key:<36} {report[key]}  (read, matte, composite, write of one 12 MP photo, as it reports)")
    return 0

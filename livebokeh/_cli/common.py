"""Argument groups shared by several commands, and their conversion to option dataclasses."""

from __future__ import annotations

import argparse

from ..config import EffectOptions, MatteOptions, SegmenterOptions


def add_effect_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("effect")
    g.add_argument(
        "--effect",
        default="blur",
        help="blur, bokeh, replace:IMAGE_OR_VIDEO, color:#RRGGBB, mask or none (default: blur)",
    )
    g.add_argument("--strength", type=float, default=0.5, help="blur strength 0-1, relative to frame height (default 0.5)")
    g.add_argument("--falloff", action="store_true", help="blur grows with distance from the person (depth-like)")


def add_model_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--model", default="auto", help="auto, a bundled model name (see `livebokeh models`) or a .tflite/.pb path")
    g.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    g.add_argument("--person-class", type=int, default=None, help="person class index for multi-class models")


def add_matte_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("matte")
    g.add_argument("--subject", choices=("all", "main"), default="all", help="keep every person sharp, or only the main one")
    g.add_argument("--no-refine", dest="refine", action="store_false", help="plain bilinear mask upsampling")


def effect_options(args: argparse.Namespace) -> EffectOptions:
    return EffectOptions(effect=args.effect, strength=args.strength, falloff=args.falloff)


def segmenter_options(args: argparse.Namespace) -> SegmenterOptions:
    return SegmenterOptions(model=args.model, threads=args.threads, person_class=args.person_class)


def matte_options(args: argparse.Namespace, **overrides: object) -> MatteOptions:
    values: dict[str, object] = {"refine": args.refine, "subject": args.subject}
    values.update(overrides)
    return MatteOptions(**values)  # type: ignore[arg-type]

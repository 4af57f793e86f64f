"""``livebokeh photo``: portrait mode for still images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .common import (
    add_effect_args,
    add_matte_args,
    add_model_args,
    effect_options,
    is_terminal,
    matte_options,
    segmenter_options,
)
from .signals import raise_if_dropped

if TYPE_CHECKING:
    from ..runtime.photo import PhotoResult
    from ..sources.images import ImageReader


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("photo", help="blur the background of photos", description="Portrait mode for photos.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    p.add_argument("-o", "--output", type=Path, help="output file (one input)")
    p.add_argument("--out-dir", type=Path, help="output folder (any number of inputs; same file names)")
    p.add_argument("--mask-out", type=Path, help="write the soft person mask as 8-bit PNG (file, or folder: NAME.png)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress output (a bar on a terminal, else one line per photo)"
    )
    add_effect_args(p)
    add_model_args(p)
    add_matte_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..sources.images import ImageReader, no_huge_pages  # NumPy and OpenCV only

    no_huge_pages()  # every buffer here is filled once: see no_huge_pages
    reader = ImageReader()
    try:
        reader.read_ahead(first_input(args.inputs))  # decodes while the matte's modules and models load
        return _run(args, reader)
    finally:
        reader.close()


def first_input(inputs: list[str]) -> Path | None:
    """The photo a run over ``inputs`` starts with, if it is plain to see (a file, or a folder's first image)."""
    from ..sources.images import list_images

    first = Path(inputs[0])
    try:
        if first.is_dir():
            found = list_images(first)
            return found[0] if found else None
    except OSError:
        return None
    return first if first.is_file() else None


def _run(args: argparse.Namespace, reader: ImageReader) -> int:
    from ..runtime.photo import PhotoProcessor, expand_inputs, plan_outputs, run_photo

    effect = effect_options(args)
    plan = plan_outputs(expand_inputs(args.inputs), args.output, args.out_dir, args.mask_out)
    processor = PhotoProcessor(
        effect=effect, matte=matte_options(args, temporal=False), segmenter=segmenter_options(args), photos=len(plan)
    )
    bar = None
    terminal = is_terminal(sys.stderr)
    if len(plan) > 1 and not args.quiet and terminal:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), unit="photo", file=sys.stderr)

    def done(result: PhotoResult) -> None:
        if result.error:
            msg = f"livebokeh: error: {result.error}"
            if bar is not None:
                bar.write(msg, file=sys.stderr)
            else:
                print(msg, file=sys.stderr)
        elif not args.quiet and not terminal:  # a log or pipe: one line per photo instead of a bar
            written = " + ".join(str(p) for p in (result.output, result.mask) if p is not None)
            print(f"{result.input} -> {written} ({result.seconds:.2f} s)", flush=True)
        if bar is not None:
            bar.update(1)
        raise_if_dropped()  # a signal whose exception Python dropped during this photo ends the command here

    try:
        report = run_photo(
            args.inputs,
            output=args.output,
            out_dir=args.out_dir,
            mask_out=args.mask_out,
            overwrite=args.overwrite,
            processor=processor,
            on_done=done,
            reader=reader,
        )
    finally:
        if bar is not None:
            bar.close()
        processor.close()
    ok = len(report.results) - len(report.failed)
    if not args.quiet:
        total = sum(r.seconds for r in report.results)
        print(f"{ok} of {len(report.results)} photos written in {total:.2f} s")
    return 1 if report.failed else 0

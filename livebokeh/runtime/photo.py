"""Portrait mode for photos: wiring only (read -> matte -> composite -> write)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import EffectOptions, MatteOptions, SegmenterOptions
from ..effects import Compositor
from ..errors import InputError, LivebokehError, OutputError
from ..frames import Frame
from ..matte import Matte
from ..safe_write import check_target, ensure_folder
from ..segmentation import SegmenterProtocol, create_segmenter
from ..sinks.images import write_image
from ..sources.images import IMAGE_SUFFIXES, ImageReader, list_images

log = logging.getLogger(__name__)

SINGLE_PHOTO_KERNELS = "numpy"
"""The compositor's kernels for a single photo: importing numba and loading its compiled kernels
costs more than they save on one picture, and the blurred background is summed from the photo's
halved copy either way (12 MP: numba warm ~0.06 s of composite, its import and cache load ~0.5 s)."""


@dataclass(slots=True)
class PhotoResult:
    """What happened to one input."""

    input: Path
    output: Path | None = None
    mask: Path | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass(slots=True)
class PhotoReport:
    results: list[PhotoResult] = field(default_factory=list)

    @property
    def failed(self) -> list[PhotoResult]:
        return [r for r in self.results if r.error]


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given; folders expanded to the images directly inside them."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise InputError(f"folder {p} contains no images ({', '.join(IMAGE_SUFFIXES)})")
            out.extend(found)
        else:
            out.append(p)
    return out


def plan_outputs(
    inputs: list[Path], output: Path | None, out_dir: Path | None, mask_out: Path | None
) -> list[tuple[Path, Path | None, Path | None]]:
    """Pair each input with its output and mask path; a missing output or mask folder is created."""
    if output is not None and out_dir is not None:
        raise OutputError("give either -o OUTPUT or --out-dir DIR, not both")
    if output is None and out_dir is None and mask_out is None:
        raise OutputError("no output given: pass -o OUTPUT (one input) or --out-dir DIR")
    if output is not None and len(inputs) != 1:
        raise OutputError(f"-o takes one input but {len(inputs)} were given: use --out-dir DIR for several")
    if out_dir is not None:
        ensure_folder(out_dir)
    mask_is_dir = mask_out is not None and (mask_out.is_dir() or len(inputs) > 1 or mask_out.suffix == "")
    if mask_out is not None and mask_is_dir:
        ensure_folder(mask_out, what="mask folder")
    plan = []
    for path in inputs:
        target = output if output is not None else (out_dir / path.name if out_dir is not None else None)
        mask: Path | None = None
        if mask_out is not None:
            mask = mask_out / f"{path.stem}.png" if mask_is_dir else mask_out
        plan.append((path, target, mask))
    return plan


class PhotoProcessor:
    """Holds one segmenter, matte and compositor for any number of photos (model loaded once).

    :meth:`prepare` opens what the first photo will need besides the segmenter (the person
    detector); :func:`run_photo` calls it while the first photo is being read.  ``photos``
    says how many it will process, when known: for one, the compositor runs on the
    OpenCV/NumPy kernels (:data:`SINGLE_PHOTO_KERNELS`).
    """

    def __init__(
        self,
        effect: EffectOptions | None = None,
        matte: MatteOptions | None = None,
        segmenter: SegmenterProtocol | SegmenterOptions | None = None,
        *,
        photos: int | None = None,
    ) -> None:
        if segmenter is None or isinstance(segmenter, SegmenterOptions):
            seg_opts = segmenter or SegmenterOptions()
            segmenter = create_segmenter(
                seg_opts.model, num_threads=seg_opts.threads, person_class=seg_opts.person_class
            )
        self.segmenter = segmenter
        self.matte = Matte(segmenter, matte or MatteOptions(), video=False)
        kernels = SINGLE_PHOTO_KERNELS if photos == 1 else None
        self.compositor = Compositor(effect or EffectOptions(), kernels=kernels)

    def prepare(self) -> None:
        """Open the person detector and the matting model now if the matte will use them (else the
        first photo opens them): the first photo is read meanwhile."""
        estimator = self.matte.estimator
        if self.matte.options.crops or self.matte.options.subject == "main":
            estimator.detector  # noqa: B018 - the property opens it
        if estimator.matting_on:
            estimator.matting  # noqa: B018

    def process(self, image, *, in_place: bool = False) -> tuple:  # type: ignore[no-untyped-def]
        """Return ``(composited image, uint8 alpha)`` for one BGR image.

        ``in_place`` writes the composite over ``image`` (when the caller needs it no more,
        as :func:`run_photo`): a second full-size buffer (36 MB at 12 MP) costs about as
        much in fresh memory pages as the blend itself.
        """
        frame = Frame(image=image, timestamp_ns=0, index=0)
        mask = self.matte.compute(frame)
        alpha = self.matte.apply_to(mask, frame)
        out = image if in_place else None
        return self.compositor.apply(image, alpha, out=out, reduced=frame.reduced), alpha

    def close(self) -> None:
        self.segmenter.close()


def run_photo(
    inputs: Sequence[str | Path],
    *,
    output: Path | None = None,
    out_dir: Path | None = None,
    mask_out: Path | None = None,
    overwrite: bool = False,
    processor: PhotoProcessor,
    on_done: Callable[[PhotoResult], None] | None = None,
    reader: ImageReader | None = None,
) -> PhotoReport:
    """Process every input; a bad input is recorded and skipped, the rest go on.

    The next photo is read in a second thread while one is processed (the first while the
    processor :meth:`~PhotoProcessor.prepare` s its models), so reading costs no extra time.
    A ``reader`` given by the caller may have started on the first photo already (the command
    line does, before it loads the models); it stays open for the caller to close.
    """
    plan = plan_outputs(expand_inputs(inputs), output, out_dir, mask_out)
    report = PhotoReport()
    own_reader = reader is None
    if reader is None:
        reader = ImageReader()
    if plan:
        reader.read_ahead(plan[0][0])
        start = time.perf_counter()
        processor.prepare()
        prepared_s = time.perf_counter() - start
    for i, (path, target, mask_path) in enumerate(plan):
        result = PhotoResult(input=path, output=target, mask=mask_path)
        start = time.perf_counter() - (prepared_s if i == 0 else 0.0)
        if i + 1 < len(plan):
            reader.read_ahead(plan[i + 1][0])
        try:
            for dest in (target, mask_path):
                if dest is not None:  # refuse before the work, not after it
                    check_target(dest, overwrite=overwrite)
            image = reader.read(path)
            out, alpha = processor.process(image, in_place=True)
            if target is not None:
                write_image(target, out, overwrite=overwrite)
            if mask_path is not None:
                write_image(mask_path, alpha, overwrite=overwrite)
        except LivebokehError as exc:
            result.error = str(exc)
            result.output = result.mask = None
            log.debug("photo %s failed", path, exc_info=True)
        result.seconds = time.perf_counter() - start
        report.results.append(result)
        if on_done is not None:
            on_done(result)
    if own_reader:
        reader.close()
    return report

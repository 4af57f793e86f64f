"""What runs on the workers of a Ray conversion: tasks, the progress board, the converter they share.

Each task gets paths and small frozen records, never frames.  The first task a worker
process runs builds its :class:`~livebokeh.runtime.convert.VideoConverter` (the model
loads once); later tasks with the same settings reuse it.  Every task first checks that
its node runs the same livebokeh as the driver.  A task that finds its output already
renamed into place (an earlier attempt finished, then its worker died) counts it as done.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import EffectOptions, MatteOptions, SegmenterOptions
from ..effect_kinds import Replace
from ..errors import LivebokehError, SinkError
from ..matte import DETECT_EVERY
from .convert import ConvertResult, EncodeOptions, VideoConverter
from .ray_session import ClusterError
from .segments import SegmentPlan, cut_container_for, cut_piece, join_pieces, plan_segments

_REPORT_EVERY = 0.5  # seconds between a task's progress messages


@dataclass(frozen=True, slots=True)
class ConverterSpec:
    """Everything a worker needs to build the same :class:`VideoConverter` as a local conversion."""

    effect: EffectOptions = field(default_factory=EffectOptions)
    matte: MatteOptions = field(default_factory=MatteOptions)
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    mask_every: int = 1

    def build(self) -> VideoConverter:
        return VideoConverter(
            effect=self.effect,
            matte=self.matte,
            segmenter=self.segmenter,
            encode=self.encode,
            mask_every=self.mask_every,
        )

    def absolute(self) -> ConverterSpec:
        """The same spec with the paths it names made absolute (workers may run in another folder)."""
        effect, segmenter = self.effect, self.segmenter
        if isinstance(effect.effect, Replace):
            effect = replace(effect, effect=Replace(effect.effect.path.absolute()))
        if os.sep in segmenter.model or Path(segmenter.model).suffix in (".tflite", ".pb"):
            segmenter = replace(segmenter, model=os.path.abspath(segmenter.model))
        return replace(self, effect=effect, segmenter=segmenter)


@dataclass(frozen=True, slots=True)
class FileJob:
    """One input and where its output goes, as a task sees it."""

    key: str
    src: Path
    dst: Path
    mask: Path | None
    overwrite: bool
    before: tuple[int, int, int] | None
    """The output's (inode, size, mtime) when the run started, ``None`` if it did not exist."""


@dataclass(slots=True)
class TaskOutcome:
    """A task's result record and where it ran."""

    result: ConvertResult
    node: str
    pid: int
    reused: bool = False
    """An earlier attempt of this task had already renamed the output into place."""


@functools.cache
def livebokeh_fingerprint() -> str:
    """This installation's version and a digest of its source: what every node must share."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


class VersionMismatch(ClusterError):
    """A worker runs another livebokeh than the driver."""


def _check_version(expected: str) -> None:
    mine = livebokeh_fingerprint()
    if mine != expected:
        raise VersionMismatch(
            f"node {_node_label()} runs livebokeh {mine} but the driver runs {expected}: "
            "install the same livebokeh on every node"
        )


def _node_label() -> str:
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    return f"{ray.util.get_node_ip_address()}/{node_id[:6]}"


_WORKER: dict[str, Any] = {}  # this worker process's converter and the spec it was built from


def _worker_converter(spec: ConverterSpec, cpus: float) -> VideoConverter:
    """The converter for ``spec``, built on this worker's first task and kept for the next ones."""
    if _WORKER.get("spec") != spec:
        old = _WORKER.pop("converter", None)
        if old is not None:
            old.close()
        import cv2

        cv2.setNumThreads(max(1, math.ceil(cpus)))  # the task's share of the node, not every core
        if spec.encode.threads is None:
            spec_built = replace(spec, encode=replace(spec.encode, threads=max(1, math.ceil(cpus))))
        else:
            spec_built = spec
        _WORKER["converter"] = spec_built.build()
        _WORKER["spec"] = spec
    converter: VideoConverter = _WORKER["converter"]
    return converter


class _Reporter:
    """Tells the progress board how many frames a task has written, at most every half second."""

    def __init__(self, board: Any, key: str) -> None:
        self._board = board
        self._key = key
        self._last = 0.0
        board.started.remote(key, _node_label(), os.getpid())

    def __call__(self, frames: int) -> None:
        now = time.monotonic()
        if now - self._last >= _REPORT_EVERY:
            self._last = now
            self._board.update.remote(self._key, frames)

    def done(self, frames: int) -> None:
        self._board.finished.remote(self._key, frames)


def stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        if vs.frames:
            return int(vs.frames)
        return sum(1 for p in c.demux(vs) if p.size)


def convert_file(job: FileJob, spec: ConverterSpec, cpus: float, expected: str, board: Any) -> TaskOutcome:
    """Convert one whole file; a converter error comes back in the result."""
    _check_version(expected)
    node = _node_label()
    now = stat_key(job.dst)
    if now is not None and now != job.before:  # an earlier attempt finished before its worker died
        result = ConvertResult(input=job.src, output=job.dst, mask=job.mask, frames=_count_frames(job.dst))
        board.finished.remote(job.key, result.frames)
        return TaskOutcome(result, node, os.getpid(), reused=True)
    report = _Reporter(board, job.key)
    started = time.perf_counter()
    try:
        converter = _worker_converter(spec, cpus)
        result = converter.convert(job.src, job.dst, mask_out=job.mask, overwrite=job.overwrite, on_frame=report)
    except (LivebokehError, SinkError) as exc:
        result = ConvertResult(input=job.src, error=str(exc), seconds=time.perf_counter() - started)
    report.done(result.frames)
    return TaskOutcome(result, node, os.getpid())


def plan_file(src: Path, seconds: float, mask_every: int, expected: str) -> SegmentPlan | str:
    """Where to cut ``src``, or why it cannot be cut.

    Pre-rolls start on frames where a whole-file conversion runs the person detectors
    and computes a mask, so each piece's matte repeats the same work on the same frames.
    """
    _check_version(expected)
    return plan_segments(src, seconds, align=math.lcm(DETECT_EVERY, mask_every))


@dataclass(frozen=True, slots=True)
class PieceJob:
    """One piece of a segmented file, as its task sees it."""

    key: str
    src: Path
    plan: SegmentPlan
    index: int
    work: Path
    suffix: str

    @property
    def output(self) -> Path:
        return self.work / f"piece-{self.index:04d}{self.suffix}"


def convert_piece(job: PieceJob, spec: ConverterSpec, cpus: float, expected: str, board: Any) -> TaskOutcome:
    """Cut one piece (and its pre-roll) out of the input by copying packets, then convert it."""
    _check_version(expected)
    node = _node_label()
    if job.output.exists():  # renamed into place by an earlier attempt
        result = ConvertResult(input=job.src, output=job.output, frames=_count_frames(job.output))
        board.finished.remote(job.key, result.frames)
        return TaskOutcome(result, node, os.getpid(), reused=True)
    piece = job.plan.pieces[job.index]
    cut = job.work / f"cut-{job.index:04d}-{os.getpid()}{_cut_suffix(job.src)}"
    report = _Reporter(board, job.key)
    started = time.perf_counter()
    try:
        converter = _worker_converter(spec, cpus)
        preroll = cut_piece(job.src, job.plan, piece, cut)
        result = converter.convert(cut, job.output, overwrite=True, on_frame=report, preroll=preroll)
        result.input = job.src
    except (LivebokehError, SinkError) as exc:
        result = ConvertResult(input=job.src, error=str(exc), seconds=time.perf_counter() - started)
    finally:
        with contextlib.suppress(OSError):
            cut.unlink()
    report.done(result.frames)
    return TaskOutcome(result, node, os.getpid())


def _cut_suffix(src: Path) -> str:
    return ".mp4" if cut_container_for(src) == "mp4" else ".mkv"


def join_file(job: FileJob, plan: SegmentPlan, pieces: list[Path], faststart: bool, expected: str) -> TaskOutcome:
    """Join converted pieces into the output, with the input's audio."""
    _check_version(expected)
    node = _node_label()
    now = stat_key(job.dst)
    if now is not None and now != job.before:
        result = ConvertResult(input=job.src, output=job.dst, frames=_count_frames(job.dst))
        return TaskOutcome(result, node, os.getpid(), reused=True)
    started = time.perf_counter()
    joined = join_pieces(job.src, plan, pieces, job.dst, overwrite=job.overwrite, faststart=faststart)
    result = ConvertResult(
        input=job.src, output=job.dst, frames=joined.frames, audio=joined.audio, seconds=time.perf_counter() - started
    )
    return TaskOutcome(result, node, os.getpid())


class ProgressBoard:
    """Frames written per task, and which tasks run where (a Ray actor with no CPU of its own)."""

    def __init__(self) -> None:
        self._frames: dict[str, int] = {}
        self._running: dict[str, tuple[str, int]] = {}
        self._starts: dict[str, int] = {}

    def started(self, key: str, node: str, pid: int) -> None:
        self._frames[key] = 0  # a retry starts again from nothing
        self._running[key] = (node, pid)
        self._starts[key] = self._starts.get(key, 0) + 1

    def update(self, key: str, frames: int) -> None:
        self._frames[key] = frames

    def finished(self, key: str, frames: int) -> None:
        self._frames[key] = frames
        self._running.pop(key, None)

    def snapshot(self) -> tuple[int, dict[str, tuple[str, int]]]:
        """Frames written so far by all tasks, and the running tasks' (node, worker pid)."""
        return sum(self._frames.values()), dict(self._running)

    def starts(self, prefix: str) -> int:
        """How many times the tasks whose key is ``prefix`` or starts with ``prefix.`` were started."""
        return sum(n for key, n in self._starts.items() if key == prefix or key.startswith(prefix + "."))

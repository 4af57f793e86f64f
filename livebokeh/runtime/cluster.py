"""Converting a library on a Ray cluster: the driver.

Who does what::

    driver (convert_on_ray)      plans, submits, collects, sweeps temp files; converts nothing
    tasks (cluster_tasks)        run anywhere in the cluster: the same VideoConverter as a local
                                 conversion, built once per worker process and kept for its next task
    ProgressBoard (an actor)     frames written per task; tasks update it without waiting

A file longer than ``segment_seconds`` is planned by a task (keyframes, see
:mod:`~livebokeh.runtime.segments`), its pieces are converted by tasks, and a last task
joins them.  Every node must see inputs and outputs at the same path (a shared
filesystem): outputs are written to a temp file beside the target and renamed, so a
crashed attempt never leaves a half-written file under the final name, and the driver
removes the temp files of crashed attempts when the run ends.

Converter errors (a damaged file) come back as results and are not retried; a crash (a
killed worker, a lost node) is retried by Ray up to ``max_retries`` times.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LivebokehError
from ..sources.decoder import VideoDecoder
from .cluster_tasks import (
    ConverterSpec,
    FileJob,
    PieceJob,
    ProgressBoard,
    TaskOutcome,
    VersionMismatch,
    convert_file,
    convert_piece,
    join_file,
    livebokeh_fingerprint,
    plan_file,
    stat_key,
)
from .convert import ConvertResult
from .ray_session import ClusterError, ClusterOptions, first_line, ray_session
from .segments import SegmentPlan

log = logging.getLogger(__name__)

CANCEL_GRACE = 10.0
"""Seconds cancelled tasks get to remove their temp files before their workers are killed."""
_POLL = 0.5  # seconds between progress updates while waiting for tasks

SETTLE = 0.2
"""Seconds the tasks get to finish on their own before the rest are cancelled.  Ray 2.60's driver can
abort on a cancel that meets its task's completion ("Check failed: it != submissible_tasks_.end()" in
``TaskManager::CompletePendingTask``, ray-project/ray PR 54798 fixed an earlier form): a run stopped by one
task's failure often has the others failing at the same moment, so those are let finish, and only tasks
still running are cancelled."""


@dataclass(slots=True)
class FileReport:
    """One input's outcome on the cluster."""

    result: ConvertResult
    nodes: Counter[str] = field(default_factory=Counter)
    """Frames written per node (its address and the start of its Ray node id)."""
    pieces: int = 0
    """How many pieces it was converted in (0: whole)."""
    retries: int = 0
    """Conversion tasks that were started again after a crash (a killed worker, a lost node)."""
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = self.result.as_dict()
        d["nodes"] = dict(self.nodes)
        d["pieces"] = self.pieces
        d["retries"] = self.retries
        if self.note:
            d["note"] = self.note
        return d


def leftover_patterns(target: Path) -> list[str]:
    """Glob patterns of the temp files and folders a writer of ``target`` may leave after a crash."""
    folder = glob.escape(str(target.parent))
    stem, name, rand = glob.escape(target.stem), glob.escape(target.name), "?" * 8
    return [
        f"{folder}/.{stem}.{rand}.part{glob.escape(target.suffix)}",  # safe_write.atomic_output
        f"{folder}/.{stem}.{rand}.pieces.part",  # the pieces of a segmented file
        f"{folder}/.{name}.{rand}.part",  # a folder of PNG masks
    ]


def sweep_leftovers(targets: Sequence[Path]) -> int:
    """Remove what crashed attempts left beside ``targets``; how many were removed."""
    removed = 0
    for target in targets:
        for pattern in leftover_patterns(target):
            for hit in glob.glob(pattern):
                path = Path(hit)
                with contextlib.suppress(OSError):
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                    removed += 1
                    log.info("removed %s, left by a crashed attempt", path)
    return removed


@dataclass(slots=True)
class _File:
    job: FileJob
    estimate: int | None
    long: bool
    started: float = 0.0
    plan: SegmentPlan | None = None
    work: Path | None = None
    pieces: dict[int, TaskOutcome] = field(default_factory=dict)
    error: str | None = None
    note: str | None = None
    restarts: int = 0  # conversion tasks started by the driver before it fell back to a whole-file task


@dataclass(slots=True)
class ClusterReport:
    """Results of a run on Ray, in the order files finished."""

    files: list[FileReport] = field(default_factory=list)

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.result.error]

    def per_node(self) -> dict[str, int]:
        """Frames written per node, over all files."""
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.nodes)
        return dict(sorted(total.items()))


def convert_on_ray(
    plan: Sequence[tuple[Path, Path, Path | None]],
    *,
    spec: ConverterSpec,
    options: ClusterOptions,
    overwrite: bool = False,
    on_start: Callable[[int | None], None] | None = None,
    on_progress: Callable[[int, dict[str, tuple[str, int]]], None] | None = None,
    on_done: Callable[[FileReport], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> ClusterReport:
    """Convert every ``(input, output, mask)`` of ``plan`` on Ray; see the module docstring.

    ``on_start(total_frames)`` once the inputs are probed (``None`` if unknown),
    ``on_progress(frames_written, running)`` about twice a second, ``on_done`` per
    finished file, ``on_note`` for a message worth a line (a file that cannot be cut).
    Ctrl-C (or ``stop``) cancels every task, removes the temp files and re-raises.
    """
    with ray_session(options) as ray:
        driver = _Driver(ray, spec.absolute(), options, overwrite, on_progress, on_done, on_note, stop)
        files = driver.prepare(plan)
        if on_start is not None:
            estimates = [f.estimate for f in files]
            on_start(None if any(e is None for e in estimates) else sum(e or 0 for e in estimates))
        return driver.run(files)


class _Driver:
    """The driver's loop: submit tasks, react to each finished one, keep the progress board read."""

    def __init__(
        self,
        ray: Any,
        spec: ConverterSpec,
        options: ClusterOptions,
        overwrite: bool,
        on_progress: Callable[[int, dict[str, tuple[str, int]]], None] | None,
        on_done: Callable[[FileReport], None] | None,
        on_note: Callable[[str], None] | None,
        stop: threading.Event | None,
    ) -> None:
        self.ray = ray
        self.spec = spec
        self.options = options
        self.overwrite = overwrite
        self.on_progress = on_progress
        self.on_done = on_done
        self.on_note = on_note
        self.stop = stop
        self.fingerprint = livebokeh_fingerprint()
        self.report = ClusterReport()
        self.refs: dict[Any, tuple[str, _File, int]] = {}
        self._check_cpus()
        self.board = self._start_board()

    def _check_cpus(self) -> None:
        largest = max((n["Resources"].get("CPU", 0.0) for n in self.ray.nodes() if n.get("Alive")), default=0.0)
        if largest < self.options.cpus_per_task:
            raise ClusterError(
                f"no node of the Ray cluster has {self.options.cpus_per_task:g} CPUs (the largest has {largest:g}): "
                "lower --cpus-per-task"
            )

    def _start_board(self) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = self.ray.get_runtime_context().get_node_id()
        actor = self.ray.remote(num_cpus=0)(ProgressBoard)
        return actor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()

    # -- planning ------------------------------------------------------------------------

    def prepare(self, plan: Sequence[tuple[Path, Path, Path | None]]) -> list[_File]:
        """What the driver needs of each input before submitting: its frame count and whether to cut it."""
        files = []
        seconds = self.options.segment_seconds
        for i, (src, dst, mask) in enumerate(plan):
            src, dst = src.absolute(), dst.absolute()
            mask = mask.absolute() if mask is not None else None
            estimate, duration = None, 0.0
            with contextlib.suppress(LivebokehError), VideoDecoder(src, label="input") as decoder:
                estimate = decoder.estimated_frames
                duration = decoder.duration or (decoder.container.duration or 0) / 1_000_000
            long = bool(seconds) and mask is None and duration > seconds
            job = FileJob(str(i), src, dst, mask, self.overwrite, stat_key(dst))
            files.append(_File(job=job, estimate=estimate, long=long))
        return files

    # -- submitting ----------------------------------------------------------------------

    def _remote(self, fn: Callable[..., Any], cpus: float) -> Any:
        return self.ray.remote(fn).options(num_cpus=cpus, max_retries=self.options.max_retries, retry_exceptions=False)

    def submit_whole(self, f: _File) -> None:
        task = self._remote(convert_file, self.options.cpus_per_task)
        cpus = self.options.cpus_per_task
        self.refs[task.remote(f.job, self.spec, cpus, self.fingerprint, self.board)] = ("file", f, -1)

    def submit_plan(self, f: _File) -> None:
        task = self._remote(plan_file, 0.5)
        seconds = float(self.options.segment_seconds)
        self.refs[task.remote(f.job.src, seconds, self.spec.mask_every, self.fingerprint)] = ("plan", f, -1)

    def submit_pieces(self, f: _File, plan: SegmentPlan) -> None:
        f.plan = plan
        f.work = Path(tempfile.mkdtemp(prefix=f".{f.job.dst.stem}.", suffix=".pieces.part", dir=f.job.dst.parent))
        task = self._remote(convert_piece, self.options.cpus_per_task)
        cpus = self.options.cpus_per_task
        for piece in plan.pieces:
            job = PieceJob(f"{f.job.key}.{piece.index}", f.job.src, plan, piece.index, f.work, f.job.dst.suffix)
            self.refs[task.remote(job, self.spec, cpus, self.fingerprint, self.board)] = ("piece", f, piece.index)

    def submit_join(self, f: _File) -> None:
        assert f.plan is not None and f.work is not None
        outputs = [outcome.result.output for _, outcome in sorted(f.pieces.items())]
        task = self._remote(join_file, 0.5)
        faststart = self.spec.encode.faststart
        self.refs[task.remote(f.job, f.plan, outputs, faststart, self.fingerprint)] = ("join", f, -1)

    # -- the loop ------------------------------------------------------------------------

    def run(self, files: list[_File]) -> ClusterReport:
        targets = [f.job.dst for f in files] + [f.job.mask for f in files if f.job.mask is not None]
        try:
            for f in files:
                f.started = time.perf_counter()
                if f.long:
                    self.submit_plan(f)
                else:
                    self.submit_whole(f)
            while self.refs:
                if self.stop is not None and self.stop.is_set():
                    raise KeyboardInterrupt
                ready, _ = self.ray.wait(list(self.refs), num_returns=len(self.refs), timeout=_POLL)
                for ref in ready:
                    kind, f, index = self.refs.pop(ref)
                    self._collect(ref, kind, f, index)
                self._poll_progress()
            self._poll_progress()
        except BaseException:
            self._cancel_all()
            self._cleanup(files, targets)
            raise
        self._cleanup(files, targets)
        return self.report

    def _collect(self, ref: Any, kind: str, f: _File, index: int) -> None:
        try:
            value = self.ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - every task failure becomes a message
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, VersionMismatch):
                raise cause from None
            self._failed(kind, f, index, cause)
            return
        if kind == "file":
            self._finish(f, value.result, Counter({value.node: value.result.frames}))
        elif kind == "plan":
            if isinstance(value, str):
                self._whole_after_all(f, f"{f.job.src.name} cannot be cut into pieces ({value}): converting it whole")
            else:
                self.submit_pieces(f, value)
        elif kind == "piece":
            f.pieces[index] = value
            if value.result.error and f.error is None:
                f.error = value.result.error
            assert f.plan is not None
            if len(f.pieces) == len(f.plan.pieces):
                if f.error is not None:
                    self._finish(f, ConvertResult(input=f.job.src, error=f.error))
                else:
                    self.submit_join(f)
        elif kind == "join":
            result = value.result
            nodes: Counter[str] = Counter()
            for outcome in f.pieces.values():
                nodes[outcome.node] += outcome.result.frames
                result.corrupt_skipped += outcome.result.corrupt_skipped
                result.planar_frames += outcome.result.planar_frames
            result.mask = None
            self._finish(f, result, nodes, pieces=len(f.pieces))

    def _failed(self, kind: str, f: _File, index: int, cause: BaseException) -> None:
        if kind in ("plan", "join") and isinstance(cause, LivebokehError):
            note = f"{f.job.src.name} could not be converted in pieces ({cause}): converting it whole"
            self._whole_after_all(f, note)
            return
        text = _task_failure(cause, self.options.max_retries)
        if kind == "piece":
            f.pieces[index] = TaskOutcome(ConvertResult(input=f.job.src, error=text), "", 0)
            if f.error is None:
                f.error = text
            assert f.plan is not None
            if len(f.pieces) == len(f.plan.pieces):
                self._finish(f, ConvertResult(input=f.job.src, error=f.error))
            return
        self._finish(f, ConvertResult(input=f.job.src, error=text))

    def _whole_after_all(self, f: _File, note: str) -> None:
        f.note = note
        f.restarts += len(f.pieces)
        if self.on_note is not None:
            self.on_note(note)
        self._remove_work(f)
        f.plan, f.pieces = None, {}
        self.submit_whole(f)

    def _finish(self, f: _File, result: ConvertResult, nodes: Counter[str] | None = None, pieces: int = 0) -> None:
        self._remove_work(f)
        if pieces:  # from the plan to the join; a whole file keeps its task's own time
            result.seconds = time.perf_counter() - f.started
        retries = 0
        with contextlib.suppress(Exception):  # the board is bookkeeping: never fail a file over it
            tasks = pieces or 1
            retries = max(0, self.ray.get(self.board.starts.remote(f.job.key), timeout=10) - tasks - f.restarts)
        report = FileReport(result=result, nodes=nodes or Counter(), pieces=pieces, retries=retries, note=f.note)
        self.report.files.append(report)
        if self.on_done is not None:
            self.on_done(report)

    def _poll_progress(self) -> None:
        if self.on_progress is None:
            return
        try:
            frames, running = self.ray.get(self.board.snapshot.remote(), timeout=5)
        except Exception:  # noqa: BLE001 - progress is best effort
            log.debug("progress board did not answer", exc_info=True)
            return
        self.on_progress(frames, running)

    # -- ending --------------------------------------------------------------------------

    def _cancel_all(self) -> None:
        """Cancel every task; those still running after :data:`CANCEL_GRACE` seconds are killed."""
        pending = list(self.refs)
        with contextlib.suppress(Exception):  # see SETTLE
            _, pending = self.ray.wait(pending, num_returns=len(pending), timeout=SETTLE)
        for ref in pending:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=False)
        deadline = time.monotonic() + CANCEL_GRACE
        while pending and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                _, pending = self.ray.wait(pending, num_returns=len(pending), timeout=0.5)
        for ref in pending:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)
        if pending:
            log.info("%d task(s) did not stop within %.0f s and were killed", len(pending), CANCEL_GRACE)
        self.refs.clear()

    def _remove_work(self, f: _File) -> None:
        if f.work is not None:
            shutil.rmtree(f.work, ignore_errors=True)
            f.work = None

    def _cleanup(self, files: list[_File], targets: list[Path]) -> None:
        for f in files:
            self._remove_work(f)
        sweep_leftovers(targets)
        with contextlib.suppress(Exception):
            self.ray.kill(self.board)


def _task_failure(cause: BaseException, retries: int) -> str:
    """One line for a task that failed for good."""
    name = type(cause).__name__
    if name in ("WorkerCrashedError", "NodeDiedError", "OwnerDiedError", "ObjectLostError", "LocalRayletDiedError"):
        return f"its task crashed {retries + 1} times (worker killed, out of memory, or node lost): raise --max-retries"
    if name == "TaskCancelledError":
        return "its task was cancelled"
    if isinstance(cause, LivebokehError):
        return str(cause)
    return f"internal error in its task: {name}: {first_line(cause)}"

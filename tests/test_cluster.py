"""``convert --backend ray``: a simulated two-node Ray cluster started once for the whole test run.

Outputs are compared with ``--backend local`` on the same inputs; crashes are real (a worker
process killed, a node removed).  Everything that needs Ray skips cleanly without it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from livebokeh._cli import main as cli_main
from livebokeh.bench.clips import make_clip
from livebokeh.config import EffectOptions, MatteOptions
from livebokeh.errors import ConfigError
from livebokeh.runtime.ray_session import ClusterError, ClusterOptions, local_ray_environment


def _have_ray() -> bool:
    """Whether Ray is installed, without importing it (its native side must see the test settings first)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


HAVE_RAY = _have_ray()
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed (pip install 'livebokeh[ray]')")
NODE_MEMORY = 80 * 1024 * 1024  # object store per simulated node: tasks pass paths, not frames


# -- helpers -------------------------------------------------------------------------


def probe(path: Path) -> dict[str, Any]:
    """Frame times (exact), decoded pictures and audio payload of a video file."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = list(c.decode(vs))
        times = [f.pts * Fraction(vs.time_base) for f in frames]
        images = [f.to_ndarray(format="bgr24").astype(np.int16) for f in frames]
    with av.open(str(path)) as c:
        audio = [bytes(p) for s in c.streams.audio for p in c.demux(s) if p.size]
    return {"times": times, "images": images, "audio": audio}


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and ".part" in p.name]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the Ray settings of the session cluster."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(extra)
    return env


# -- the cluster, once per test run ------------------------------------------------------


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A head and one more node, one CPU each, on this machine; this process is its driver."""
    if not HAVE_RAY:
        pytest.skip("Ray is not installed (pip install 'livebokeh[ray]')")
    temp = Path(tempfile.mkdtemp(prefix="lbray-"))  # short: Ray's socket paths lie below it
    env = local_ray_environment(temp)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # before Ray is imported: its native side reads them once
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "object_store_memory": NODE_MEMORY,
            # a removed node is noticed in about a second (default: tens of seconds)
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3},
        },
    )
    cluster.add_node(num_cpus=1, object_store_memory=NODE_MEMORY)
    ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five inputs: three short ones, one that is cut in two at 10 s pieces, one open-GOP one converted whole."""
    d = tmp_path_factory.mktemp("library")
    make_clip(d / "a.mp4", seconds=1.0)
    make_clip(d / "b.mp4", seconds=1.0, pts_step=[33, 50, 17, 100, 21])
    make_clip(d / "c.mkv", width=161, height=121, seconds=0.5)
    make_clip(d / "long.mp4", seconds=12, fps=10, gop=10, scene="sample")
    make_clip(d / "opengop.mp4", seconds=12, fps=10, gop=10, open_gop=True)
    return d


# Lossless, so the decoded pictures are exactly what the converter made, whatever the encoder chose:
# x264's look-ahead (MB-tree with B-frames) reads memory it has not set for some pictures, so two
# encodes of the same frames in one process can differ in their bits (PyAV 17 and 18's builds).
COMMON = ["--effect", "blur", "--encoder-threads", "1", "--crf", "0"]


@pytest.fixture(scope="module")
def local_outputs(library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local")
    assert cli_main(["convert", "-q", str(library), "--out-dir", str(out), *COMMON]) == 0
    return out


def assert_same_as_local(local: Path, ray_out: Path, library: Path) -> None:
    """Same frames and times as the local conversion, the input's audio bit for bit, the same pictures:
    identical for files converted whole, within encoder noise for the one converted in pieces."""
    names = sorted(p.name for p in library.iterdir())
    assert sorted(p.name for p in ray_out.iterdir() if not p.name.endswith(".json")) == names
    for name in names:
        want, got, src = probe(local / name), probe(ray_out / name), probe(library / name)
        assert got["times"] == want["times"] == src["times"], name
        assert got["audio"] == want["audio"] == src["audio"], name
        diffs = [float(np.abs(a - b).mean()) for a, b in zip(want["images"], got["images"], strict=True)]
        if name == "long.mp4":  # a new matte starts at the cut: its temporal smoothing differs there, no more
            assert np.mean(diffs) < 2.0 and max(diffs) < 4.0, (name, np.mean(diffs), max(diffs))
        else:
            assert max(diffs) == 0.0, name
    assert leftovers(ray_out) == []


# -- conversions -----------------------------------------------------------------------


@needs_ray
def test_two_node_cluster_matches_local(
    ray_cluster: Any, library: Path, local_outputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, stats = tmp_path / "out", tmp_path / "stats.json"
    out.mkdir()
    args = ["--backend", "ray", "--ray-address", ray_cluster.address, "--cpus-per-task", "1"]
    code = cli_main(
        ["convert", str(library), "--out-dir", str(out), *COMMON, *args, "--segment-seconds", "10"]
        + [
            "--stats-json",
            str(stats),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert_same_as_local(local_outputs, out, library)
    files = {Path(f["input"]).name: f for f in json.loads(stats.read_text())["files"]}
    assert len(files) == 5 and all(f["error"] is None for f in files.values())
    assert files["long.mp4"]["pieces"] == 2 and files["long.mp4"]["frames"] == 120
    assert files["opengop.mp4"]["pieces"] == 0 and "open GOP" in files["opengop.mp4"]["note"]
    assert "opengop.mp4 cannot be cut into pieces" in captured.err
    nodes = {node for f in files.values() for node in f["nodes"]}
    assert len(nodes) == 2  # both nodes converted something
    assert "5 of 5 videos converted" in captured.out and "frames per node:" in captured.out


@needs_ray
@pytest.mark.slow
def test_local_instance_matches_local_and_keeps_to_its_folder(
    library: Path, local_outputs: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Without --ray-address: a local Ray instance of its own, its files under --ray-temp-dir,
    nothing in the home folder (no token file), no usage statistics."""
    out, home = tmp_path / "out", tmp_path / "home"
    temp = Path(tempfile.mkdtemp(prefix="lbray-"))  # short: Ray's socket paths lie below it
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    out.mkdir()
    home.mkdir()
    cmd = [sys.executable, "-m", "livebokeh", "convert", "-q", str(library), "--out-dir", str(out), *COMMON]
    cmd += ["--backend", "ray", "--cpus-per-task", "1", "--segment-seconds", "10", "--ray-temp-dir", str(temp)]
    run = subprocess.run(cmd, env=clean_env(HOME=str(home)), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert_same_as_local(local_outputs, out, library)
    assert list(home.iterdir()) == []
    (session,) = (temp / "ray").glob("session_2*")
    assert (session / "logs").is_dir()
    # Ray writes usage_stats.json whenever reporting is on; its dashboard head logs the decision
    assert not (session / "usage_stats.json").exists()
    assert "Usage reporting is disabled" in (session / "logs" / "dashboard.log").read_text()


@pytest.fixture
def short_clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("short")
    return [make_clip(d / f"s{i}.mp4", seconds=4.0) for i in range(4)]


def run_on_ray(
    clips: list[Path], out: Path, *, on_progress: Any = None, stop: threading.Event | None = None, **options: Any
) -> Any:
    from livebokeh.runtime.cluster import convert_on_ray
    from livebokeh.runtime.cluster_tasks import ConverterSpec

    plan = [(c, out / c.name, None) for c in clips]
    spec = ConverterSpec(effect=EffectOptions(effect="blur"))
    opts = ClusterOptions(cpus_per_task=1, **options)
    return convert_on_ray(plan, spec=spec, options=opts, on_progress=on_progress, stop=stop)


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(c.streams.video[0]) if p.size)


@needs_ray
def test_a_killed_worker_is_retried_and_every_output_appears(
    ray_cluster: Any, short_clips: list[Path], tmp_path: Path
) -> None:
    killed: list[tuple[str, int]] = []

    def kill_one(frames: int, running: dict[str, tuple[str, int]]) -> None:
        if not killed and frames > 0 and running:
            key, (node, pid) = sorted(running.items())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append((key, pid))

    report = run_on_ray(short_clips, tmp_path, on_progress=kill_one)
    assert killed, "no task was seen running"
    assert [f.result.error for f in report.files] == [None] * 4
    for clip in short_clips:
        assert frame_count(tmp_path / clip.name) == frame_count(clip) == 120
    assert sum(f.retries for f in report.files) >= 1
    assert leftovers(tmp_path) == []


@needs_ray
def test_ctrl_c_cancels_every_task_and_leaves_no_temp_files(
    ray_cluster: Any, short_clips: list[Path], library: Path, tmp_path: Path
) -> None:
    stop = threading.Event()

    def interrupt(frames: int, running: dict[str, tuple[str, int]]) -> None:
        if frames > 0:
            stop.set()

    clips = [library / "long.mp4", *short_clips]  # the long one is being cut into pieces
    with pytest.raises(KeyboardInterrupt):
        run_on_ray(clips, tmp_path, on_progress=interrupt, stop=stop, segment_seconds=10)
    assert leftovers(tmp_path) == []
    for p in tmp_path.iterdir():  # whatever is there was finished before the interruption
        assert frame_count(p) > 0


@needs_ray
def test_a_damaged_file_is_a_result_not_a_retry(ray_cluster: Any, short_clips: list[Path], tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.mp4"
    data = short_clips[0].read_bytes()
    damaged.write_bytes(data[: len(data) // 3])
    out = tmp_path / "out"
    out.mkdir()
    report = run_on_ray([damaged, short_clips[1]], out)
    by_name = {f.result.input.name: f for f in report.files}
    assert by_name["damaged.mp4"].result.error and "damaged.mp4" in by_name["damaged.mp4"].result.error
    assert by_name["damaged.mp4"].retries == 0
    assert by_name[short_clips[1].name].result.error is None
    assert leftovers(out) == []


@needs_ray
def test_workers_with_another_livebokeh_stop_the_run(
    ray_cluster: Any, short_clips: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import livebokeh.runtime.cluster as cluster

    monkeypatch.setattr(cluster, "livebokeh_fingerprint", lambda: "0.0.0+driver")
    with pytest.raises(ClusterError, match=r"runs livebokeh .* but the driver runs 0\.0\.0\+driver"):
        run_on_ray(short_clips[:2], tmp_path)
    assert list(tmp_path.iterdir()) == []


@needs_ray
def test_long_clip_in_pieces_has_every_frame_time_and_audio_sample(ray_cluster: Any, tmp_path: Path) -> None:
    """60 s cut into three 20 s pieces on the cluster.  Lossless, without temporal smoothing (see
    test_segments): the frames after each cut equal the whole-file conversion's, as all others do."""
    from livebokeh.runtime.cluster import convert_on_ray
    from livebokeh.runtime.cluster_tasks import ConverterSpec
    from livebokeh.runtime.convert import EncodeOptions

    src = make_clip(tmp_path / "lecture.mp4", seconds=60, fps=10, gop=25, scene="sample")
    spec = ConverterSpec(
        effect=EffectOptions(effect="blur"), matte=MatteOptions(temporal=False), encode=EncodeOptions(crf=0)
    )
    with spec.build() as converter:
        converter.convert(src, tmp_path / "whole.mp4")
    out = tmp_path / "out"
    out.mkdir()
    options = ClusterOptions(cpus_per_task=1, segment_seconds=20)
    report = convert_on_ray([(src, out / "lecture.mp4", None)], spec=spec, options=options)
    (file,) = report.files
    assert file.result.error is None and file.pieces == 3 and file.result.frames == 600
    got, whole, want = probe(out / "lecture.mp4"), probe(tmp_path / "whole.mp4"), probe(src)
    assert got["times"] == want["times"]
    assert got["audio"] == want["audio"]
    diffs = [float(np.abs(a - b).mean()) for a, b in zip(whole["images"], got["images"], strict=True)]
    assert len(diffs) == 600 and max(diffs) == 0.0
    assert leftovers(out) == []


# -- resuming and failing fast -------------------------------------------------------------


def test_skip_existing_converts_only_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    clips = [make_clip(src / f"v{i}.mp4", seconds=0.3) for i in range(3)]
    for clip in clips[:2]:
        (out / clip.name).write_bytes(b"finished earlier")
    assert cli_main(["convert", str(src), "--out-dir", str(out), "--skip-existing"]) == 0
    captured = capsys.readouterr()
    assert "2 of 3 outputs exist already: skipped" in captured.out
    assert (out / "v0.mp4").read_bytes() == b"finished earlier"
    assert frame_count(out / "v2.mp4") == 9
    # everything done: nothing to convert, so no cluster is even contacted
    dead = f"127.0.0.1:{free_port()}"
    code = cli_main(
        ["convert", str(src), "--out-dir", str(out), "--skip-existing", "--backend", "ray"]
        + [
            "--ray-address",
            dead,
        ]
    )
    assert code == 0 and "3 of 3 outputs exist already" in capsys.readouterr().out


def test_unreachable_cluster_is_one_line_in_seconds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip(tmp_path / "v.mp4", seconds=0.3)
    dead = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    code = cli_main(["convert", str(clip), "-o", str(tmp_path / "o.mp4"), "--backend", "ray", "--ray-address", dead])
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert f"cannot reach the Ray cluster at {dead}" in err
    assert not (tmp_path / "o.mp4").exists()


def test_missing_ray_is_one_line_naming_the_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    clip = make_clip(tmp_path / "v.mp4", seconds=0.3)
    code = cli_main(["convert", str(clip), "-o", str(tmp_path / "o.mp4"), "--backend", "ray"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "pip install 'livebokeh[ray]'" in err


def test_ray_flags_need_the_ray_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip(tmp_path / "v.mp4", seconds=0.3)
    code = cli_main(["convert", str(clip), "-o", str(tmp_path / "o.mp4"), "--cpus-per-task", "2"])
    assert code == 1 and "--cpus-per-task applies to --backend ray only" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"address": "nonsense"}, "is not HOST:PORT"),
        ({"cpus_per_task": 0}, "cpus per task"),
        ({"max_retries": -1}, "max retries"),
        ({"segment_seconds": 3}, "segment seconds"),
    ],
)
def test_cluster_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ClusterOptions(**options)


def test_sweep_removes_only_the_temp_files_of_the_targets(tmp_path: Path) -> None:
    from livebokeh.runtime.cluster import sweep_leftovers

    mine = [tmp_path / ".a.abcd1234.part.mp4", tmp_path / ".a.mp4.abcd1234.part"]
    others = [tmp_path / ".a.b.abcd1234.part.mp4", tmp_path / "a.mp4", tmp_path / ".a.abcd1234.part.mkv"]
    for p in mine[:1] + others:
        p.write_bytes(b"x")
    mine[1].mkdir()
    (tmp_path / ".a.efgh5678.pieces.part").mkdir()
    (tmp_path / ".a.efgh5678.pieces.part" / "piece-0000.mp4").write_bytes(b"x")
    assert sweep_leftovers([tmp_path / "a.mp4"]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in others)


# -- a lost node (last: it changes the cluster) --------------------------------------------


@needs_ray
@pytest.mark.slow
def test_a_removed_node_reruns_its_task_elsewhere(ray_cluster: Any, short_clips: list[Path], tmp_path: Path) -> None:
    extra = ray_cluster.add_node(num_cpus=1, object_store_memory=NODE_MEMORY)
    ray_cluster.wait_for_nodes()
    label = extra.node_id[:6]
    removed: list[str] = []

    def remove_it(frames: int, running: dict[str, tuple[str, int]]) -> None:
        if not removed and any(node.endswith("/" + label) for node, _ in running.values()):
            ray_cluster.remove_node(extra, allow_graceful=False)
            removed.append(label)

    clips = short_clips + [make_clip(tmp_path / f"x{i}.mp4", seconds=4.0) for i in range(2)]
    out = tmp_path / "out"
    out.mkdir()
    report = run_on_ray(clips, out, on_progress=remove_it)
    assert removed, "no task was seen running on the extra node"
    assert [f.result.error for f in report.files] == [None] * len(clips)
    for clip in clips:
        assert frame_count(out / clip.name) == frame_count(clip)
    assert sum(f.retries for f in report.files) >= 1
    assert not any(label in node for f in report.files for node in f.nodes)
    assert leftovers(out) == []

"""``livebokeh doctor``'s checks: what is installed, what hardware is there, and what to do about it.

Every check returns a :class:`Check` whose status is ``ok``, ``warn`` (works, but a
feature is missing) or ``fail`` (livebokeh cannot work), with a one-line ``fix``
whenever the status is not ``ok``.  Everything that touches the machine (cameras,
virtual camera devices, the display, the platform) goes through :class:`Probes`, so
tests can fake a machine with or without each of them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"

MODPROBE_COMMAND = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=livebokeh"
"""Creates the virtual camera device on Linux (needs the v4l2loopback-dkms package)."""

SYSFS_V4L = Path("/sys/class/video4linux")

BENCH_SIZE = (1280, 720)
"""Frame size (width, height) of the micro-benchmark."""

REALTIME_MS = 1000.0 / 30.0

NAME_WIDTH = 22


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    status: str
    detail: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """``OK    name   detail`` or ``WARN  name   detail -> fix``."""
        text = f"{self.status.upper():<5} {self.name:<{NAME_WIDTH}} {self.detail}"
        return f"{text}\n      {'':<{NAME_WIDTH}} -> {self.fix}" if self.fix and self.status != OK else text


@dataclass(frozen=True, slots=True)
class CameraMode:
    """One pixel format and size a camera offers, with its frame rates."""

    pixel_format: str
    width: int
    height: int
    fps: tuple[float, ...] = ()

    def __str__(self) -> str:
        rates = "/".join(f"{f:g}" for f in self.fps)
        return f"{self.pixel_format} {self.width}x{self.height}" + (f"@{rates}" if rates else "")


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """A capture device: OpenCV index, device node (if known), name and offered modes."""

    index: int
    name: str
    device: str = ""
    modes: tuple[CameraMode, ...] = ()


@dataclass(frozen=True, slots=True)
class VirtualCameraInfo:
    """A device a virtual camera can write to (v4l2loopback node, OBS Virtual Camera...)."""

    device: str
    name: str
    backend: str = ""


@dataclass(frozen=True, slots=True)
class DisplayInfo:
    """Whether a preview window can open, and why not."""

    available: bool
    detail: str
    fix: str = ""


@dataclass(kw_only=True)
class Probes:
    """The machine as doctor sees it.  Replace any member to fake hardware in tests."""

    platform: str = sys.platform
    cameras: Callable[[], list[CameraInfo]] = field(default=lambda: probe_cameras())
    virtual_cameras: Callable[[], list[VirtualCameraInfo]] = field(default=lambda: probe_virtual_cameras())
    display: Callable[[], DisplayInfo] = field(default=lambda: probe_display())
    package_version: Callable[[str], str | None] = field(default=lambda name: package_version(name))


# --- probes of the real machine -----------------------------------------------------------------


def package_version(distribution: str) -> str | None:
    """Installed version of a distribution, or ``None``."""
    from importlib import metadata  # its first import costs ~15 ms: only where a version is asked

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _v4l_nodes(root: Path | None = None) -> list[tuple[int, Path, bool]]:
    """``(number, sysfs dir, is_virtual)`` of every ``/dev/videoN`` node, by number."""
    root = root if root is not None else SYSFS_V4L
    if not root.is_dir():
        return []
    nodes = []
    for entry in root.iterdir():
        m = re.fullmatch(r"video(\d+)", entry.name)
        if not m:
            continue
        real = str(entry.resolve())
        is_virtual = "/virtual/" in real or "v4l2loopback" in real
        nodes.append((int(m.group(1)), entry, is_virtual))
    return sorted(nodes)


def parse_v4l2_formats(text: str) -> list[CameraMode]:
    """Parse ``v4l2-ctl --list-formats-ext`` output into modes (discrete sizes only)."""
    modes: list[CameraMode] = []
    fmt = ""
    size: tuple[int, int] | None = None
    rates: list[float] = []

    def flush() -> None:
        if fmt and size is not None:
            modes.append(CameraMode(fmt, size[0], size[1], tuple(sorted(set(rates), reverse=True))))

    for line in text.splitlines():
        if m := re.search(r"\[\d+\]:\s*'(\w+)'", line):
            flush()
            fmt, size, rates = m.group(1), None, []
        elif m := re.search(r"Size:\s*\w+\s+(\d+)x(\d+)", line):
            flush()
            size, rates = (int(m.group(1)), int(m.group(2))), []
        elif m := re.search(r"\(([\d.]+)\s*fps\)", line):
            rates.append(round(float(m.group(1)), 2))
    flush()
    return modes


def _v4l2_ctl_modes(device: str) -> list[CameraMode] | None:
    exe = shutil.which("v4l2-ctl")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "-d", device, "--list-formats-ext"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_v4l2_formats(out.stdout) if out.returncode == 0 else None


OPENCV_TRY_SIZES = ((640, 480), (1280, 720), (1920, 1080))


def _opencv_modes(index: int) -> list[CameraMode] | None:
    """Open camera ``index`` with OpenCV and ask for a few common sizes; ``None`` if it does not open."""
    import cv2

    cap = cv2.VideoCapture(index)
    try:
        if not cap.isOpened():
            return None
        found: dict[tuple[int, int], float] = {}
        for w, h in OPENCV_TRY_SIZES:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
            got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            if got[0] > 0 and got[1] > 0:
                found[got] = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return [CameraMode("?", w, h, (fps,) if fps > 0 else ()) for (w, h), fps in sorted(found.items())]
    finally:
        cap.release()


def probe_cameras(
    *, sysfs: Path | None = None, list_modes: Callable[[str], list[CameraMode] | None] | None = None
) -> list[CameraInfo]:
    """Capture devices on this machine (Linux: sysfs + v4l2-ctl; elsewhere: OpenCV indices 0-3).

    ``sysfs`` is where the Linux device nodes are listed (default :data:`SYSFS_V4L`);
    ``list_modes(device)`` gives a device's modes, or ``None`` to ask OpenCV instead
    (default: ``v4l2-ctl --list-formats-ext``).
    """
    list_modes = list_modes or _v4l2_ctl_modes
    cameras: list[CameraInfo] = []
    if sys.platform.startswith("linux"):
        for number, entry, is_virtual in _v4l_nodes(sysfs):
            if is_virtual or _read(entry / "index") not in ("", "0"):
                continue  # loopback devices are outputs; index > 0 is a UVC metadata node
            device = f"/dev/video{number}"
            modes = list_modes(device)
            if modes is None:
                modes = _opencv_modes(number) or []
            cameras.append(
                CameraInfo(index=number, name=_read(entry / "name") or device, device=device, modes=tuple(modes))
            )
        return cameras
    for index in range(4):
        modes = _opencv_modes(index)
        if modes is not None:
            cameras.append(CameraInfo(index=index, name=f"camera {index}", modes=tuple(modes)))
    return cameras


def probe_virtual_cameras(*, sysfs: Path | None = None) -> list[VirtualCameraInfo]:
    """Virtual camera outputs (Linux: v4l2loopback nodes under ``sysfs``; Windows/macOS: can pyvirtualcam open one)."""
    if sys.platform.startswith("linux"):
        return [
            VirtualCameraInfo(device=f"/dev/video{n}", name=_read(entry / "name"), backend="v4l2loopback")
            for n, entry, is_virtual in _v4l_nodes(sysfs)
            if is_virtual
        ]
    try:
        import pyvirtualcam
    except ImportError:
        return []
    try:
        with pyvirtualcam.Camera(width=320, height=240, fps=30) as cam:
            return [VirtualCameraInfo(device=str(cam.device), name=str(cam.device), backend=str(cam.backend))]
    except Exception as exc:  # noqa: BLE001 - pyvirtualcam raises RuntimeError and friends when no device exists
        log.debug("pyvirtualcam found no device: %s", exc)
        return []


def opencv_gui_backend() -> str:
    """The GUI backend OpenCV was built with (``NONE`` for opencv-python-headless)."""
    import cv2

    info = cv2.getBuildInformation()
    m = re.search(r"GUI:\s*(\S+)", info)
    return m.group(1) if m else "UNKNOWN"


def probe_display() -> DisplayInfo:
    """Can a preview window open here?"""
    gui = opencv_gui_backend()
    if gui.upper() == "NONE":
        return DisplayInfo(
            False,
            "OpenCV has no GUI backend (opencv-python-headless is installed)",
            "pip uninstall opencv-python-headless && pip install opencv-python",
        )
    if sys.platform.startswith("linux"):
        display = os.environ.get("DISPLAY", "")
        m = re.fullmatch(r":(\d+)(\.\d+)?", display)
        if m and not Path(f"/tmp/.X11-unix/X{m.group(1)}").exists():
            return DisplayInfo(
                False,
                f"DISPLAY={display} is set but no X server listens there",
                "start the desktop session (or Xvfb) for that display, or unset DISPLAY",
            )
        for var in ("DISPLAY", "WAYLAND_DISPLAY"):
            if os.environ.get(var):
                return DisplayInfo(True, f"{var}={os.environ[var]}, OpenCV GUI {gui}")
        return DisplayInfo(
            False,
            "no display (DISPLAY and WAYLAND_DISPLAY are unset)",
            "the preview window is off: use --sink virtualcam or --sink out.mp4, or run under `xvfb-run`",
        )
    return DisplayInfo(True, f"OpenCV GUI {gui}")


# --- the checks -----------------------------------------------------------------------------------


PACKAGES = (
    ("numpy", True, ""),
    ("opencv-python", True, "pip install opencv-python"),
    ("av", True, "pip install av"),
    ("tqdm", True, "pip install tqdm"),
    ("pyvirtualcam", False, "pip install 'livebokeh[virtualcam]' (needed for --sink virtualcam)"),
    (
        "onnxruntime",
        False,
        "pip install 'livebokeh[onnx]' (MODNet, --quality best, becomes photo's default; without it it runs on OpenCV)",
    ),
)


def check_python() -> Check:
    """Python 3.10 or newer."""
    v = sys.version_info
    text = f"{platform.python_version()} ({sys.executable})"
    if v < (3, 10):
        return Check("python", FAIL, text, "livebokeh needs Python 3.10 or newer")
    return Check("python", OK, text)


def check_packages(probes: Probes) -> list[Check]:
    """livebokeh and the packages it needs (opencv may be installed as -headless or -contrib)."""
    from . import __version__

    out = [Check("livebokeh", OK, __version__)]
    for name, required, fix in PACKAGES:
        version = probe_version_any(probes, name)
        if version is not None:
            out.append(Check(name, OK, version))
        else:
            out.append(Check(name, FAIL if required else WARN, "not installed", fix))
    return out


def probe_version_any(probes: Probes, name: str) -> str | None:
    """Version of ``name``; for OpenCV, of whichever of its distributions is installed."""
    names = [name]
    if name == "opencv-python":
        names += ["opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"]
    for candidate in names:
        version = probes.package_version(candidate)
        if version is not None:
            return version if candidate == name else f"{version} ({candidate})"
    return None


RUNTIME_DISTRIBUTIONS = {
    "ai-edge-litert": "ai-edge-litert",
    "tflite_runtime": "tflite-runtime",
    "tensorflow": "tensorflow",
}


def check_runtime(probes: Probes | None = None) -> Check:
    """Which TFLite runtime loads (ai-edge-litert, tflite_runtime, tensorflow), and which others are installed."""
    from .errors import ModelLoadError
    from .segmentation.runtime import RUNTIMES, interpreter_class

    probes = probes or Probes()
    try:
        _, name = interpreter_class()
    except ModelLoadError as exc:
        return Check("tflite runtime", FAIL, str(exc), "pip install ai-edge-litert")
    # The others are only looked up, not imported: importing TensorFlow costs seconds.
    others = [r for r in RUNTIMES if r != name and importlib.util.find_spec(RUNTIMES[r][0].split(".")[0]) is not None]
    from . import models
    from .segmentation.runtime import make_interpreter

    try:
        start = time.perf_counter()
        make_interpreter(str(models.resolve("selfie").path), 1, name)
        load_ms = (time.perf_counter() - start) * 1000.0
    except ModelLoadError as exc:
        return Check(
            "tflite runtime",
            FAIL,
            f"{name} imports but cannot load the selfie model: {exc}",
            "pip install --upgrade ai-edge-litert, or force another runtime with LIVEBOKEH_TFLITE_RUNTIME",
        )
    version = probes.package_version(RUNTIME_DISTRIBUTIONS.get(name, name))
    if version is None and name == "tensorflow":
        version = probes.package_version("tensorflow-cpu")
    detail = f"{name} {version or ''}".strip() + f", loads the selfie model in {load_ms:.0f} ms"
    detail += f" (also installed: {', '.join(others)})" if others else ""
    return Check("tflite runtime", OK, detail, data={"runtime": name, "version": version, "installed": [name, *others]})


def check_config(path: Path | None, error: str | None = None) -> Check:
    """Which config file is in use, or what is wrong with it."""
    from .config import default_config_path

    if error:
        return Check("config", FAIL, error, "fix the file, or run with --no-config to ignore it")
    if path is not None:
        return Check("config", OK, f"{path} (valid)", data={"path": str(path)})
    return Check("config", OK, f"none: defaults in use (create {default_config_path()} to change them)")


def check_models() -> list[Check]:
    """Every bundled model file is present and matches its manifest hash."""
    from . import models
    from .errors import ModelLoadError

    try:
        table = models.manifest()
    except ModelLoadError as exc:
        return [Check("models", FAIL, str(exc), "pip install --force-reinstall livebokeh")]
    out = []
    for info in table.values():
        data = {"file": str(info.path), "sha256": info.sha256, "size_bytes": info.size_bytes}
        try:
            models.verify(info)
        except ModelLoadError as exc:
            out.append(Check(f"model {info.name}", FAIL, str(exc), "pip install --force-reinstall livebokeh", data))
            continue
        out.append(
            Check(f"model {info.name}", OK, f"sha256 {info.sha256[:12]}... {info.size_bytes / 1024:.0f} KiB", data=data)
        )
    return out


def check_cameras(probes: Probes) -> list[Check]:
    """One line per camera with the sizes and rates it offers, or what to do when there is none."""
    try:
        cameras = probes.cameras()
    except Exception as exc:  # noqa: BLE001 - a probe failing is itself a finding
        return [Check("camera", WARN, f"cameras could not be listed: {exc}", "try `livebokeh live --source camera:0`")]
    if not cameras:
        hint = "ls /dev/video*; add yourself to the `video` group" if probes.platform.startswith("linux") else ""
        fix = "plug in a webcam" + (f" ({hint})" if hint else "") + ", or try `livebokeh live --source sample`"
        return [Check("camera", WARN, "no camera found", fix, {"cameras": []})]
    out = []
    for cam in cameras:
        modes = ", ".join(str(m) for m in cam.modes[:8]) + (" ..." if len(cam.modes) > 8 else "")
        where = f" {cam.device}" if cam.device else ""
        detail = f"camera:{cam.index}{where} {cam.name!r}" + (f": {modes}" if modes else "")
        out.append(Check(f"camera {cam.index}", OK, detail, data=asdict(cam)))
    return out


def check_virtual_camera(probes: Probes) -> Check:
    """Is there a device for ``--sink virtualcam``?  If not, the exact way to get one on this OS."""
    has_pyvirtualcam = probes.package_version("pyvirtualcam") is not None
    try:
        devices = probes.virtual_cameras()
    except Exception as exc:  # noqa: BLE001
        devices = []
        log.debug("virtual camera probe failed: %s", exc)
    linux = probes.platform.startswith("linux")
    if devices:
        listed = ", ".join(f"{d.device} {d.name!r}".strip() for d in devices)
        data = {"devices": [asdict(d) for d in devices]}
        if not has_pyvirtualcam:
            return Check(
                "virtual camera",
                WARN,
                f"device {listed}, but pyvirtualcam is missing",
                "pip install 'livebokeh[virtualcam]'",
                data,
            )
        return Check("virtual camera", OK, f"{listed}: use --sink virtualcam", data=data)
    if linux:
        fix = f"{MODPROBE_COMMAND}  (install it first: sudo apt install v4l2loopback-dkms)"
        detail = "no v4l2loopback device"
    else:
        fix = "install OBS Studio (28 or newer) and click 'Start Virtual Camera' once, then close OBS"
        detail = "no OBS Virtual Camera" + ("" if has_pyvirtualcam else " and pyvirtualcam is not installed")
    if not has_pyvirtualcam:
        fix += "; and pip install 'livebokeh[virtualcam]'"
    return Check("virtual camera", WARN, detail, fix, {"devices": []})


def check_display(probes: Probes) -> Check:
    """Can the preview window open?"""
    try:
        info = probes.display()
    except Exception as exc:  # noqa: BLE001
        info = DisplayInfo(False, f"display probe failed: {exc}", "use --sink virtualcam or a file")
    if info.available:
        return Check("display", OK, info.detail)
    return Check("display", WARN, info.detail, info.fix or "use --sink virtualcam or --sink out.mp4")


def check_benchmark(seconds: float = 3.0) -> Check:
    """Segment + composite 720p frames for ``seconds`` on one thread; OK when it keeps up with 30 fps."""
    from .config import EffectOptions, MatteOptions
    from .effects import Compositor
    from .errors import LivebokehError
    from .frames import Frame
    from .matte import Matte
    from .segmentation import create_segmenter

    w, h = BENCH_SIZE
    rng = np.random.default_rng(0)
    base = rng.integers(40, 200, size=(h // 8, w // 8, 3), dtype=np.uint8)
    import cv2

    image = cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR)
    cv2.ellipse(image, (w // 2, h), (w // 6, h // 2), 0, 180, 360, (60, 90, 160), -1)
    cv2.circle(image, (w // 2, h // 3), h // 7, (80, 120, 200), -1)
    try:
        segmenter = create_segmenter("auto")
    except LivebokehError as exc:
        return Check("benchmark", FAIL, f"model does not load: {exc}", "see the model and runtime lines above")
    matte = Matte(segmenter, MatteOptions(), video=True)
    compositor = Compositor(EffectOptions(effect="blur"))
    out = np.empty_like(image)
    seg_ms: list[float] = []
    comp_ms: list[float] = []
    deadline = time.perf_counter() + max(0.05, seconds)
    index = 0
    try:
        while time.perf_counter() < deadline or index < 3:
            frame = Frame(image=image, timestamp_ns=time.monotonic_ns(), index=index)
            t0 = time.perf_counter()
            mask = matte.compute(frame)
            t1 = time.perf_counter()
            alpha = matte.apply_to(mask, frame)
            compositor.apply(image, alpha, out=out)
            t2 = time.perf_counter()
            seg_ms.append((t1 - t0) * 1000)
            comp_ms.append((t2 - t1) * 1000)
            index += 1
    finally:
        segmenter.close()
    seg = statistics.median(seg_ms)
    comp = statistics.median(comp_ms)
    total = seg + comp
    fps = 1000.0 / total if total > 0 else float("inf")
    data = {"frames": index, "segment_ms_p50": round(seg, 2), "composite_ms_p50": round(comp, 2), "fps": round(fps, 1)}
    detail = f"720p segment {seg:.1f} ms + composite {comp:.1f} ms = {total:.1f} ms/frame ({fps:.0f} fps, one thread)"
    if total <= REALTIME_MS:
        return Check("benchmark", OK, detail, data=data)
    return Check(
        "benchmark",
        WARN,
        detail,
        "slower than 30 fps: live still shows every frame but refreshes the mask less often; "
        "close other programs, try --threads 2, or use a smaller --size",
        data,
    )


def run_checks(
    probes: Probes | None = None,
    *,
    bench_seconds: float = 3.0,
    config_path: Path | None = None,
    config_error: str | None = None,
) -> list[Check]:
    """All of doctor's checks, in report order (``bench_seconds=0`` skips the benchmark)."""
    probes = probes or Probes()
    checks = [check_python(), *check_packages(probes), check_runtime(probes), *check_models()]
    checks.append(check_config(config_path, config_error))
    checks += [*check_cameras(probes), check_virtual_camera(probes), check_display(probes)]
    if bench_seconds > 0:
        checks.append(check_benchmark(bench_seconds))
    return checks


def summary(checks: Iterable[Check]) -> dict[str, Any]:
    """``{"ok": no failures, "checks": [...]}`` for ``--json``."""
    items = list(checks)
    return {"ok": all(c.status != FAIL for c in items), "checks": [asdict(c) for c in items]}

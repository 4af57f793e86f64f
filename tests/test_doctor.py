"""``livebokeh doctor`` on faked machines: with and without camera, virtual camera and display."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from livebokeh import diagnostics
from livebokeh._cli import main
from livebokeh.diagnostics import (
    FAIL,
    MODPROBE_COMMAND,
    OK,
    WARN,
    CameraInfo,
    CameraMode,
    Check,
    DisplayInfo,
    Probes,
    VirtualCameraInfo,
    parse_v4l2_formats,
    run_checks,
    summary,
)

WEBCAM = CameraInfo(
    index=0,
    name="Integrated Webcam",
    device="/dev/video0",
    modes=(CameraMode("MJPG", 1280, 720, (30.0, 15.0)), CameraMode("YUYV", 640, 480, (30.0,))),
)
LOOPBACK = VirtualCameraInfo(device="/dev/video10", name="livebokeh", backend="v4l2loopback")


def fake(
    *,
    platform: str = "linux",
    cameras: list[CameraInfo] | None = None,
    virtual: list[VirtualCameraInfo] | None = None,
    display: bool = True,
    missing: tuple[str, ...] = (),
) -> Probes:
    def version(name: str) -> str | None:
        return None if name in missing else "1.0"

    return Probes(
        platform=platform,
        cameras=lambda: list(cameras or []),
        virtual_cameras=lambda: list(virtual or []),
        display=lambda: (
            DisplayInfo(True, "DISPLAY=:0") if display else DisplayInfo(False, "no display", "use xvfb-run")
        ),
        package_version=version,
    )


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def assert_every_line_says_ok_or_what_to_do(checks: list[Check]) -> None:
    for c in checks:
        assert c.status in (OK, WARN, FAIL)
        if c.status != OK:
            assert c.fix, f"{c.name} says {c.status} without saying what to do"
            assert "->" in c.line()
        assert c.line().startswith(c.status.upper())


def test_everything_present() -> None:
    checks = run_checks(fake(cameras=[WEBCAM], virtual=[LOOPBACK]), bench_seconds=0)
    assert_every_line_says_ok_or_what_to_do(checks)
    named = by_name(checks)
    assert all(c.status == OK for c in checks), [c.line() for c in checks if c.status != OK]
    cam = named["camera 0"]
    assert "camera:0" in cam.detail and "Integrated Webcam" in cam.detail
    assert "MJPG 1280x720@30/15" in cam.detail and "YUYV 640x480@30" in cam.detail
    assert "/dev/video10" in named["virtual camera"].detail and "--sink virtualcam" in named["virtual camera"].detail
    assert named["display"].status == OK
    assert named["tflite runtime"].data["runtime"] in ("ai-edge-litert", "tflite_runtime", "tensorflow")
    for model in ("selfie", "selfie-landscape", "face-short"):
        assert named[f"model {model}"].status == OK
        assert len(named[f"model {model}"].data["sha256"]) == 64


def test_nothing_present_on_linux_says_what_to_do() -> None:
    checks = run_checks(fake(display=False), bench_seconds=0)
    assert_every_line_says_ok_or_what_to_do(checks)
    named = by_name(checks)
    assert named["camera"].status == WARN and "--source sample" in named["camera"].fix
    assert named["virtual camera"].status == WARN
    assert MODPROBE_COMMAND in named["virtual camera"].fix
    assert named["display"].status == WARN and named["display"].fix
    assert summary(checks)["ok"] is True  # warnings only: livebokeh still works


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_no_virtual_camera_elsewhere_points_to_obs(platform: str) -> None:
    vc = by_name(run_checks(fake(platform=platform), bench_seconds=0))["virtual camera"]
    assert vc.status == WARN and "OBS" in vc.fix and "modprobe" not in vc.fix


def test_virtual_camera_without_pyvirtualcam() -> None:
    checks = run_checks(fake(virtual=[LOOPBACK], missing=("pyvirtualcam",)), bench_seconds=0)
    named = by_name(checks)
    assert named["virtual camera"].status == WARN and "livebokeh[virtualcam]" in named["virtual camera"].fix
    assert named["pyvirtualcam"].status == WARN
    checks = run_checks(fake(missing=("pyvirtualcam",)), bench_seconds=0)
    fix = by_name(checks)["virtual camera"].fix
    assert MODPROBE_COMMAND in fix and "livebokeh[virtualcam]" in fix


def test_missing_required_package_fails() -> None:
    checks = run_checks(fake(missing=("av",)), bench_seconds=0)
    assert by_name(checks)["av"].status == FAIL and "pip install av" in by_name(checks)["av"].fix
    assert summary(checks)["ok"] is False


def test_headless_opencv_is_accepted_as_opencv() -> None:
    checks = run_checks(fake(missing=("opencv-python",)), bench_seconds=0)
    assert "opencv-python-headless" in by_name(checks)["opencv-python"].detail


def test_failing_camera_probe_is_reported_not_raised() -> None:
    def broken() -> list[CameraInfo]:
        raise OSError("permission denied")

    probes = fake()
    probes.cameras = broken
    check = by_name(run_checks(probes, bench_seconds=0))["camera"]
    assert check.status == WARN and "permission denied" in check.detail and check.fix


def test_damaged_model_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from livebokeh import models

    info = models.manifest()["face-short"]
    damaged = tmp_path / info.file
    damaged.write_bytes(b"not the model")
    monkeypatch.setitem(models.manifest(), "face-short", replace(info, path=damaged))
    check = by_name(run_checks(fake(), bench_seconds=0))["model face-short"]
    assert check.status == FAIL and "damaged" in check.detail and "reinstall" in check.fix


def test_benchmark_line_reports_segment_and_composite() -> None:
    check = diagnostics.check_benchmark(seconds=0.3)
    assert check.status in (OK, WARN)
    assert check.data["frames"] >= 3
    assert check.data["segment_ms_p50"] > 0 and check.data["composite_ms_p50"] > 0
    assert "720p" in check.detail and "fps" in check.detail


def test_cli_json_with_fakes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("livebokeh._cli.doctor.Probes", lambda: fake(cameras=[WEBCAM], virtual=[LOOPBACK]))
    assert main(["--no-config", "doctor", "--json", "--bench-seconds", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    names = [c["name"] for c in report["checks"]]
    assert "camera 0" in names and "virtual camera" in names and "display" in names
    cam = next(c for c in report["checks"] if c["name"] == "camera 0")
    assert cam["data"]["modes"][0] == {"pixel_format": "MJPG", "width": 1280, "height": 720, "fps": [30.0, 15.0]}


def test_cli_text_and_exit_status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("livebokeh._cli.doctor.Probes", lambda: fake(display=False))
    assert main(["--no-config", "doctor", "--bench-seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert "WARN  camera" in out and MODPROBE_COMMAND in out and "optional feature" in out
    monkeypatch.setattr("livebokeh._cli.doctor.Probes", lambda: fake(missing=("numpy",)))
    assert main(["--no-config", "doctor", "--bench-seconds", "0"]) == 1
    assert "FAIL  numpy" in capsys.readouterr().out


V4L2_CTL = """ioctl: VIDIOC_ENUM_FMT
\tType: Video Capture

\t[0]: 'MJPG' (Motion-JPEG, compressed)
\t\tSize: Discrete 1280x720
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\t\tInterval: Discrete 0.067s (15.000 fps)
\t\tSize: Discrete 1920x1080
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t[1]: 'YUYV' (YUYV 4:2:2)
\t\tSize: Discrete 640x480
\t\t\tInterval: Discrete 0.033s (30.000 fps)
"""


def test_parse_v4l2_ctl_formats() -> None:
    assert parse_v4l2_formats(V4L2_CTL) == [
        CameraMode("MJPG", 1280, 720, (30.0, 15.0)),
        CameraMode("MJPG", 1920, 1080, (30.0,)),
        CameraMode("YUYV", 640, 480, (30.0,)),
    ]
    assert parse_v4l2_formats("") == []


def test_linux_sysfs_probe_separates_cameras_from_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake /sys/class/video4linux: a UVC camera (capture + metadata node) and a v4l2loopback device."""
    devices = tmp_path / "devices"
    sysfs = tmp_path / "class"
    sysfs.mkdir()
    for node, name, index, parent in (
        ("video0", "Integrated Webcam", "0", "pci0000:00/usb1/1-1/1-1:1.0/video4linux"),
        ("video1", "Integrated Webcam", "1", "pci0000:00/usb1/1-1/1-1:1.0/video4linux"),
        ("video10", "livebokeh", "0", "virtual/video4linux"),
    ):
        real = devices / parent / node
        real.mkdir(parents=True)
        (real / "name").write_text(name + "\n")
        (real / "index").write_text(index + "\n")
        (sysfs / node).symlink_to(real)
    monkeypatch.setattr(diagnostics.sys, "platform", "linux")
    asked: list[str] = []

    def list_modes(device: str) -> list[CameraMode]:
        asked.append(device)
        return parse_v4l2_formats(V4L2_CTL)

    cams = diagnostics.probe_cameras(sysfs=sysfs, list_modes=list_modes)
    assert [(c.index, c.name, c.device) for c in cams] == [(0, "Integrated Webcam", "/dev/video0")]
    assert cams[0].modes[0] == CameraMode("MJPG", 1280, 720, (30.0, 15.0))
    assert asked == ["/dev/video0"]  # neither the metadata node nor the loopback device is asked
    virt = diagnostics.probe_virtual_cameras(sysfs=sysfs)
    assert virt == [VirtualCameraInfo(device="/dev/video10", name="livebokeh", backend="v4l2loopback")]


def test_real_probes_run_on_this_machine() -> None:
    """The default probes must not raise wherever CI runs (results depend on the machine)."""
    checks = run_checks(bench_seconds=0)
    assert_every_line_says_ok_or_what_to_do(checks)
    assert {"python", "tflite runtime", "virtual camera", "display"} <= set(by_name(checks))


def test_config_file_in_use_and_broken_config_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("livebokeh._cli.doctor.Probes", lambda: fake())
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "none"))
    good = tmp_path / "good.toml"
    good.write_text('[effect]\neffect = "bokeh"\n')
    assert main(["--config", str(good), "doctor", "--json", "--bench-seconds", "0"]) == 0
    line = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "config")
    assert line["status"] == OK and str(good) in line["detail"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[effect]\nstrength = 4\n")
    # doctor reports a broken file as a line (other commands stop at it)
    assert main(["--config", str(bad), "doctor", "--bench-seconds", "0"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  config" in out and "strength 4.0 is out of range" in out and "--no-config" in out
    assert "OK    python" in out  # the rest of the report is still there


def test_real_display_probe_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    if diagnostics.opencv_gui_backend().upper() == "NONE":
        pytest.skip("headless OpenCV: the probe reports that before looking at DISPLAY")
    monkeypatch.setattr(diagnostics.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    info = diagnostics.probe_display()
    assert not info.available and info.fix
    monkeypatch.setenv("DISPLAY", ":987")  # no X server has this socket
    info = diagnostics.probe_display()
    assert not info.available and "no X server" in info.detail
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.delenv("DISPLAY")
    assert diagnostics.probe_display().available

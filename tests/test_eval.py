"""Evaluation metrics and the eval command."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from livebokeh._cli import main
from livebokeh.config import MatteOptions
from livebokeh.errors import ConfigError, InputError
from livebokeh.evaluation import EvalOptions, Gains, Scores, boundary_f1, evaluate, read_clip, score


def _disc(shift: int = 0, size: int = 200, r: int = 60) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    cv2.circle(m, (size // 2 + shift, size // 2), r, 255, -1)
    return m


def test_read_clip_gives_upright_frames_and_the_stated_rate(tmp_path: Path) -> None:
    from test_decoder import H, W, write_clip

    clip = write_clip(tmp_path / "turned.mp4", rotation=90, rate=25)  # 10 frames, shown a quarter turn left
    frames, fps = read_clip(clip, 4)
    assert fps == 25.0 and len(frames) == 4
    assert all(f.shape == (W, H, 3) and f.dtype == np.uint8 and f.flags.c_contiguous for f in frames)
    # the stored picture's top-left mark (blue) is at the bottom left once turned upright
    assert frames[0][-6:, :6, 0].mean() > 200 and frames[0][:6, :6, 0].mean() < 100
    with pytest.raises(InputError, match="does not exist"):
        read_clip(tmp_path / "nope.mp4", 4)


def test_perfect_prediction_scores_one() -> None:
    s = score(_disc(), _disc())
    assert s.iou == 1.0 and s.boundary_f1 == 1.0 and s.alpha_mae == 0.0


def test_boundary_f1_tolerates_three_pixels_but_not_more() -> None:
    gt = _disc() > 0
    assert boundary_f1(_disc(shift=2) > 0, gt) == 1.0
    assert boundary_f1(_disc(shift=8) > 0, gt) < 0.5


def test_iou_and_alpha_error_of_a_soft_half_mask() -> None:
    gt = np.zeros((10, 10), np.uint8)
    gt[:, :5] = 255
    pred = np.zeros((10, 10), np.float32)
    pred[:, :5] = 0.6  # above threshold, alpha error 0.4 on half the pixels
    s = score(pred, gt)
    assert s.iou == 1.0
    assert abs(s.alpha_mae - 0.2) < 1e-6


def test_eval_command_on_real_portraits(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "img"
    masks = tmp_path / "gt"
    images.mkdir()
    masks.mkdir()
    for src in sorted((shared_data / "portraits").glob("*.jpg"))[:4]:
        (images / src.name).symlink_to(src)
        (masks / (src.stem + ".png")).symlink_to(src.with_suffix(".png"))
    assert main(["eval", "--images", str(images), "--masks", str(masks), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["images"] == 4
    summary = payload["summary"]
    raw = next(v for k, v in summary.items() if k.startswith("raw"))
    assert raw["iou"] > 0.85 and summary["livebokeh"]["iou"] > 0.85
    # the per-image gains over raw agree with the per-image scores
    gains = payload["gains"]
    per = payload["per_image"]
    gain = {k: per["livebokeh"][k]["iou"] - per[gains["baseline"]][k]["iou"] for k in per["livebokeh"]}
    assert [w["image"] for w in gains["worst"]] == sorted(gain, key=lambda k: (gain[k], k))
    assert gains["worse_than_raw"]["0.02"] == sum(g < -0.02 for g in gain.values())
    assert gains["iou"]["mean"] == pytest.approx(summary["livebokeh"]["iou"] - raw["iou"])


def _scores(iou: float, bf1: float = 0.5) -> Scores:
    return Scores(iou=iou, boundary_f1=bf1, alpha_mae=0.0)


def test_gains_count_and_list_the_images_worse_than_raw() -> None:
    raw = {f"im{i}": _scores(0.9) for i in range(10)}
    ours = {f"im{i}": _scores(0.91) for i in range(10)}
    ours["im3"] = _scores(0.84)  # 0.06 worse
    ours["im7"] = _scores(0.87, 0.7)  # 0.03 worse, better edges
    ours["im8"] = _scores(0.89)  # 0.01 worse: within tolerance
    gains = Gains("raw (selfie)", "livebokeh", raw, ours)
    assert gains.worse_than_raw(0.02) == ["im3", "im7"] and gains.worse_than_raw(0.05) == ["im3"]
    assert gains.worst(3) == ["im3", "im7", "im8"]
    d = gains.as_dict()
    assert d["worse_than_raw"] == {"0.02": 2, "0.05": 1}
    assert [w["image"] for w in d["worst"]] == ["im3", "im7", "im8", "im0", "im1"]
    assert d["worst"][1]["gain"] == pytest.approx(-0.03) and d["worst"][1]["boundary_f1_gain"] == pytest.approx(0.2)
    assert d["iou"]["min"] == pytest.approx(-0.06) and d["iou"]["max"] == pytest.approx(0.01)


def test_eval_options_subject_rules_and_checks(tmp_path: Path) -> None:
    opts = EvalOptions(subject_for=(("davis16", "main"), ("davis16-dance", "all")), matte=MatteOptions(subject="all"))
    assert opts.subject_of("davis16-breakdance-00001") == "main"
    assert opts.subject_of("davis16-dance-twirl-00001") == "all"  # the longest prefix wins
    assert opts.subject_of("eg1800-00001") == "all"
    assert EvalOptions(images=tmp_path).mask_folder == tmp_path
    with pytest.raises(ConfigError, match="subject rule"):
        EvalOptions(subject_for=(("davis16", "some"),))
    with pytest.raises(ConfigError, match="infer_every"):
        EvalOptions(infer_every=0)
    with pytest.raises(InputError, match="nothing to evaluate"):
        evaluate(EvalOptions())
    with pytest.raises(InputError, match="does not exist"):
        evaluate(EvalOptions(images=tmp_path / "missing"))

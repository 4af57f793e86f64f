"""Evaluation metrics and the eval command."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from livebokeh._cli import main
from livebokeh.evaluation import boundary_f1, score


def _disc(shift: int = 0, size: int = 200, r: int = 60) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    cv2.circle(m, (size // 2 + shift, size // 2), r, 255, -1)
    return m


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

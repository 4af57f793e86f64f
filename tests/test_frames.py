"""Frame's shared reduced copies: exact halvings, made once per frame, safe from two threads."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from livebokeh.frames import Frame
from livebokeh.matte.warp import flow_grey


def _frame(h: int, w: int, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    return Frame(image=rng.integers(0, 256, (h, w, 3), dtype=np.uint8), timestamp_ns=0, index=0)


def test_reduced_halves_while_long_side_stays_at_least_min_side() -> None:
    f = _frame(1080, 1920)
    assert f.reduced(2000) is f.image
    assert f.reduced(960).shape == (540, 960, 3)
    assert f.reduced(961).shape == (1080, 1920, 3)
    assert f.reduced(256).shape == (270, 480, 3)
    assert min(f.reduced(1).shape[:2]) == 1  # halving stops before a side would vanish


def test_reduced_is_a_2x2_area_average_and_cached() -> None:
    f = _frame(64, 96, seed=1)
    half = f.reduced(48)
    expected = f.image.astype(np.float32).reshape(32, 2, 48, 2, 3).mean(axis=(1, 3))
    assert np.abs(half.astype(np.float32) - expected).max() <= 0.5 + 1e-6
    assert f.reduced(48) is half  # made once
    assert f.reduced(24) is f.reduced(24)


def test_resized_comes_from_the_nearest_level_and_is_cached() -> None:
    noisy = _frame(1080, 1920, seed=2)
    f = Frame(image=cv2.GaussianBlur(noisy.image, (0, 0), 6), timestamp_ns=0, index=0)
    small = f.resized((256, 144))
    assert small.shape == (144, 256, 3)
    assert f.resized((256, 144)) is small
    direct = cv2.resize(f.image, (256, 144), interpolation=cv2.INTER_AREA)
    # halvings plus a bilinear step vs one area resize: the same picture up to rounding
    assert np.abs(small.astype(int) - direct.astype(int)).mean() < 1.5


def _direct_grey(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The plain way: one area resize of the whole frame, then grey."""
    return cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)


def test_flow_grey_is_the_frame_shrunk_to_flow_size_whatever_the_frame_resolution() -> None:
    f = _frame(720, 1280, seed=3)
    half = Frame(image=cv2.resize(f.image, (640, 360), interpolation=cv2.INTER_AREA), timestamp_ns=0, index=0)
    a, b = flow_grey(f), _direct_grey(f.image, (256, 144))
    assert a.shape == b.shape == flow_grey(half).shape == (144, 256)  # a shrunk frame compares with the full one
    # a smooth picture so both ways of shrinking agree closely
    smooth = Frame(image=cv2.GaussianBlur(f.image, (0, 0), 8), timestamp_ns=0, index=0)
    assert np.abs(flow_grey(smooth).astype(int) - _direct_grey(smooth.image, (256, 144)).astype(int)).mean() < 2.0


def test_two_threads_asking_for_levels_get_one_consistent_pyramid() -> None:
    def work(f: Frame, barrier: threading.Barrier, got: list[np.ndarray]) -> None:
        barrier.wait()
        got.append(f.reduced(60))

    for seed in range(20):
        f = _frame(540, 960, seed=seed)
        got: list[np.ndarray] = []
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=work, args=(f, barrier, got)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got[0] is got[1]
        assert got[0].shape == (33, 60, 3)
        assert [lv.shape[1] for lv in f._levels] == [960, 480, 240, 120, 60]

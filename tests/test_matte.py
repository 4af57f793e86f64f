"""Matte behaviour on constructed inputs: edges, temporal stability, stale-mask warp, subject choice."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from matte_fakes import RedPose

from livebokeh import models
from livebokeh.config import MatteOptions
from livebokeh.effects import _kernels
from livebokeh.errors import ModelLoadError
from livebokeh.evaluation import InstabilityMeter, binary_iou, make_moving_clip, still_pixels
from livebokeh.frames import Frame, Mask
from livebokeh.matte import DETECT_EVERY, Matte, PhotoApplier, PhotoEstimator, VideoEstimator, upsample
from livebokeh.matte.apply import colour_step_where
from livebokeh.matte.crops import crop_regions, merge_crops, merge_person_masks
from livebokeh.matte.subject import SubjectTracker, candidates, centrality_weight, drop_stray_blobs, keep_region
from livebokeh.matte.temporal import DECISIVE_BAND, JITTER_FLOOR, STILL_FLOOR, GuideSmoother, TemporalFilter, decisive
from livebokeh.matte.warp import MaskWarper, flow_grey
from livebokeh.people import (
    Detection,
    Person,
    PersonMask,
    PersonRoi,
    PoseSegmenter,
    close_up,
    crop_roi,
    full_body_people,
    roi_from_pose,
    roi_matrix,
    roi_to_frame,
    search_person,
)
from livebokeh.people.box import iou, ious, scale_box
from livebokeh.people.roi import ROI_SCALE
from livebokeh.people.search import SEARCH_ANGLES
from livebokeh.people.ssd import SPECS, anchors

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _crossing(row: np.ndarray) -> float:
    """Sub-pixel x where a rising row of alpha (uint8) crosses one half."""
    v = row.astype(np.float32) / 255.0
    i = int(np.argmax(v >= 0.5))
    if i == 0:
        return 0.0
    return i - 1 + (0.5 - v[i - 1]) / max(1e-6, v[i] - v[i - 1])


def _textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (h // 4, w // 4, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 1.0)


# --- edge-aware upsampling ----------------------------------------------------------------


def test_guided_edge_follows_step_in_guide() -> None:
    h, w = 96, 128
    step = 45  # the real contour, in full-resolution pixels
    image = np.full((h, w, 3), 40, np.uint8)
    image[:, step:] = 200
    # a blurry low-resolution mask (4x smaller) whose own edge is 2.5 px off the contour
    low = np.zeros((24, 32), np.float32)
    low[:, 12:] = 1.0
    low = cv2.GaussianBlur(low, (0, 0), 0.8)
    guide = upsample.guide_image(image, 128)
    bil = upsample.bilinear(low, (w, h))
    ref = upsample.guided(low, guide, (w, h))
    assert ref.dtype == np.uint8 and ref.shape == (h, w)
    row_bil, row_ref = _crossing(bil[h // 2]), _crossing(ref[h // 2])
    assert abs(row_ref - step) < 0.75
    assert abs(row_bil - step) > 2.0


def test_guided_keeps_soft_alpha_in_flat_region() -> None:
    """No hard threshold: a half-transparent flat region stays half-transparent."""
    image = np.full((64, 64, 3), 128, np.uint8)
    low = np.full((16, 16), 0.4, np.float32)
    out = upsample.guided(low, upsample.guide_image(image, 64), (64, 64))
    assert np.all(np.abs(out.astype(int) - 102) <= 2)


def test_guide_image_is_reduced() -> None:
    frame = np.zeros((1080, 1920, 3), np.uint8)
    g = upsample.guide_image(frame, 480)
    assert g.shape == (270, 480) and g.dtype == np.float32


@pytest.mark.parametrize(
    ("size", "guide"),
    [
        ((1920, 1080), (480, 270)),  # the frame's own halvings
        ((3840, 2160), (480, 270)),
        ((1280, 720), (480, 270)),  # scaled from the nearest halving
        ((720, 1280), (270, 480)),
        ((854, 480), (480, 270)),
        ((640, 480), (480, 360)),
        ((512, 512), (480, 480)),
        ((320, 240), (320, 240)),  # never enlarged
    ],
)
def test_video_guide_is_the_frame_at_480_pixels_from_its_levels(size: tuple[int, int], guide: tuple[int, int]) -> None:
    assert upsample.guide_size(size, upsample.VIDEO_GUIDE_SIDE) == guide
    w, h = size
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    frame = Frame(image=image, timestamp_ns=0, index=0)
    g = upsample.frame_guide(frame, upsample.VIDEO_GUIDE_SIDE)
    assert g.shape == (guide[1], guide[0]) and g.dtype == np.float32
    level = frame.reduced(max(guide))
    if (level.shape[1], level.shape[0]) == guide:  # the frame's own halving, not a resampled copy
        assert np.array_equal(g, cv2.cvtColor(level, cv2.COLOR_BGR2GRAY).astype(np.float32) * np.float32(1 / 255))


@pytest.mark.skipif(not _kernels.numba_available(), reason="numba is not installed")
@pytest.mark.parametrize("shape", [(270, 480), (240, 427), (7, 5), (2, 9)])
def test_fast_guided_filter_kernel_matches_numpy(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(5)
    guide = cv2.GaussianBlur(rng.random(shape, np.float32), (0, 0), 2)
    src = cv2.GaussianBlur(rng.random(shape, np.float32), (0, 0), 4)
    out = {}
    for backend in ("numpy", "numba"):
        with _kernels.backend(backend):
            out[backend] = upsample.guided_filter(guide, src, 4, 1e-3, subsample=2)
    assert out["numba"].shape == shape and out["numba"].dtype == np.float32
    assert np.abs(out["numba"] - out["numpy"]).max() < 1e-6


def _smoothed(backend: str, alphas: list[np.ndarray], guides: list[np.ndarray]) -> list[np.ndarray]:
    with _kernels.backend(backend):
        smoother = GuideSmoother()
        return [smoother.update(a, g, i // 3) for i, (a, g) in enumerate(zip(alphas, guides, strict=True))]


@pytest.mark.skipif(not _kernels.numba_available(), reason="numba is not installed")
def test_guide_smoother_kernel_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    shape = (37, 53)
    guides = [cv2.GaussianBlur(rng.random(shape, np.float32), (0, 0), 2) for _ in range(9)]
    alphas = [cv2.GaussianBlur(rng.random(shape, np.float32), (0, 0), 3) for _ in range(9)]
    for a, b in zip(_smoothed("numpy", alphas, guides), _smoothed("numba", alphas, guides), strict=True):
        assert a.dtype == b.dtype == np.float32
        assert np.abs(a - b).max() < 1e-6


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_guide_smoother_follows_change_and_damps_jitter(backend: str) -> None:
    if backend == "numba" and not _kernels.numba_available():
        pytest.skip("numba is not installed")
    still = np.full((20, 20), 0.5, np.float32)
    moved = still.copy()
    moved[:, 10:] = 1.0  # the right half of the picture changed a lot
    prev = np.zeros((20, 20), np.float32)
    new = np.full((20, 20), 0.6, np.float32)  # a real step on the top rows ...
    new[10:] = 0.1  # ... and a jitter-sized one below
    out = _smoothed(backend, [prev, new], [still, moved])[1]
    assert np.allclose(out[:10, 14:], 0.6)  # the picture changed: the new value at once
    assert np.allclose(out[:10, :6], 0.6 * STILL_FLOOR)  # still: only the floor's share
    assert np.allclose(out[10:, :6], 0.1 * JITTER_FLOOR)  # still and small: the lower floor's
    assert np.allclose(out[10:, 14:], 0.1 * (1 - STILL_FLOOR + JITTER_FLOOR))  # changed, small: lowered alike


# --- temporal smoothing -----------------------------------------------------------------------


def test_still_input_converges_and_stops_changing() -> None:
    rng = np.random.default_rng(1)
    grey = np.full((36, 64), 100, np.uint8)
    base = np.zeros((36, 64), np.float32)
    base[8:30, 20:44] = 0.9
    base = cv2.GaussianBlur(base, (0, 0), 1.5)
    filt = TemporalFilter()
    outs, inputs = [], []
    for _ in range(60):
        noisy = np.clip(base + rng.normal(0, 0.05, base.shape).astype(np.float32), 0, 1)
        inputs.append(noisy)
        outs.append(filt.update(noisy, grey))
    average = np.mean(inputs, axis=0)
    raw_jitter = 0.05 * np.sqrt(2 / np.pi) * np.sqrt(2)  # mean |n_t - n_t-1| of the input noise
    late = [float(np.abs(outs[i] - outs[i - 1]).mean()) for i in range(40, 60)]
    assert max(late) < 0.1 * raw_jitter  # stopped changing (almost everywhere frozen)
    # converged: closer to the long-run average than any single model output is
    assert float(np.abs(outs[-1] - average).mean()) < 0.6 * float(np.abs(inputs[-1] - average).mean())
    # no pixel flips across one half once settled
    flips = ((outs[-1] >= 0.5) != (outs[-10] >= 0.5)).sum()
    assert flips == 0


def test_moving_input_is_followed_at_once() -> None:
    filt = TemporalFilter()
    grey_a = _textured(36, 64)[:, :, 0]
    mask_a = np.zeros((36, 64), np.float32)
    mask_a[:, 10:30] = 1.0
    for _ in range(5):
        filt.update(mask_a, grey_a)
    grey_b = np.roll(grey_a, 12, axis=1)
    mask_b = np.roll(mask_a, 12, axis=1)
    out = filt.update(mask_b, grey_b)
    assert binary_iou(out, mask_b) > 0.95


# --- stale-mask compensation ------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["fast", "ultrafast"])
def test_shifted_frame_shifts_compensated_mask(preset: str) -> None:
    h, w, shift = 144, 256, 9
    old_img = _textured(h, w, seed=3)
    new_img = np.roll(old_img, shift, axis=1)
    mask = np.zeros((h, w), np.float32)
    mask[30:110, 80:150] = 1.0
    old = flow_grey(Frame(image=old_img, timestamp_ns=0, index=0))
    new = flow_grey(Frame(image=new_img, timestamp_ns=0, index=1))
    warped = MaskWarper(preset).warp(mask, old, new)
    xs = np.nonzero(warped[70] >= 0.5)[0]
    assert abs(xs.min() - (80 + shift)) <= 1.5 and abs(xs.max() - (149 + shift)) <= 1.5
    expected = np.roll(mask, shift, axis=1)
    assert binary_iou(warped, expected) > binary_iou(mask, expected) + 0.1


class _ColourSegmenter:
    """A stand-in segmenter: 'person' is where the red channel is bright, at 64x64."""

    name = "colour"
    runtime = "numpy"

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        return 64, 64

    def segment(self, image: np.ndarray) -> np.ndarray:
        small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
        return (small[:, :, 2].astype(np.float32) / 255.0) ** 2

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        return self.segment(image)

    def close(self) -> None:
        pass


def _scene(x: int, h: int = 144, w: int = 256) -> np.ndarray:
    """A textured background (dim red) with a textured bright-red 'person' at column ``x``."""
    img = _textured(h, w, seed=5)
    img[:, :, 2] = img[:, :, 2] // 4
    person = _textured(90, 50, seed=6)
    person[:, :, 2] = 255
    img[30:120, x : x + 50] = person
    return img


def test_matte_compensates_stale_mask_end_to_end() -> None:
    opts = MatteOptions(crops=False, temporal=False)
    seg = _ColourSegmenter()
    on, off = Matte(seg, opts, video=True), Matte(seg, MatteOptions(crops=False, temporal=False, compensate=False))
    f0 = Frame(image=_scene(80), timestamp_ns=0, index=0)
    f2 = Frame(image=_scene(92), timestamp_ns=66_000_000, index=2)
    mask = on.compute(f0)
    assert isinstance(mask, Mask) and mask.guide is not None
    truth = on.apply_to(on.compute(f2), f2)
    moved, stale = on.apply_to(mask, f2), off.apply_to(mask, f2)
    assert binary_iou(moved, truth) > binary_iou(stale, truth) + 0.05


# --- subject choice and stray blobs -----------------------------------------------------------


def test_small_far_face_is_not_chosen_over_large_central_one() -> None:
    size = (640, 360)
    central = Person(body=(220.0, 40.0, 420.0, 360.0), score=0.8)
    far = Person(body=(10.0, 10.0, 50.0, 70.0), score=0.99)
    alpha = np.zeros((144, 256), np.float32)
    chosen = SubjectTracker().choose(candidates([far, central], alpha, size))
    assert chosen is not None and chosen.box == central.body


def test_body_cut_by_the_frame_side_loses_to_a_central_full_body() -> None:
    size = (640, 360)
    central = Person(body=(240.0, 60.0, 400.0, 300.0), score=0.8)
    side = Person(body=(0.0, 0.0, 320.0, 360.0), score=0.9)  # bigger, but the left edge cuts it
    alpha = np.zeros((144, 256), np.float32)
    found = candidates([side, central], alpha, size)
    chosen = SubjectTracker().choose(found)
    assert chosen is not None and chosen.box == central.body
    # the same box moved off the edge (same size, same distance from the centre) would win
    assert centrality_weight((4.0 + 14, 0.0, 324.0 + 14, 360.0), size) > centrality_weight(central.body, size)


def test_subject_choice_does_not_jump_between_similar_people() -> None:
    size = (640, 360)
    a = Person(body=(150.0, 60.0, 310.0, 360.0), score=0.9)
    b = Person(body=(330.0, 60.0, 490.0, 360.0), score=0.9)
    alpha = np.zeros((144, 256), np.float32)
    tracker = SubjectTracker()
    first = tracker.choose(candidates([a, b], alpha, size))
    assert first is not None
    # the other one grows a little (leans forward): the choice stays
    other = b if first.box == a.body else a
    bigger = Person(body=(other.body[0] - 8, other.body[1] - 10, other.body[2] + 8, other.body[3]), score=0.9)
    again = tracker.choose(candidates([first_person(first.box), bigger], alpha, size))
    assert again is not None and again.box == first.box


def first_person(box: tuple[float, float, float, float]) -> Person:
    return Person(body=box, score=0.9)


def test_blob_far_from_any_person_is_removed() -> None:
    size = (256, 144)
    alpha = np.zeros((144, 256), np.float32)
    alpha[20:140, 90:160] = 1.0  # the person
    alpha[10:22, 220:236] = 0.9  # a lamp far away
    alpha[60:70, 162:170] = 0.8  # a hand close to the person, detached
    person = Person(body=(85.0, 15.0, 175.0, 144.0), score=0.9)
    out = drop_stray_blobs(alpha, [person], size)
    assert out[15, 228] == 0.0
    assert out[65, 165] > 0.5
    assert out[80, 120] == 1.0


def test_keep_region_drops_other_people() -> None:
    size = (256, 144)
    alpha = np.zeros((144, 256), np.float32)
    alpha[20:140, 20:70] = 1.0
    alpha[20:140, 150:220] = 1.0
    out = keep_region(alpha, (140.0, 10.0, 230.0, 144.0), size)
    assert out[80, 40] == 0.0 and out[80, 180] == 1.0


# --- detectors and crops ----------------------------------------------------------------------


def test_anchor_layouts_match_model_outputs() -> None:
    counts = {"face-short": 896, "face-full": 2304, "pose-detection": 2254}
    for name, n in counts.items():
        a = anchors(SPECS[name])
        assert a.shape == (n, 2) and a.min() > 0 and a.max() < 1


def test_one_iou_for_boxes_crops_and_detections() -> None:
    a = (0.0, 0.0, 10.0, 10.0)
    half = (5.0, 0.0, 15.0, 10.0)
    assert iou(a, a) == 1.0
    assert iou(a, half) == iou(half, a) == pytest.approx(50 / 150)
    assert iou(a, (10.0, 0.0, 20.0, 10.0)) == 0.0  # touching edges share no area
    assert iou(a, (20.0, 20.0, 30.0, 30.0)) == 0.0
    assert iou((0, 0, 4, 4), (1, 1, 3, 3)) == 0.25  # whole-pixel crops: one inside the other
    assert iou((3.0, 3.0, 3.0, 3.0), (3.0, 3.0, 3.0, 3.0)) == 0.0  # an empty union is no overlap, not a NaN
    # one box against many (detections): float32 stays float32 and agrees with the pairwise value
    many = ious(np.array(a, np.float32), np.array([a, half, (20.0, 20.0, 30.0, 30.0)], np.float32))
    assert many.dtype == np.float32 and many.tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert scale_box(half, 2.0, 0.5) == (10.0, 0.0, 30.0, 5.0)


def test_crop_pass_only_for_people_small_in_frame() -> None:
    hw = (720, 1280)

    def size_for(shape: tuple[int, ...]) -> tuple[int, int]:
        return (144, 256) if shape[1] >= 1.5 * shape[0] else (256, 256)

    small = crop_regions([(600.0, 400.0, 660.0, 560.0)], hw, size_for)
    large = crop_regions([(200.0, 0.0, 1100.0, 720.0)], hw, size_for)
    assert len(small) == 1 and large == []
    x0, y0, x1, y1 = small[0]
    assert x0 <= 600 and y0 <= 400 and x1 >= 660 and y1 >= 560


def test_merge_crops_uses_crop_result_inside_crop() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    first = np.zeros((50, 50), np.float32)
    first[15:35, 15:35] = 0.6  # the first pass saw a vague person in the middle

    def crop_model(crop: np.ndarray) -> np.ndarray:
        out = np.zeros((64, 64), np.float32)
        cv2.circle(out, (32, 32), 16, 1.0, -1)  # a crisp person in the crop's centre
        out[0:6, 0:6] = 1.0  # and a speck in its corner, far from anything
        return out

    out = merge_crops(image, first, [(50, 50, 150, 150)], crop_model, (200, 200))
    assert out[100, 100] == pytest.approx(1.0)  # sharpened where the first pass was unsure
    assert out[100, 72] < 0.5  # outside the crop's circle: the crop's answer wins
    assert out[53, 53] < 0.5  # the speck far from the first pass is not invented
    assert out[10, 10] == 0.0


def test_merge_crops_ignores_an_all_person_crop() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    first = np.zeros((50, 50), np.float32)
    first[20:30, 20:30] = 1.0
    out = merge_crops(image, first, [(50, 50, 150, 150)], lambda c: np.ones((32, 32), np.float32), (200, 200))
    assert out[60, 60] < 0.5


def test_photo_matte_on_fake_segmenter() -> None:
    matte = Matte(_ColourSegmenter(), MatteOptions(crops=False, quality="fast"), video=False)
    frame = Frame(image=_scene(100, 300, 400), timestamp_ns=0, index=0)
    alpha = matte.apply_to(matte.compute(frame), frame)
    assert alpha.shape == (300, 400) and alpha.dtype == np.uint8
    assert alpha[75, 125] > 200 and alpha[75, 20] < 50


# --- evaluation helpers -----------------------------------------------------------------------


def test_instability_counts_only_unchanged_pixels() -> None:
    a = _textured(40, 40) // 2 + 100
    b = a.copy()
    b[:, :20] = 0  # the left half changed
    still = still_pixels(a, b)
    meter = InstabilityMeter()
    alpha0 = np.zeros((40, 40), np.uint8)
    alpha1 = alpha0.copy()
    alpha1[:, :20] = 255  # changed where the frame changed: not instability
    meter.add(alpha0, None)
    meter.add(alpha1, still)
    assert meter.value == pytest.approx(0.0)


def test_moving_clip_masks_follow_the_path() -> None:
    person = np.full((100, 40, 3), 200, np.uint8)
    pmask = np.full((100, 40), 255, np.uint8)
    bg = np.zeros((180, 320, 3), np.uint8)
    clip = make_moving_clip("t", person, pmask, bg, frames=30, fps=30.0)
    xs = [np.nonzero(m.any(axis=0))[0].min() for m in clip.masks]
    assert xs[5] > xs[0] and xs[-1] > xs[5]
    f = clip.frames[10]
    assert np.all(f[clip.masks[10] > 0] > 100)


@pytest.mark.slow
def test_detectors_find_a_face_in_a_portrait() -> None:
    photos = sorted((DATA / "portraits").glob("*.jpg")) if DATA.is_dir() else []
    if not photos:
        pytest.skip("evaluation data ../shared/data is not present")
    from livebokeh.people import PersonDetector
    from livebokeh.sources.images import read_image

    det = PersonDetector()
    image = read_image(photos[0])
    people = det.detect(image)
    assert people, "no person found in a portrait"
    h, w = image.shape[:2]
    cx, cy = people[0].centre
    assert 0 < cx < w and 0 < cy < h


@pytest.mark.slow
def test_eval_command_on_generated_videos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The video half of ``livebokeh eval`` runs on a clip without masks and one with per-frame masks."""
    import json

    import av

    from livebokeh._cli import main

    frames = [_scene(60 + 4 * i, 144, 256) for i in range(6)]
    with av.open(str(tmp_path / "still.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 256, 144, "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    (tmp_path / "gt" / "frames").mkdir(parents=True)
    (tmp_path / "gt" / "masks").mkdir()
    for i, image in enumerate(frames):
        cv2.imwrite(str(tmp_path / "gt" / "frames" / f"{i:05d}.jpg"), image)
        cv2.imwrite(str(tmp_path / "gt" / "masks" / f"{i:05d}.png"), (image[:, :, 2] == 255).astype(np.uint8) * 255)
    assert main(["eval", "--videos", str(tmp_path), "--json", "--max-frames", "6"]) == 0
    payload = json.loads(capsys.readouterr().out)["videos"]
    inst = payload["instability"]["still"]
    assert inst["frames"] == 6 and np.isfinite(inst["raw"]) and np.isfinite(inst["livebokeh"])
    stale = payload["stale"]["gt"]
    assert stale["frames_scored"] == 4
    for key in ("raw_fresh", "fresh", "stale", "compensated"):
        assert 0.0 <= stale[key] <= 1.0


@pytest.mark.parametrize("video", [True, False])
def test_tiny_and_changing_frame_sizes(video: bool) -> None:
    matte = Matte(_ColourSegmenter(), MatteOptions(crops=False), video=video)
    rng = np.random.default_rng(2)
    for i, (h, w) in enumerate([(1, 1), (9, 5), (40, 1200), (144, 256), (120, 160)]):
        frame = Frame(image=rng.integers(0, 255, (h, w, 3), dtype=np.uint8), timestamp_ns=i, index=i)
        mask = matte.compute(frame)
        later = Frame(image=frame.image, timestamp_ns=i + 1, index=i + 1)
        for f in (frame, later):
            alpha = matte.apply_to(mask, f)
            assert alpha.shape == (h, w) and alpha.dtype == np.uint8


def test_colour_line_puts_soft_band_on_the_colour_edge() -> None:
    h, w, edge = 40, 100, 45
    colour = np.zeros((h, w, 3), np.float32)
    colour[:, :edge] = (0.1, 0.2, 0.9)  # person colour on the left
    colour[:, edge:] = (0.8, 0.6, 0.1)  # background colour on the right
    src = np.clip((60.0 - np.arange(w, dtype=np.float32)) / 20.0, 0.0, 1.0)  # ramp from x=40 to 60, half at 50
    src = np.repeat(src[None, :], h, axis=0)
    out = upsample.colour_line(src, colour, 20)  # the window reaches confident pixels on both sides
    row = out[h // 2]
    assert row[edge - 2] > 0.9 and row[edge + 2] < 0.1
    assert row[30] == pytest.approx(1.0) and row[70] == pytest.approx(0.0)  # confident pixels untouched


def test_colour_line_trusts_a_colour_the_two_sides_do_not_explain_less() -> None:
    h, w = 40, 100
    person, background = np.float32((0.1, 0.2, 0.8)), np.float32((0.8, 0.5, 0.1))
    d = person - background
    across = np.float32((0.0, 1.0, 0.0)) - (d[1] / (d @ d)) * d  # green, made perpendicular to the line
    across *= 0.6 * np.linalg.norm(d) / np.linalg.norm(across)
    colour = np.empty((h, w, 3), np.float32)
    colour[:, :45], colour[:, 45:] = person, background
    colour[:, 52] = background + 0.9 * d  # on the line, 90 % of the way to the person's colour
    colour[:, 53] = background + 0.9 * d + across  # as far along the line, but well off it
    assert colour.min() >= 0.0 and colour.max() <= 1.0
    src = np.repeat(np.clip((60.0 - np.arange(w, dtype=np.float32)) / 20.0, 0.0, 1.0)[None, :], h, axis=0)
    row = upsample.colour_line(src, colour, 20)[h // 2]
    assert row[52] == pytest.approx(0.9, abs=0.01)  # the line explains it: its position on the line
    assert src[0, 53] < row[53] < src[0, 53] + 0.5 * (0.9 - src[0, 53])  # mostly the mask's own value
    unweighted = upsample.colour_line(src, colour, 20, fit=1e9)[h // 2]
    assert unweighted[53] == pytest.approx(0.9, abs=0.01)


def test_colour_refine_moves_only_the_soft_band_onto_the_colour_edge() -> None:
    h, w, edge = 40, 100, 45
    colour = np.zeros((h, w, 3), np.float32)
    colour[:, :edge] = (0.1, 0.2, 0.9)
    colour[:, edge:] = (0.8, 0.6, 0.1)
    grey = cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)
    src = np.repeat(np.clip((60.0 - np.arange(w, dtype=np.float32)) / 20.0, 0.0, 1.0)[None, :], h, axis=0)
    out = upsample.colour_refine(src, colour, grey, 7, upsample.EPS)
    row = out[h // 2]
    assert row[edge - 1] > 0.9 and row[edge] < 0.1  # the mask's half-way point was 5 px to the right
    assert np.all(out[:, :20] == 1.0) and np.all(out[:, 80:] == 0.0)  # far from the edge: unchanged
    assert out.dtype == np.float32 and out.shape == src.shape


# --- per-person segmentation (pose-landmark on an upright ROI) -----------------------------------


def _pose_detection(hip: tuple[float, float], top: tuple[float, float]) -> Detection:
    kps = np.array([hip, top, hip, top], np.float32)
    return Detection((0.0, 0.0, 1.0, 1.0), kps, 0.9, "pose-detection")


def test_roi_transform_round_trips_a_point() -> None:
    # a person lying to the right: the body circle's top keypoint is right of the hip
    roi = roi_from_pose(_pose_detection((300.0, 200.0), (380.0, 200.0)))
    assert roi.side == pytest.approx(2 * 80 * ROI_SCALE)
    m = roi_matrix(roi, 256)
    inv = cv2.invertAffineTransform(m)
    point = np.array([123.0, 45.0, 1.0])
    in_roi = inv @ point
    assert m @ np.append(in_roi, 1.0) == pytest.approx(point[:2])
    # the ROI's centre is the hip, and its "up" (top-centre pixel) points at the top keypoint
    assert m @ np.array([127.5, 127.5, 1.0]) == pytest.approx([300.0, 200.0])
    top = m @ np.array([127.5, 0.0, 1.0])
    assert top[0] > 300.0 + roi.side / 2 - 1 and abs(top[1] - 200.0) < 1e-6


def _lying_person(h: int = 240, w: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """A frame with a red 'person' lying horizontally (head to the right), and its mask."""
    image = np.full((h, w, 3), 30, np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (160, 150), (60, 14), 0, 0, 360, 255, -1)
    cv2.circle(mask, (228, 150), 10, 255, -1)  # the head
    image[mask > 0] = (40, 40, 230)
    return image, mask


def test_rotated_roi_crop_is_upright_and_mask_lands_back_on_the_person() -> None:
    image, truth = _lying_person()
    roi = roi_from_pose(_pose_detection((150.0, 150.0), (230.0, 150.0)))
    crop = crop_roi(image, roi, 256)
    person = crop[:, :, 2] > 128
    ys, xs = np.nonzero(person)
    assert ys.max() - ys.min() > 2 * (xs.max() - xs.min())  # upright: taller than wide
    assert ys.mean() < 128  # the head end (right of the hip in the frame) is up in the crop
    back = roi_to_frame(person.astype(np.float32), roi, (image.shape[1], image.shape[0]))
    assert binary_iou((back * 255).astype(np.uint8), truth) > 0.9


class _RedPose(RedPose):
    """A stand-in pose-landmark model: 'person' is the red part of the ROI crop."""


class _BlindSegmenter(_ColourSegmenter):
    """A first pass that sees nobody (the selfie model on a far, lying person)."""

    def segment(self, image: np.ndarray) -> np.ndarray:
        return np.zeros((64, 64), np.float32)


class _FixedDetector:
    def __init__(self, people: list[Person]) -> None:
        self.people = people

    def detect(self, image: np.ndarray) -> list[Person]:
        return [replace(p) for p in self.people]


def test_matte_pose_pass_finds_a_person_the_first_pass_missed() -> None:
    image, truth = _lying_person()
    roi = roi_from_pose(_pose_detection((150.0, 150.0), (230.0, 150.0)))
    person = Person(body=(70.0, 70.0, 230.0, 230.0), score=0.9, roi=roi, sources=["pose-detection"])
    for subject in ("all", "main"):
        pose = _RedPose()
        # no rotation search: only the detected person's pose pass is counted here
        estimator = PhotoEstimator(
            _BlindSegmenter(), MatteOptions(subject=subject), detector=_FixedDetector([person]), pose=pose, search=False
        )
        frame = Frame(image=image, timestamp_ns=0, index=0)
        alpha = PhotoApplier().apply(estimator.compute(frame), frame)
        assert pose.calls == 1 and estimator.last.pose_people == 1
        assert binary_iou(alpha, truth) > 0.8, subject


def test_video_pose_pass_skips_close_ups() -> None:
    image, _ = _lying_person()
    h = image.shape[0]
    close_up = Person(body=(0.0, 0.0, 320.0, 240.0), score=0.9, roi=PersonRoi((160.0, 200.0), 3.0 * h, 0.0))
    pose = _RedPose()
    matte = Matte(
        _BlindSegmenter(), MatteOptions(temporal=False), video=True, detector=_FixedDetector([close_up]), pose=pose
    )
    matte.compute(Frame(image=image, timestamp_ns=0, index=0))
    assert pose.calls == 0 and matte.last.pose_people == 0
    # a hip outside the frame (only the upper body is visible) is also left to the selfie model
    assert full_body_people([replace(close_up, roi=PersonRoi((160.0, 300.0), 0.5 * h, 0.0))], (h, 320)) == []
    # a degenerate detection (both keypoints on one spot) is skipped, a whole body in the frame is kept
    degenerate = roi_from_pose(_pose_detection((100.0, 100.0), (100.0, 100.0)))
    assert full_body_people([replace(close_up, roi=degenerate)], (h, 320)) == []
    whole = replace(close_up, roi=PersonRoi((160.0, 120.0), 0.9 * h, 0.0))
    assert full_body_people([whole], (h, 320)) == [whole]


class _CountingSegmenter(_ColourSegmenter):
    """Counts its calls; the first pass (a landscape frame) sees nobody, so no mask blob asks for a crop."""

    def __init__(self) -> None:
        self.calls = 0

    def segment(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.zeros((64, 64), np.float32) if image.shape[1] > image.shape[0] else super().segment(image)


def test_photo_crop_pass_skips_close_ups() -> None:
    image, _ = _lying_person()
    h = image.shape[0]
    box = (100.0, 60.0, 220.0, 180.0)  # a crop around it would show it at 2x the first pass's resolution
    close = Person(body=box, score=0.9, roi=PersonRoi((160.0, 300.0), 3.0 * h, 0.0), sources=["pose-detection"])
    face = Person(body=box, score=0.9, face=(130.0, 20.0, 190.0, 100.0), sources=["face-full"])
    assert close_up(close, (h, 320)) and close_up(face, (h, 320))
    assert not close_up(replace(close, roi=PersonRoi((160.0, 120.0), 0.9 * h, 0.0)), (h, 320))
    counts = {}
    for name, person in (("close-up", close), ("face close-up", face), ("plain box", replace(close, roi=None))):
        seg = _CountingSegmenter()
        detector = _FixedDetector([person])
        estimator = PhotoEstimator(seg, MatteOptions(), detector=detector, pose=_RedPose(), search=False)
        estimator.compute(Frame(image=image, timestamp_ns=0, index=0))
        counts[name] = seg.calls
    # a close-up gets no crop (the crop would only cut the person off: the selfie model is made for
    # that framing); the same box without a close-up ROI is segmented again on a crop
    assert counts == {"close-up": 1, "face close-up": 1, "plain box": 2}


def test_a_blob_nobody_detected_gets_a_crop_in_a_photo_but_not_in_video() -> None:
    """A small bright-red figure the detectors do not report: a photo segments its first-pass blob again on
    a crop; a video mask leaves it to the first pass (its one fresh crop a mask goes to detected people)."""
    image = _scene(0, 288, 512)
    image[:, :, 2] = image[:, :, 2] // 4  # no person in the scene ...
    image[100:160, 300:330, 2] = 255  # ... but a small one, 60 px tall in a 288 px frame
    crops = {}
    for video in (False, True):
        seg = _ColourSegmenter()
        matte = Matte(seg, MatteOptions(temporal=False), video=video, detector=_FixedDetector([]), pose=_RedPose())
        matte.compute(Frame(image=image, timestamp_ns=0, index=0))
        crops[video] = matte.last.crops
    assert crops == {False: 1, True: 0}


def test_photo_colour_step_only_where_the_model_saw_the_photo_coarsely() -> None:
    seg = _ColourSegmenter()  # 64 x 64 model pixels
    for h, w, coarse in ((300, 400, True), (124, 110, False)):
        matte = Matte(seg, MatteOptions(crops=False), video=False)
        frame = Frame(image=_scene(w // 3, h, w), timestamp_ns=0, index=0)
        mask = matte.compute(frame)
        alpha = matte.apply_to(mask, frame)
        guide = upsample.guide_image(frame.image, upsample.PHOTO_GUIDE_SIDE)
        colour = upsample.colour_guide(frame.image, upsample.PHOTO_GUIDE_SIDE) if coarse else None
        # 400 x 300 from 64 x 64: the colour-line step restores the edge; 110 x 124 from 64 x 64 (1.9 guide
        # pixels per model pixel): the model's own edge is kept, only the guided filter runs
        assert np.array_equal(alpha, upsample.guided(mask.alpha, guide, (w, h), colour=colour)), (h, w)
    # a crop segmented finely inside a coarse first pass: the step runs around it, not inside it
    image, _ = _lying_person()
    plain = Person(body=(140.0, 100.0, 180.0, 140.0), score=0.9, sources=["face-full"])  # crop: 64 px over 48
    estimator = PhotoEstimator(_CountingSegmenter(), MatteOptions(), detector=_FixedDetector([plain]), search=False)
    frame = Frame(image=image, timestamp_ns=0, index=0)
    mask = estimator.compute(frame)
    assert estimator.last.crops == 1 and isinstance(mask.density, np.ndarray)
    guide = upsample.guide_image(image, upsample.PHOTO_GUIDE_SIDE)
    where = colour_step_where(mask, guide.shape, (320, image.shape[0]))
    assert isinstance(where, np.ndarray) and not where[120, 160] and where[5, 5]
    # the same mask without what the estimator knew of it is judged by its size alone (merged at the
    # photo's own size): fine everywhere, so the coarse first pass around the crop would keep its blur
    bare = Mask(alpha=mask.alpha, timestamp_ns=0, index=0)
    assert colour_step_where(bare, guide.shape, (320, image.shape[0])) is False


def test_merge_person_masks_keeps_someone_else_in_the_roi() -> None:
    canvas = np.zeros((100, 100), np.float32)
    canvas[20:80, 20:50] = 0.9  # the person, smeared wider by the first pass ...
    canvas[30:60, 85:95] = 0.8  # ... and someone else standing inside the ROI
    own = np.zeros_like(canvas)
    own[20:80, 25:40] = 1.0
    cover = np.zeros_like(canvas)
    cover[5:95, 5:98] = 1.0
    pm = PersonMask(Person(body=(0, 0, 1, 1), score=1.0), own, cover, 1.0)
    out = merge_person_masks(canvas, [pm])
    assert out[50, 30] > 0.9 and out[50, 45] < 0.5  # the person's own mask replaces the smear
    assert out[45, 90] > 0.7  # the other person stays
    main = merge_person_masks(canvas, [pm], only=True)
    assert main[45, 90] == 0.0


def test_pose_landmark_model_loads_through_manifest_with_hash_check(tmp_path: Path) -> None:
    info = models.resolve("pose-landmark")
    assert info.kind == "person-segmentation"
    seg = PoseSegmenter()
    prob, presence = seg.segment_roi(np.zeros((120, 160, 3), np.uint8), PersonRoi((80.0, 60.0), 100.0, 0.3))
    assert prob.shape == (seg.size, seg.size) and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0 and 0.0 <= presence <= 1.0
    data = bytearray(info.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / info.file
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="damaged"):
        models.verify(replace(info, path=damaged))
    with pytest.raises(ModelLoadError, match="not a person-segmentation"):
        PoseSegmenter("selfie")


class _TrackingPose(_RedPose):
    """A stand-in pose-landmark model whose landmarks always put the person at ``last_track`` next; records ROIs."""

    def __init__(self, track: PersonRoi) -> None:
        super().__init__()
        self.last_track = track  # type: ignore[assignment]
        self.rois: list[PersonRoi] = []

    def segment_roi(self, image: np.ndarray, roi: PersonRoi) -> tuple[np.ndarray, float]:
        self.rois.append(roi)
        return super().segment_roi(image, roi)


def test_video_follows_a_tracked_person_the_detector_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    from livebokeh.matte import estimate_video

    monkeypatch.setattr(estimate_video, "STILL_LEVEL", -1.0)  # a still person would reuse their result
    image, truth = _lying_person()
    roi = roi_from_pose(_pose_detection((150.0, 150.0), (230.0, 150.0)))
    person = Person(body=(70.0, 70.0, 230.0, 230.0), score=0.9, roi=roi, sources=["pose-detection"])
    detector = _FixedDetector([person])
    track = roi.shifted(5.0, 0.0)  # where the landmarks say the person will be next
    pose = _TrackingPose(track)
    matte = Matte(_BlindSegmenter(), MatteOptions(temporal=False), video=True, detector=detector, pose=pose)
    matte.compute(Frame(image=image, timestamp_ns=0, index=0))
    assert pose.rois == [roi]  # the detector's ROI first ...
    detector.people = []  # ... then the detector loses the person
    for i in range(1, DETECT_EVERY + 1):  # up to and including the next detector run, which finds nobody
        frame = Frame(image=image, timestamp_ns=i * 33_000_000, index=i)
        alpha = matte.apply_to(matte.compute(frame), frame)
        assert pose.rois[-1] == track and matte.last.pose_people == 1, i  # followed by its landmarks
        assert binary_iou(alpha, truth) > 0.8, i
    assert pose.calls == DETECT_EVERY + 1
    matte.reset()  # a new stream: nobody is tracked any more
    matte.compute(Frame(image=image, timestamp_ns=0, index=0))
    assert pose.calls == DETECT_EVERY + 1 and matte.last.pose_people == 0


class _CountingDetector(_FixedDetector):
    """Finds nobody; counts its runs."""

    def __init__(self) -> None:
        super().__init__([])
        self.runs = 0

    def detect(self, image: np.ndarray) -> list[Person]:
        self.runs += 1
        return []


def _detected_frames(indices: list[int]) -> list[int]:
    """The frame numbers among ``indices`` (one mask each, in order) on which the video detectors ran."""
    image, _ = _lying_person()
    detector = _CountingDetector()
    matte = VideoEstimator(_BlindSegmenter(), MatteOptions(temporal=False), detector=detector, pose=_RedPose())
    out = []
    for i in indices:
        runs = detector.runs
        matte.compute(Frame(image=image, timestamp_ns=i * 33_000_000, index=i))
        if detector.runs > runs:
            out.append(i)
    return out


class _UnsureSegmenter(_ColourSegmenter):
    """A first pass unsure of two bands (0.45 and 0.55), sure of a third (0.95), with a ramp between sure and not."""

    def segment(self, image: np.ndarray) -> np.ndarray:
        prob = np.zeros((64, 64), np.float32)
        prob[:, 0:16] = 0.45
        prob[:, 16:32] = 0.55
        prob[:, 40:64] = 0.95
        prob[:, 32:40] = np.linspace(0.0, 0.95, 8, dtype=np.float32)
        return prob


def test_video_mask_is_pushed_out_of_the_unsure_band() -> None:
    image = _textured(144, 256, seed=3)
    est = VideoEstimator(_UnsureSegmenter(), MatteOptions(crops=False))
    for i in range(3):
        mask = est.compute(Frame(image=image, timestamp_ns=i * 33_000_000, index=i))
    alpha = cv2.resize(mask.alpha, (64, 64), interpolation=cv2.INTER_AREA)
    assert alpha[8:56, 2:14].max() < 0.2  # unsure, below half: blurred, not a ghost of the picture
    assert alpha[8:56, 18:30].min() > 0.8  # unsure, above half: kept
    assert alpha[8:56, 42:62].min() > 0.99  # sure: kept whole
    # the ramp still crosses one half where the model's ramp did
    ramp = np.linspace(0.0, 0.95, 8, dtype=np.float32)
    assert np.array_equal(decisive(ramp, *DECISIVE_BAND) >= 0.5, ramp >= 0.5)
    # a photo keeps the model's own doubt (its edge steps want it)
    photo = PhotoEstimator(_UnsureSegmenter(), MatteOptions(crops=False), search=False)
    kept = photo.compute(Frame(image=image, timestamp_ns=0, index=0)).alpha
    kept = cv2.resize(kept, (64, 64), interpolation=cv2.INTER_AREA)
    assert 0.4 < float(np.median(kept[8:56, 2:14])) < 0.5


def test_video_alpha_has_no_faint_ghosts_but_best_quality_keeps_its_soft_edge() -> None:
    from livebokeh.matte import VideoApplier

    h, w = 270, 480
    image = _textured(h, w, seed=4)  # a busy picture: the guided filter would draw its texture into the alpha
    prob = np.zeros((54, 96), np.float32)
    prob[:, 10:40] = 0.3  # a crowd the model is unsure of
    prob[:, 50:90] = 0.7
    mask = Mask(alpha=prob, timestamp_ns=0, index=0)
    frame = Frame(image=image, timestamp_ns=0, index=0)
    fast = VideoApplier(MatteOptions(quality="fast")).apply(mask, frame)
    best = VideoApplier(MatteOptions(quality="best")).apply(mask, frame)
    inner_low, inner_high = (slice(20, 250), slice(80, 180)), (slice(20, 250), slice(280, 420))
    assert fast[inner_low].max() == 0 and fast[inner_high].min() == 255  # kept or blurred, no ghost
    assert 40 < float(np.median(best[inner_low])) < 120  # MODNet's video alpha keeps the doubt it has
    assert 140 < float(np.median(best[inner_high])) < 220


def test_decisive_is_monotonic_and_leaves_the_middle_of_the_band() -> None:
    p = np.linspace(0.0, 1.0, 101, dtype=np.float32)
    out = decisive(p, 0.4, 0.6)
    assert out.dtype == np.float32
    assert np.all(np.diff(out) >= 0)
    assert np.all(out[p <= 0.4] == 0.0) and np.all(out[p >= 0.6] == 1.0)
    assert abs(float(decisive(np.float32([0.5]), 0.4, 0.6)[0]) - 0.5) < 1e-6
    assert 0.0 < float(decisive(np.float32([0.45]), 0.4, 0.6)[0]) < 0.45


def test_video_detectors_run_on_the_frame_clock_whatever_frames_the_schedule_skips() -> None:
    every_frame = _detected_frames(list(range(3 * DETECT_EVERY)))
    assert every_frame == [0, DETECT_EVERY, 2 * DETECT_EVERY]
    # a schedule that skips a frame now and then (the live governor's) detects on the first mask of each block
    # of frames, not on every tenth mask - so it sees the frames the every-frame run saw, or the next one it has
    skipping = [i for i in range(3 * DETECT_EVERY) if i % 4 != 3 and i != DETECT_EVERY]
    assert _detected_frames(skipping) == [0, DETECT_EVERY + 2, 2 * DETECT_EVERY]  # frames 10 and 11 were skipped
    # one mask every third frame: still every DETECT_EVERY masks, not three times as often
    assert _detected_frames(list(range(0, 9 * DETECT_EVERY, 3))) == [0, 3 * DETECT_EVERY, 6 * DETECT_EVERY]
    # frame numbers that do not advance (a caller that does not number its frames): counted in masks
    assert _detected_frames([0] * (2 * DETECT_EVERY + 1)) == [0, 0, 0]


class _EmptyPose(_RedPose):
    """A stand-in pose-landmark model that finds nobody (presence 0) in any ROI."""

    def segment_roi(self, image: np.ndarray, roi: PersonRoi) -> tuple[np.ndarray, float]:
        self.calls += 1
        return np.zeros((self.size, self.size), np.float32), 0.0


def test_video_pose_pass_retries_an_empty_detection_only_at_the_next_detection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from livebokeh.matte import estimate_video

    image, _ = _lying_person()
    roi = roi_from_pose(_pose_detection((150.0, 150.0), (230.0, 150.0)))
    false_hit = Person(body=(70.0, 70.0, 230.0, 230.0), score=0.9, roi=roi, sources=["pose-detection"])
    pose = _EmptyPose()
    opts = MatteOptions(temporal=False)
    matte = VideoEstimator(_BlindSegmenter(), opts, detector=_FixedDetector([false_hit]), pose=pose)
    for i in range(2 * DETECT_EVERY):
        matte.compute(Frame(image=image, timestamp_ns=i * 33_000_000, index=i))
        assert matte.last.pose_people == 0
    assert pose.calls == 2  # once per detector run, not once per frame
    matte.reset()
    matte.compute(Frame(image=image, timestamp_ns=0, index=0))
    assert pose.calls == 3
    # a real person (the pose model sees them) is kept: while still, with their first result ...
    seen = _RedPose()
    matte = VideoEstimator(_BlindSegmenter(), opts, detector=_FixedDetector([false_hit]), pose=seen)
    for i in range(3):
        matte.compute(Frame(image=image, timestamp_ns=i * 33_000_000, index=i))
        assert matte.last.pose_people == 1
    assert seen.calls == 1
    # ... and moving, with the pass every frame
    monkeypatch.setattr(estimate_video, "STILL_LEVEL", -1.0)
    for i in range(3, 6):
        matte.compute(Frame(image=image, timestamp_ns=i * 33_000_000, index=i))
        assert matte.last.pose_people == 1
    assert seen.calls == 4


class _UprightOnlyPose(_RedPose):
    """A stand-in pose-landmark model that only 'sees' the red person when the crop shows them upright, head up."""

    def __init__(self, presence: float = 0.9) -> None:
        super().__init__()
        self.presence = presence

    def segment_roi(self, image: np.ndarray, roi: PersonRoi) -> tuple[np.ndarray, float]:
        self.calls += 1
        crop = crop_roi(image, roi, self.size)
        person = crop[:, :, 2] > 128
        ys, xs = np.nonzero(person)
        if ys.size == 0:
            return person.astype(np.float32), 0.0
        upright = ys.max() - ys.min() > 2 * (xs.max() - xs.min()) and ys.min() < self.size - 1 - ys.max()
        return person.astype(np.float32), self.presence if upright else 0.1


def test_rotation_search_finds_a_lying_person_at_the_right_angle() -> None:
    image, truth = _lying_person()
    pose = _UprightOnlyPose()
    found = search_person(image, pose)  # type: ignore[arg-type]
    assert found is not None and pose.calls == SEARCH_ANGLES
    assert abs(math.cos(found.roi.rotation)) < 0.2  # turned a quarter: the body lies horizontally
    x0, y0, x1, y1 = found.body
    ys, xs = np.nonzero(truth)
    assert abs(x0 - xs.min()) < 8 and abs(x1 - xs.max()) < 8 and abs(y0 - ys.min()) < 8 and abs(y1 - ys.max()) < 8
    # nobody there: nothing is reported
    assert search_person(np.full_like(image, 30), _UprightOnlyPose()) is None  # type: ignore[arg-type]
    # a certain answer ends the search early, at the same angle
    sure = _UprightOnlyPose(presence=1.0)
    early = search_person(image, sure)  # type: ignore[arg-type]
    assert early is not None and sure.calls < SEARCH_ANGLES and early.roi == found.roi


class _TiltedPose(_RedPose):
    """A stand-in pose-landmark model for a body tilted off every fixed search rotation.

    It is sure of the person only in a ROI turned within 0.1 rad of ``rotation``; its
    landmarks are good enough within 0.8 rad of it to refine a ROI onto that rotation.
    """

    def __init__(self, rotation: float) -> None:
        super().__init__()
        self.rotation = rotation
        self._track: PersonRoi | None = None

    @property
    def last_track(self) -> PersonRoi | None:
        return self._track

    def segment_roi(self, image: np.ndarray, roi: PersonRoi) -> tuple[np.ndarray, float]:
        self.calls += 1
        off = abs(math.remainder(roi.rotation - self.rotation, 2 * math.pi))
        self._track = PersonRoi(roi.centre, roi.side, self.rotation if off < 0.8 else roi.rotation)
        person = (crop_roi(image, roi, self.size)[:, :, 2] > 128).astype(np.float32)
        return person, 0.95 if off < 0.1 else 0.1


def test_rotation_search_tries_the_roi_refined_from_every_rotation() -> None:
    image, _ = _lying_person()
    tilted = 2 * math.pi * 5 / SEARCH_ANGLES + 0.3  # between two fixed rotations, sure at neither
    pose = _TiltedPose(tilted)
    found = search_person(image, pose)  # type: ignore[arg-type]
    assert found is not None and found.presence == 0.95
    assert abs(math.remainder(found.roi.rotation - tilted, 2 * math.pi)) < 1e-6
    assert pose.calls <= 2 * SEARCH_ANGLES + 1
    # the model unsure at every rotation and every ROI refined from one: nobody
    assert search_person(image, _TiltedPose(math.nan)) is None  # type: ignore[arg-type]


def test_photo_matte_keeps_a_person_only_the_rotation_search_found() -> None:
    image, truth = _lying_person()
    frame = Frame(image=image, timestamp_ns=0, index=0)
    for search in (True, False):
        estimator = PhotoEstimator(
            _BlindSegmenter(),
            MatteOptions(subject="main"),
            detector=_FixedDetector([]),
            pose=_UprightOnlyPose(),
            search=search,
        )
        alpha = PhotoApplier().apply(estimator.compute(frame), frame)
        if search:
            assert estimator.last.found is not None and binary_iou(alpha, truth) > 0.8
        else:
            assert binary_iou(alpha, truth) < 0.1


def test_rotation_search_finds_a_real_person_upside_down() -> None:
    """A frame of the bundled sample clip, shrunk onto a plain canvas and turned 180 degrees."""
    av = pytest.importorskip("av")
    from livebokeh.sources.sample import sample_path

    with av.open(str(sample_path())) as clip:
        first = next(clip.decode(video=0)).to_ndarray(format="bgr24")
    h, w = first.shape[:2]
    small = cv2.resize(first, (int(w * 0.6), int(h * 0.6)), interpolation=cv2.INTER_AREA)
    canvas = np.full((h, w, 3), 128, np.uint8)
    y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    upside_down = np.ascontiguousarray(canvas[::-1, ::-1])
    pose = PoseSegmenter()
    found = search_person(upside_down, pose)
    assert found is not None and found.presence >= 0.85
    bx0, by0, bx1, by1 = found.body
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    assert x0 <= cx <= w - x0 and y0 <= cy <= h - y0  # on the pasted person, not the canvas
    assert search_person(np.full_like(canvas, 128), pose) is None


class _MeetingSegmenter(_ColourSegmenter):
    """A first pass that waits (up to ``wait_s``) for the detector to be running before it answers."""

    def __init__(self, detector_running: threading.Event, *, fail: bool = False, wait_s: float = 5.0) -> None:
        self.detector_running = detector_running
        self.wait_s = wait_s
        self.saw_detector: bool | None = None  # at the first call (later ones are crops)
        self.fail = fail

    def segment(self, image: np.ndarray) -> np.ndarray:
        if self.saw_detector is None:
            self.saw_detector = self.detector_running.wait(self.wait_s)
        if self.fail:
            raise RuntimeError("first pass failed")
        return super().segment(image)


class _MeetingDetector(_FixedDetector):
    """A detector that says when it runs and takes its time; records the threads it ran on."""

    def __init__(self, people: list[Person]) -> None:
        super().__init__(people)
        self.running = threading.Event()
        self.finished = False
        self.threads: list[str] = []

    def detect(self, image: np.ndarray) -> list[Person]:
        self.threads.append(threading.current_thread().name)
        self.running.set()
        time.sleep(0.05)
        self.finished = True
        return super().detect(image)


class _InOrderPhotoEstimator(PhotoEstimator):
    people_aside = False


def test_photo_finds_people_while_the_first_pass_runs() -> None:
    """The detectors of a photo run beside the first pass (on two cores that is their latency hidden)
    and the mask is the one the steps make in order; video keeps them in its own thread."""
    image, _ = _lying_person()
    person = Person(body=(70.0, 70.0, 230.0, 230.0), score=0.9, sources=["face-full"])
    masks = {}
    for aside in (True, False):
        detector = _MeetingDetector([person])
        seg = _MeetingSegmenter(detector.running, wait_s=5.0 if aside else 0.2)  # in order it cannot start first
        kind = PhotoEstimator if aside else _InOrderPhotoEstimator
        estimator = kind(seg, MatteOptions(), detector=detector, pose=_RedPose(), search=False)
        masks[aside] = estimator.compute(Frame(image=image, timestamp_ns=0, index=0)).alpha
        # side by side, the first pass sees the detector start; in order, it waits for it in vain
        assert seg.saw_detector is aside
        assert (detector.threads[0] != threading.current_thread().name) is aside
    np.testing.assert_array_equal(masks[True], masks[False])
    assert not VideoEstimator.people_aside and PhotoEstimator.people_aside


def test_photo_first_pass_error_waits_for_the_detectors() -> None:
    """A failing first pass is raised only once the detectors (which the next photo would use) are done."""
    image, _ = _lying_person()
    detector = _MeetingDetector([Person(body=(70.0, 70.0, 230.0, 230.0), score=0.9, sources=["face-full"])])
    seg = _MeetingSegmenter(detector.running, fail=True)
    estimator = PhotoEstimator(seg, MatteOptions(), detector=detector, pose=_RedPose(), search=False)
    with pytest.raises(RuntimeError, match="first pass failed"):
        estimator.compute(Frame(image=image, timestamp_ns=0, index=0))
    assert detector.finished


def test_parallel_detectors_find_the_same_people_as_one_after_another() -> None:
    """The face and pose detectors in two threads give the people that running them in turn gives."""
    import av

    from livebokeh.people import PersonDetector

    with av.open(str(Path(__file__).parents[1] / "livebokeh" / "data" / "sample.mp4")) as clip:
        image = next(clip.decode(video=0)).to_ndarray(format="bgr24")
    found = {}
    for parallel in (True, False):
        detector = PersonDetector(parallel=parallel)
        try:
            found[parallel] = detector.detect(image)
        finally:
            detector.close()
    assert found[True], "nobody found in the sample clip's first frame"
    assert [(p.body, p.face, p.sources) for p in found[True]] == [(p.body, p.face, p.sources) for p in found[False]]

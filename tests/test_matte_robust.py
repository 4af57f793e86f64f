"""The matte is never worse than the model where the model is sure; MODNet's contract; crowd selfies."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from matte_fakes import RedPose

from livebokeh.config import MatteOptions
from livebokeh.errors import ModelLoadError
from livebokeh.evaluation import read_mask
from livebokeh.frames import Frame
from livebokeh.matte import Matte, PhotoApplier, PhotoEstimator, VideoEstimator
from livebokeh.matte.confident import CONFIDENT, protect_confident
from livebokeh.matte.matting import fuse_matting
from livebokeh.people import Person, PersonRoi, crop_roi
from livebokeh.sources.images import read_image


class _RedSegmenter:
    """A stand-in first pass: 'person' (probability 0.95) where the red channel is bright, at 64x64."""

    name = "red"
    runtime = "numpy"

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        return 64, 64

    def segment(self, image: np.ndarray) -> np.ndarray:
        small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
        return np.where(small[:, :, 2] > 128, np.float32(0.95), np.float32(0.02)).astype(np.float32)

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        return self.segment(image)

    def close(self) -> None:
        pass


class _WrongPose:
    """A per-person model that is sure the ROI holds a person but segments none of it (a pose model locked
    onto someone behind, whose mask lies elsewhere)."""

    size = 64
    last_track = None

    def __init__(self) -> None:
        self.calls = 0

    def segment_roi(self, image: np.ndarray, roi: PersonRoi) -> tuple[np.ndarray, float]:
        self.calls += 1
        crop_roi(image, roi, self.size)  # the real model reads the crop too
        return np.zeros((self.size, self.size), np.float32), 0.99


class _Detector:
    def __init__(self, people: list[Person]) -> None:
        self.people = people

    def detect(self, image: np.ndarray) -> list[Person]:
        return list(self.people)


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 240x320 picture with a big red 'person' and a small red object far from it; both masks."""
    img = np.full((240, 320, 3), 60, np.uint8)
    big = np.zeros((240, 320), bool)
    big[60:240, 110:230] = True
    small = np.zeros((240, 320), bool)
    small[16:56, 16:56] = True  # 2 % of the frame, far from the person, 7 % of the big blob
    img[big | small] = (40, 40, 250)
    return img, big, small


def _core(mask: np.ndarray, px: int = 12) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def test_a_confident_region_survives_every_refinement_with_subject_all() -> None:
    img, big, small = _scene()
    # a whole-body detection whose pose pass (wrongly) replaces the big blob with someone else's mask
    roi = PersonRoi(centre=(170.0, 150.0), side=200.0, rotation=0.0)
    person = Person(body=(110.0, 60.0, 230.0, 240.0), score=0.9, roi=roi, sources=["pose-detection"])
    pose = _WrongPose()
    estimator = PhotoEstimator(
        _RedSegmenter(), MatteOptions(subject="all"), detector=_Detector([person]), pose=pose, search=False
    )
    frame = Frame(image=img, timestamp_ns=0, index=0)
    alpha = PhotoApplier().apply(estimator.compute(frame), frame)
    assert pose.calls == 1 and estimator.last.pose_people == 1  # the pass ran and was merged
    assert (alpha[_core(big)] >= 128).all()  # what the model was sure of is still there
    assert (alpha[_core(small, 8)] >= 128).all()  # a confident object far from the person is not a stray blob
    near = cv2.dilate((big | small).astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert (alpha[~near] < 128).all()  # and nothing else was added


def test_protect_confident_keeps_cores_not_edges_specks_or_other_people() -> None:
    first = np.full((64, 64), 0.05, np.float32)
    first[10:50, 10:40] = 0.95  # a person
    first[55:57, 55:57] = 0.95  # a speck (0.1 % of the frame)
    inside = np.zeros((128, 128), bool)
    inside[20:100, 20:80] = True
    refined = np.zeros((128, 128), np.float32)  # a refinement step that erased everything
    out = protect_confident(refined, first)
    assert out.shape == (128, 128)
    assert (out[inside] >= 0.5).all()  # an erased region comes back whole
    assert (out[~cv2.dilate(inside.astype(np.uint8), np.ones((11, 11), np.uint8)).astype(bool)] == 0).all()
    assert out[110:114, 110:114].max() == 0  # the speck stays as the refinement left it
    trimmed = np.where(_core(inside, 3), np.float32(1.0), np.float32(0.0))  # a step moved the edge by 3 px
    assert np.array_equal(protect_confident(trimmed, first), trimmed)  # edges are the refinement's to move
    refined = trimmed.copy()
    refined[50:60, 40:60] = 0.0  # ... and punched a hole in the middle
    assert (protect_confident(refined, first)[50:60, 40:60] >= CONFIDENT).all()
    # subject="main": a confident region outside the subject's box is someone else's, blurred on purpose
    erased = np.zeros((128, 128), np.float32)
    main = protect_confident(erased, first, subject=(300.0, 300.0, 400.0, 400.0), frame_size=(640, 640))
    assert (main == 0).all()
    mine = protect_confident(erased, first, subject=(100.0, 100.0, 400.0, 500.0), frame_size=(640, 640))
    assert (mine[_core(inside, 6)] >= CONFIDENT).all()


def test_a_per_person_outline_may_trim_a_confident_region_but_not_erase_it() -> None:
    first = np.full((64, 64), 0.05, np.float32)
    first[10:50, 10:54] = 0.95  # the model is sure of one blob over two people and the gap between them
    inside = np.zeros((128, 128), bool)
    inside[20:100, 20:108] = True
    refined = np.where(inside, np.float32(1.0), np.float32(0.0))
    refined[20:100, 60:68] = 0.0  # a per-person pass cut the gap out
    outlined = np.zeros((128, 128), np.uint8)
    outlined[10:110, 50:78] = 1  # ... where it drew a person's outline
    assert np.array_equal(protect_confident(refined, first, outlined=outlined), refined)  # the cut stands
    assert (protect_confident(refined, first)[30:90, 60:68] >= CONFIDENT).all()  # without that evidence: put back
    elsewhere = np.zeros((128, 128), np.uint8)
    elsewhere[:, 110:] = 1  # an outline that does not cover the cut is no evidence for it
    assert (protect_confident(refined, first, outlined=elsewhere)[30:90, 60:68] >= CONFIDENT).all()
    erased = np.zeros((128, 128), np.float32)  # a step that erased the region, outline or not: it comes back whole
    assert (protect_confident(erased, first, outlined=np.ones((128, 128), np.uint8))[inside] >= 0.5).all()


def test_matting_moves_edges_but_cannot_add_or_remove_a_region() -> None:
    prob = np.zeros((64, 64), np.float32)
    prob[16:48, 16:48] = 1.0
    wrong = np.ones((128, 128), np.float32)  # a matting model that calls everything person (a chair, a wall)
    wrong[48:80, 48:80] = 0.0  # ... and punches a hole in the middle of the person
    fused, weight = fuse_matting(prob, wrong)
    assert fused.shape == weight.shape == (128, 128)
    assert fused[:10, :10].max() == 0.0 and fused[60:68, 60:68].min() == 1.0  # far from the edge: segmentation
    edge_band = weight > 0
    assert edge_band[32, 20:44].any() and not edge_band[64, 64]  # its alpha counts only near the contour
    sharper = np.zeros((128, 128), np.float32)
    sharper[32:96, 34:96] = 1.0  # the matting edge 2 px right of the segmentation's on the left side
    moved, _ = fuse_matting(prob, sharper)
    assert moved[64, 33] < 0.5 <= moved[64, 35]


# --- MODNet (ONNX Runtime) -----------------------------------------------------------------------


def test_quality_best_without_onnxruntime_runs_on_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the extra MODNet runs on OpenCV's DNN module (every install has it): the same alpha."""
    from livebokeh.segmentation.onnx import OnnxMatting, matting_available

    img, person = _constructed_person()
    reference = None
    if matting_available():
        with OnnxMatting() as model:
            assert model.runtime == "onnxruntime"
            reference = model.segment(img)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    assert not matting_available()
    with OnnxMatting() as model:
        assert model.runtime == "opencv"
        alpha = model.segment(img)
        assert alpha.dtype == np.float32 and alpha.shape == model.input_size_for(img.shape)
        assert 0.0 <= alpha.min() and alpha.max() <= 1.0
        soft = cv2.resize(alpha, (120, 150))
        assert soft[person].mean() > soft[~person].mean() + 0.3
        with ThreadPoolExecutor(2) as pool:  # one net shared by the two views of mirrored_alpha
            both = list(pool.map(model.segment, [img, img]))
        np.testing.assert_array_equal(both[0], alpha)
        np.testing.assert_array_equal(both[1], alpha)
    if reference is not None:
        np.testing.assert_allclose(alpha, reference, atol=1e-3)  # a quarter of an 8-bit level
    monkeypatch.setenv("LIVEBOKEH_MATTING_RUNTIME", "onnxruntime")  # forced, and missing: one clear line
    with pytest.raises(ModelLoadError, match=r"pip install 'livebokeh\[onnx\]'"):
        OnnxMatting()
    monkeypatch.setenv("LIVEBOKEH_MATTING_RUNTIME", "tensorrt")
    with pytest.raises(ModelLoadError, match="use one of onnxruntime, opencv"):
        OnnxMatting()


@pytest.mark.parametrize("runtime", ["onnxruntime", "opencv"])
def test_a_file_that_is_no_matting_model_is_one_clear_error(
    runtime: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from livebokeh.segmentation.onnx import OnnxMatting, matting_available

    if runtime == "onnxruntime" and not matting_available():
        pytest.skip("ONNX Runtime is not installed")
    monkeypatch.setenv("LIVEBOKEH_MATTING_RUNTIME", runtime)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all" * 100)
    with pytest.raises(ModelLoadError, match=r"cannot load matting model .*junk\.onnx"):
        OnnxMatting(junk)
    selfie = Path(__file__).parents[1] / "models" / "pose_detection.tflite"  # a model, of another format
    with pytest.raises(ModelLoadError, match="matting model"):
        OnnxMatting(selfie)


def test_modnet_contract_on_a_small_constructed_picture() -> None:
    """On ONNX Runtime where installed, else on OpenCV's DNN module."""
    from livebokeh.segmentation.onnx import OnnxMatting, matting_size

    for shape in [(75, 100, 3), (1080, 1920, 3), (3000, 4000, 3), (33, 500, 3)]:
        h, w = matting_size(shape)
        assert h % 32 == 0 and w % 32 == 0 and min(h, w) >= 32
    assert matting_size((480, 640, 3)) == (320, 416)  # short side 320, the long one in proportion
    img, person = _constructed_person()
    with OnnxMatting() as model:
        alpha = model.segment(img)
        assert alpha.dtype == np.float32 and alpha.shape == model.input_size_for(img.shape)
        assert 0.0 <= alpha.min() and alpha.max() <= 1.0
        soft = cv2.resize(alpha, (120, 150))
        assert soft[person].mean() > soft[~person].mean() + 0.3  # alpha, not noise: high on the figure


def _constructed_person() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:150, 0:120]
    img = np.full((150, 120, 3), (40, 160, 60), np.uint8)  # a green wall
    person = ((xx - 60) / 28.0) ** 2 + ((yy - 55) / 34.0) ** 2 < 1.0  # a head ...
    person |= (yy > 85) & (np.abs(xx - 60) < 45)  # ... on shoulders
    img[person] = (90, 120, 200)
    return img, person


def test_modnet_optimised_graph_is_cached_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ort = pytest.importorskip("onnxruntime")
    from livebokeh.segmentation.onnx import OnnxMatting

    monkeypatch.setenv("LIVEBOKEH_CACHE_DIR", str(tmp_path))
    opened: list[tuple[str, object]] = []
    session = ort.InferenceSession

    def recording(path: str, opts: object, **kwargs: object) -> object:
        opened.append((Path(path).name, opts.graph_optimization_level))  # type: ignore[attr-defined]
        return session(path, opts, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", recording)
    img, _ = _constructed_person()
    with OnnxMatting() as model:
        first = model.segment(img)
    cached = list((tmp_path / "onnx").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".onnx"  # one graph, no .part left behind
    assert opened[-1][0] == "modnet.onnx"
    with OnnxMatting() as model:
        again = model.segment(img)
    assert opened[-1] == (cached[0].name, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)  # loaded as it is
    np.testing.assert_allclose(again, first, atol=1e-5)

    cached[0].write_bytes(b"not a model")  # damaged: made again from the bundled file
    with OnnxMatting() as model:
        np.testing.assert_allclose(model.segment(img), first, atol=1e-5)
    assert opened[-2][0] == cached[0].name and opened[-1][0] == "modnet.onnx"
    assert cached[0].stat().st_size > 1_000_000 and [p.name for p in (tmp_path / "onnx").iterdir()] == [cached[0].name]


def test_modnet_opens_without_a_writable_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    from livebokeh.segmentation.onnx import OnnxMatting, cache_dir

    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("LIVEBOKEH_CACHE_DIR", str(blocker))
    img, person = _constructed_person()
    with OnnxMatting() as model:
        soft = cv2.resize(model.segment(img), (120, 150))
    assert soft[person].mean() > soft[~person].mean() + 0.3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    monkeypatch.setenv("LIVEBOKEH_CACHE_DIR", "")
    assert cache_dir() is None  # set but empty: no cache


def test_quality_best_runs_the_matting_model_on_photos() -> None:
    img, big, _ = _scene()
    frame = Frame(image=img, timestamp_ns=0, index=0)
    matte = Matte(_RedSegmenter(), MatteOptions(quality="best", crops=False), video=False)
    alpha = matte.apply_to(matte.compute(frame), frame)
    assert matte.last.matting is not None and matte.last.matting.max() == 1.0
    assert (alpha[_core(big)] >= 128).all() and (alpha[_core(~big)] < 128).mean() > 0.95


class _RedMatting(_RedSegmenter):
    """A stand-in matting model: alpha 1 where the red channel is bright, at 64x64; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def segment(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        return (super().segment(image) > 0.5).astype(np.float32)


def test_quality_auto_mats_photos_where_onnxruntime_is_installed_not_video(monkeypatch: pytest.MonkeyPatch) -> None:
    img, _, _ = _scene()
    frame = Frame(image=img, timestamp_ns=0, index=0)
    assert MatteOptions().quality == "auto"
    photo = PhotoEstimator(_RedSegmenter(), MatteOptions(crops=False), matting=_RedMatting())
    photo.compute(frame)
    assert photo.last.matting is not None and photo.matting_on
    matting = _RedMatting()
    video = VideoEstimator(_RedSegmenter(), MatteOptions(crops=False), matting=matting)
    video.compute(frame)
    assert video.last.matting is None and matting.calls == 0  # video has no time for it
    forced = VideoEstimator(_RedSegmenter(), MatteOptions(crops=False, quality="best"), matting=_RedMatting())
    forced.compute(frame)
    assert forced.last.matting is not None  # convert --quality best
    fast = PhotoEstimator(_RedSegmenter(), MatteOptions(crops=False, quality="fast"), matting=matting)
    fast.compute(frame)
    assert fast.last.matting is None and matting.calls == 0
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    without = PhotoEstimator(_RedSegmenter(), MatteOptions(crops=False))
    without.compute(frame)
    assert without.last.matting is None and not without.matting_on  # auto falls back to the selfie models


def test_video_mask_keeps_its_doubt_only_with_the_matting_model() -> None:
    class Unsure(_RedSegmenter):
        def segment(self, image: np.ndarray) -> np.ndarray:
            prob = super().segment(image)
            prob[:, :24] = 0.45  # the left part: a crowd the model is unsure of
            return prob

    img, _, _ = _scene()
    frame = Frame(image=img, timestamp_ns=0, index=0)
    left = (slice(8, 56), slice(2, 20))
    fast = VideoEstimator(Unsure(), MatteOptions(crops=False, quality="fast")).compute(frame).alpha
    best = VideoEstimator(Unsure(), MatteOptions(crops=False, quality="best"), matting=_RedMatting()).compute(frame)
    fast = cv2.resize(fast, (64, 64), interpolation=cv2.INTER_AREA)
    kept = cv2.resize(best.alpha, (64, 64), interpolation=cv2.INTER_AREA)
    assert fast[left].max() < 0.2  # pushed out of the band of doubt
    assert abs(float(np.median(kept[left])) - 0.45) < 0.02  # convert --quality best: left as the models say


# --- crowd selfies (real portraits pasted in front of real crowds) ------------------------------------

CROWDS = {
    "all": [
        ("eg1800-00248", "cihp-0012008", 0.7, 0.5),
        ("eg1800-02542", "cihp-0012008", 0.7, 0.5),
        ("eg1800-02447", "davis16-breakdance-00000", 0.7, 0.5),
        ("eg1800-01081", "cihp-0012008", 0.7, 0.5),
        ("eg1800-02447", "cihp-0012008", 0.9, 0.0),
    ],
    "main": [
        ("eg1800-00248", "davis16-breakdance-00000", 0.7, 0.5),
        ("eg1800-01204", "davis16-breakdance-00040", 0.7, 0.5),
        ("eg1800-00133", "cihp-0012008", 0.7, 0.5),
        ("eg1800-00382", "cihp-0012008", 0.7, 0.5),
        ("eg1800-02064", "davis16-breakdance-00000", 0.7, 0.5),
    ],
}
"""Composites on which the matte before these checks erased most of the foreground person: it kept 12-39 %
(``all``) and 0-5 % (``main``) of the pasted person, where the raw model keeps 93-100 %."""


def crowd_selfie(data: Path, portrait: str, crowd: str, scale: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """A portrait (from ``portraits-large``) pasted ``scale`` frames tall at the bottom centre of a 3:4 cut of a
    multi-person photo (from ``persons``), the cut moved ``shift`` of the way to the right; picture and the
    pasted person's mask, 480x640."""
    src, mask = (
        read_image(data / "portraits-large" / f"{portrait}.jpg"),
        read_mask(data / "portraits-large" / f"{portrait}.png"),
    )
    back = read_image(data / "persons" / f"{crowd}.jpg")
    bh, bw = back.shape[:2]
    cw = int(bh * 0.75)
    x0 = (bw - cw) // 2 + int(shift * (bw - cw) / 2)
    out = cv2.resize(back[:, x0 : x0 + cw], (480, 640))
    ph = int(640 * scale)
    pw = int(src.shape[1] * ph / src.shape[0])
    pi = cv2.resize(src, (pw, ph))
    pm = cv2.resize(mask, (pw, ph), interpolation=cv2.INTER_NEAREST) > 127
    ox, oy = (480 - pw) // 2, 640 - ph
    xs0, xs1 = max(0, ox), min(480, ox + pw)
    part = pm[:, xs0 - ox : xs1 - ox]
    truth = np.zeros((640, 480), bool)
    out[oy:, xs0:xs1][part] = pi[:, xs0 - ox : xs1 - ox][part]
    truth[oy:, xs0:xs1] = part
    return out, truth


@pytest.mark.slow
@pytest.mark.parametrize("subject", ["all", "main"])
def test_crowd_selfie_keeps_the_foreground_person(shared_data: Path, subject: str) -> None:
    from livebokeh.segmentation import create_segmenter

    seg = create_segmenter("auto")
    matte = Matte(seg, MatteOptions(subject=subject, temporal=False), video=False)
    for portrait, crowd, scale, shift in CROWDS[subject]:
        img, truth = crowd_selfie(shared_data, portrait, crowd, scale, shift)
        frame = Frame(image=img, timestamp_ns=0, index=0)
        alpha = matte.apply_to(matte.compute(frame), frame)
        kept = float((alpha[truth] >= 128).mean())
        assert kept > 0.9, (portrait, crowd, scale, shift, kept)
    seg.close()


# --- group scenes: per-person passes at a lower rate ---------------------------------------------------


class _CropCounter(_RedSegmenter):
    """Counts the crop pass's calls (``segment``); the first pass of a stream uses ``segment_for_video``."""

    def __init__(self) -> None:
        self.crops = 0

    def segment(self, image: np.ndarray) -> np.ndarray:
        self.crops += 1
        return super().segment(image)

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        return super().segment(image)


class _SmearingCropCounter(_CropCounter):
    """As :class:`_CropCounter`, but the first pass is in doubt (0.6) over the whole-body people (taller than a
    third of the frame), as the selfie model is over a full body: those need the pose pass."""

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        prob = super().segment_for_video(image, timestamp_ns)
        rows = prob >= 0.5
        tall = rows.sum(axis=0) > prob.shape[0] / 3  # columns crossed by a tall person
        prob[:, tall] = np.where(rows[:, tall], np.float32(0.6), prob[:, tall])
        return prob


def test_group_scene_per_person_passes_run_at_a_lower_rate() -> None:
    from livebokeh.matte import VideoEstimator
    from livebokeh.matte.estimate_video import CROPS_PER_MASK, VIDEO_POSE_PEOPLE

    h, w = 360, 640
    img = np.full((h, w, 3), 60, np.uint8)
    people = []
    for i in range(5):  # five small people along the back: each would get a selfie crop every frame
        x = 30 + 120 * i
        img[40:110, x : x + 30] = (40, 40, 250)
        people.append(Person(body=(x - 5.0, 35.0, x + 35.0, 115.0), score=0.9, sources=["face-full"]))
    for x in (180, 420):  # two whole-body people in front: the pose pass, every frame
        img[150:350, x : x + 60] = (40, 40, 250)
        roi = PersonRoi(centre=(x + 30.0, 250.0), side=260.0, rotation=0.0)
        people.append(Person(body=(x - 10.0, 140.0, x + 70.0, 355.0), score=0.9, roi=roi, sources=["pose-detection"]))
    seg, pose = _SmearingCropCounter(), RedPose(score=0.95)
    est = VideoEstimator(seg, MatteOptions(temporal=False), detector=_Detector(people), pose=pose)
    frames = 30
    merged = []
    for i in range(frames):
        est.compute(Frame(image=img, timestamp_ns=i * 33_333_333, index=i))
        merged.append((est.last.crops, est.last.pose_people))
    assert seg.crops <= frames * CROPS_PER_MASK + 1
    assert pose.calls <= frames * VIDEO_POSE_PEOPLE  # the pose pass is capped per mask, not per person
    # ... and yet every person's own result is merged into every mask once each has had a turn
    assert all(crops == 5 + 2 and pose_people == 2 for crops, pose_people in merged[10:]), merged
    assert seg.crops < 5 * frames / 4  # against one crop per small person per mask before
    assert seg.crops <= 5 + 1  # and these people stand still: each crop is segmented once


def test_group_scene_crop_of_someone_moving_goes_first() -> None:
    from livebokeh.matte import VideoEstimator

    h, w = 360, 640
    people = []
    for i in range(5):  # five small people along the back, the middle one moving
        x = 30 + 120 * i
        people.append(Person(body=(x - 5.0, 35.0, x + 55.0, 115.0), score=0.9, sources=["face-full"]))
    segmented: list[int] = []

    class Spy(_CropCounter):
        def segment(self, image: np.ndarray) -> np.ndarray:
            segmented.append(int(image[:, :, 2].max()))  # the mover wears a darker red
            return super().segment(image)

    seg = Spy()
    est = VideoEstimator(seg, MatteOptions(temporal=False), detector=_Detector(people))
    frames = 20
    for i in range(frames):
        img = np.full((h, w, 3), 60, np.uint8)
        for k in range(5):
            x = 30 + 120 * k + (12 * (i % 2) if k == 2 else 0)  # steps to and fro inside their box
            img[40:110, x : x + 30] = (40, 40, 230 if k == 2 else 250)
        before = seg.crops
        mask = est.compute(Frame(image=img, timestamp_ns=i * 33_333_333, index=i))
        if i >= 5:  # everyone has had a first turn: from then on only the mover's crop is segmented
            assert seg.crops - before == 1 and segmented[-1] == 230
            alpha = cv2.resize(mask.alpha, (w, h))
            x = 270 + 12 * (i % 2)
            assert alpha[60:90, x + 8 : x + 22].min() > 0.5  # where they are now
    assert seg.crops == 5 + (frames - 5)


def test_still_people_reuse_their_pose_result_and_movers_do_not() -> None:
    from livebokeh.matte.estimate_video import POSE_REUSE

    h, w = 360, 640
    people = []
    for x in (120, 420):  # two whole-body people: the left one stands still, the right one waves
        roi = PersonRoi(centre=(x + 30.0, 250.0), side=260.0, rotation=0.0)
        people.append(Person(body=(x - 10.0, 140.0, x + 130.0, 355.0), score=0.9, roi=roi, sources=["pose-detection"]))
    runs = {"still": 0, "waving": 0}

    class Counting(RedPose):
        def segment_roi(self, image: np.ndarray, roi: PersonRoi) -> tuple[np.ndarray, float]:
            runs["still" if roi.centre[0] < w / 2 else "waving"] += 1
            return super().segment_roi(image, roi)

    est = VideoEstimator(
        _SmearingCropCounter(), MatteOptions(temporal=False), detector=_Detector(people), pose=Counting(0.95)
    )
    frames = 24
    for i in range(frames):
        img = np.full((h, w, 3), 60, np.uint8)
        img[150:350, 120:180] = (40, 40, 250)
        img[150:350, 420:480] = (40, 40, 250)
        y = 150 + 50 * (i % 4)  # an arm held out at another height every frame
        img[y : y + 40, 470:540] = (40, 40, 250)
        mask = est.compute(Frame(image=img, timestamp_ns=i * 33_333_333, index=i))
        alpha = cv2.resize(mask.alpha, (w, h))
        assert est.last.pose_people == 2  # both people's own results are in every mask ...
        assert alpha[200:300, 130:170].min() > 0.9 and alpha[200:300, 60:100].max() < 0.1  # ... in place
        assert alpha[y + 10 : y + 30, 500:530].min() > 0.5  # the waving arm is where it is now
        assert alpha[(y + 140) % 200 + 160, 500:530].max() < 0.5  # ... not where it was
    assert runs["waving"] == frames  # segmented afresh every mask
    assert runs["still"] <= -(-frames // POSE_REUSE) + 1  # about once per POSE_REUSE masks


def test_video_pose_pass_is_skipped_for_someone_the_first_pass_segments_cleanly() -> None:
    from livebokeh.matte.estimate_video import segmented_cleanly

    h, w = 360, 640
    people = []
    for x in (120, 420):  # two whole-body people; the first pass is sure of the left one, in doubt over the right
        roi = PersonRoi(centre=(x + 30.0, 250.0), side=260.0, rotation=0.0)
        people.append(Person(body=(x - 10.0, 140.0, x + 70.0, 355.0), score=0.9, roi=roi, sources=["pose-detection"]))
    segmented: list[float] = []

    class Counting(RedPose):
        def segment_roi(self, image: np.ndarray, roi: PersonRoi) -> tuple[np.ndarray, float]:
            segmented.append(roi.centre[0])
            return super().segment_roi(image, roi)

    class HalfSure(_RedSegmenter):
        def segment(self, image: np.ndarray) -> np.ndarray:
            prob = super().segment(image)
            prob[:, 32:] = np.where(prob[:, 32:] > 0.5, np.float32(0.6), prob[:, 32:])  # the right half: in doubt
            return prob

    img = np.full((h, w, 3), 60, np.uint8)
    img[150:350, 120:180] = (40, 40, 250)
    img[150:350, 420:480] = (40, 40, 250)
    first = HalfSure().segment(img)
    assert segmented_cleanly(first, people[0].body, (h, w))
    assert not segmented_cleanly(first, people[1].body, (h, w))
    for subject, expected in (("all", {450.0}), ("main", None)):
        segmented.clear()
        opts = MatteOptions(temporal=False, subject=subject)
        est = VideoEstimator(HalfSure(), opts, detector=_Detector(people), pose=Counting(0.95))
        for i in range(3):
            mask = est.compute(Frame(image=img, timestamp_ns=i * 33_333_333, index=i))
        if expected is not None:
            assert set(segmented) == expected  # only the one the first pass smears
            alpha = cv2.resize(mask.alpha, (w, h))
            assert alpha[200:300, 130:170].min() > 0.9 and alpha[200:300, 430:470].min() > 0.9  # both kept
        else:
            assert segmented  # --subject main: the subject's pose pass is its positive evidence, never skipped

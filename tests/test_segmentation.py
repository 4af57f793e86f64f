"""Segmentation engine: runtimes, model choice by aspect ratio, output contract, DeepLab backend."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from livebokeh.errors import ModelLoadError
from livebokeh.segmentation import TFLiteSegmenter, create_segmenter
from livebokeh.segmentation.runtime import available_runtimes, interpreter_class

RUNTIMES = available_runtimes()


def _portrait_like(h: int, w: int) -> np.ndarray:
    """A crude head-and-shoulders figure on a flat wall (enough for the model to respond)."""
    img = np.full((h, w, 3), (200, 210, 205), np.uint8)
    cx = w // 2
    cv2.ellipse(img, (cx, int(h * 0.38)), (int(h * 0.13), int(h * 0.17)), 0, 0, 360, (120, 150, 200), -1)
    cv2.ellipse(img, (cx, h), (int(h * 0.4), int(h * 0.38)), 0, 180, 360, (60, 40, 30), -1)
    return img


def test_at_least_one_runtime_loads_and_reports_its_name() -> None:
    assert RUNTIMES, "no TFLite runtime importable"
    cls, name = interpreter_class()
    assert name in RUNTIMES and callable(cls)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_each_installed_runtime_gives_the_same_mask(runtime: str) -> None:
    img = _portrait_like(256, 256)
    reference = TFLiteSegmenter("selfie", runtime="ai-edge-litert" if "ai-edge-litert" in RUNTIMES else runtime)
    seg = TFLiteSegmenter("selfie", runtime=runtime)
    assert seg.runtime == runtime
    a, b = reference.segment(img), seg.segment(img)
    assert a.shape == b.shape == (256, 256)
    assert np.abs(a - b).max() < 1e-3


def test_unknown_runtime_is_a_clear_error() -> None:
    with pytest.raises(ModelLoadError, match="unknown TFLite runtime"):
        TFLiteSegmenter("selfie", runtime="onnx")


def test_mask_contract_float32_probabilities_at_model_resolution() -> None:
    seg = TFLiteSegmenter("selfie")
    mask = seg.segment(_portrait_like(480, 640))
    assert mask.dtype == np.float32 and mask.shape == (256, 256)
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    # the figure in the middle scores higher than the wall in the top corners
    assert mask[150:, 100:156].mean() > mask[:40, :40].mean() + 0.1


def test_auto_picks_landscape_model_for_wide_frames_and_square_for_others() -> None:
    seg = TFLiteSegmenter("auto")
    assert seg.input_size_for((720, 1280, 3)) == (144, 256)
    assert seg.input_size_for((480, 640, 3)) == (256, 256)
    assert seg.input_size_for((1280, 720, 3)) == (256, 256)
    assert seg.segment(_portrait_like(720, 1280)).shape == (144, 256)


def test_still_photos_keep_the_square_model_up_to_16_9() -> None:
    seg = TFLiteSegmenter("auto")
    still = seg.for_stills()
    assert still.input_size_for((200, 300, 3)) == (256, 256)  # 3:2 photo: the square model's 256 rows
    assert still.input_size_for((800, 1280, 3)) == (256, 256)  # 16:10
    assert still.input_size_for((720, 1280, 3)) == (144, 256)  # 16:9: the landscape model's own shape
    assert still.segment(_portrait_like(200, 300)).shape == (256, 256)
    assert seg.input_size_for((200, 300, 3)) == (144, 256)  # the stream choice is unchanged
    assert seg.segment(_portrait_like(200, 300)).shape == (144, 256)


def test_photo_matte_segments_with_the_still_choice_video_with_the_stream_choice() -> None:
    from livebokeh.config import MatteOptions
    from livebokeh.frames import Frame
    from livebokeh.matte import Matte

    seg = TFLiteSegmenter("auto")
    frame = Frame(image=_portrait_like(200, 300), timestamp_ns=0, index=0)
    opts = MatteOptions(crops=False, temporal=False, quality="fast")  # the selfie model's own mask size
    assert Matte(seg, opts, video=False).compute(frame).alpha.shape == (256, 256)
    assert Matte(seg, opts, video=True).compute(frame).alpha.shape == (144, 256)


def test_interpreter_is_created_once_and_reused() -> None:
    seg = TFLiteSegmenter("selfie")
    interp = next(iter(seg._models.values())).interpreter
    for _ in range(3):
        seg.segment(_portrait_like(128, 128))
    assert next(iter(seg._models.values())).interpreter is interp


def test_segment_for_video_matches_segment() -> None:
    seg = TFLiteSegmenter("selfie")
    img = _portrait_like(200, 200)
    assert np.array_equal(seg.segment(img), seg.segment_for_video(img, 123))


# --- DeepLab frozen-graph backend -----------------------------------------------------------


def _build_tiny_deeplab(path: Path) -> None:
    """A frozen graph with DeepLab's tensor names and contract: person (15) where red > 128."""
    tf = pytest.importorskip("tensorflow")
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.uint8, shape=[1, None, None, 3], name="ImageTensor")
        red = tf.cast(image[..., 0], tf.int32)
        classes = tf.where(red > 128, tf.fill(tf.shape(red), 15), tf.zeros_like(red))
        tf.cast(classes, tf.int64, name="SemanticPredictions")
    path.write_bytes(graph.as_graph_def().SerializeToString())


@pytest.fixture
def tiny_deeplab(tmp_path: Path) -> Path:
    path = tmp_path / "frozen_inference_graph.pb"
    _build_tiny_deeplab(path)
    return path


def test_deeplab_backend_follows_the_published_contract(tiny_deeplab: Path) -> None:
    seg = create_segmenter(str(tiny_deeplab))
    img = np.zeros((400, 600, 3), np.uint8)
    img[100:300, 250:400] = (0, 0, 255)  # BGR red block = "person"
    assert seg.input_size_for(img.shape) == (342, 513)  # longest side resized to 513
    mask = seg.segment(img)
    assert mask.dtype == np.float32 and mask.shape == (342, 513)
    assert set(np.unique(mask)) == {0.0, 1.0}
    up = cv2.resize(mask, (600, 400), interpolation=cv2.INTER_NEAREST)
    assert up[120:280, 270:380].min() == 1.0 and up[:80].max() == 0.0
    seg.close()


def test_deeplab_rejects_a_graph_without_its_tensors(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.placeholder(tf.float32, shape=[1], name="Something")
    path = tmp_path / "other.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(ModelLoadError, match="ImageTensor:0"):
        create_segmenter(str(path))


def test_deeplab_rejects_a_file_that_is_not_a_graph(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    path = tmp_path / "frozen_inference_graph.pb"
    path.write_bytes(b"\xff\x00garbage" * 50)
    with pytest.raises(ModelLoadError, match="not a TensorFlow frozen graph"):
        create_segmenter(str(path))

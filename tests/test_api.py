"""The public Python API: Segmenter, Effect/Compositor, Pipeline, options; custom and incompatible models."""

from __future__ import annotations

import inspect
import shutil
import time
import warnings
from pathlib import Path

import av
import numpy as np
import pytest

import livebokeh
from livebokeh import (
    Effect,
    EffectOptions,
    FrameFormatError,
    LiveOptions,
    Mask,
    ModelLoadError,
    Pipeline,
    Segmenter,
    SegmenterOptions,
    load_config,
    models,
)
from livebokeh._cli import main
from livebokeh.segmentation import SegmenterProtocol
from livebokeh.sources.sample import sample_path


@pytest.fixture(scope="module")
def person() -> np.ndarray:
    """First frame of the bundled sample clip (a person in front of a background), BGR."""
    with av.open(str(sample_path())) as container:
        frame = next(container.decode(video=0))
        return np.ascontiguousarray(frame.to_ndarray(format="bgr24"))


def person_vs_corners(mask: np.ndarray) -> tuple[float, float]:
    h, w = mask.shape
    face = float(mask[h // 3 : 2 * h // 3, w // 4 : 9 * w // 20].mean())  # the astronaut is left of centre
    corners = float(np.concatenate([mask[: h // 6, : w // 16].ravel(), mask[: h // 6, -w // 8 :].ravel()]).mean())
    return face, corners


# --- the public surface ----------------------------------------------------------------------------


def test_everything_public_is_importable_documented_and_typed() -> None:
    for name in livebokeh.__all__:
        obj = getattr(livebokeh, name)
        if name == "__version__":
            continue
        assert inspect.getdoc(obj), f"livebokeh.{name} has no docstring"
    assert (Path(livebokeh.__file__).parent / "py.typed").is_file()
    for cls in (Segmenter, Effect, Pipeline):
        for meth_name, meth in inspect.getmembers(cls, inspect.isfunction):
            if not meth_name.startswith("_"):
                assert inspect.getdoc(meth), f"{cls.__name__}.{meth_name} has no docstring"
                assert "return" in inspect.get_annotations(meth), f"{cls.__name__}.{meth_name} lacks type hints"


def test_options_are_frozen_keyword_only_dataclasses() -> None:
    for cls in (EffectOptions, SegmenterOptions, livebokeh.MatteOptions, LiveOptions):
        opts = cls()
        with pytest.raises((AttributeError, TypeError)):
            opts.x = 1  # type: ignore[attr-defined]
        first = next(iter(cls.__dataclass_fields__))
        with pytest.raises(TypeError):
            cls(getattr(opts, first))  # positional arguments are refused


# --- Segmenter -------------------------------------------------------------------------------------


def test_segmenter_with_no_arguments_loads_the_default_model(person: np.ndarray) -> None:
    with Segmenter() as seg:
        assert seg.name == models.DEFAULT_MODEL
        assert isinstance(seg, SegmenterProtocol)
        mask = seg.segment(person)
        assert mask.dtype == np.float32 and mask.shape == seg.input_size_for(person.shape)
        assert 0.0 <= mask.min() and mask.max() <= 1.0
        centre, corners = person_vs_corners(mask)
        assert centre > 0.8 and corners < 0.2, (centre, corners)
        video = seg.segment_for_video(person, 1_000_000)
        np.testing.assert_allclose(video, mask, atol=1e-6)


def test_segmenter_checks_the_frame_at_the_boundary() -> None:
    with Segmenter("selfie") as seg:
        with pytest.raises(FrameFormatError, match=r"uint8 array of shape \(H, W, 3\), got float64 \(10, 10\)"):
            seg.segment(np.zeros((10, 10)))
        with pytest.raises(FrameFormatError, match="got list"):
            seg.segment([[0, 0, 0]])  # type: ignore[arg-type]


def test_segmenter_from_config_options(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nmodel = "selfie-landscape"\nthreads = 2\n')
    with Segmenter.from_options(load_config(cfg).segmenter) as seg:
        assert seg.name == "selfie-landscape" and seg.options.threads == 2
        assert seg.input_size_for((720, 720, 3)) == (144, 256)


# --- Effect / Compositor ---------------------------------------------------------------------------


def test_effect_applies_a_low_resolution_mask(textured_image: np.ndarray) -> None:
    h, w = textured_image.shape[:2]
    mask = np.zeros((24, 32), np.float32)
    mask[:, :16] = 1.0  # left half is the person
    out = Effect(effect="blur", strength=0.6, refine=False).apply(textured_image, mask)
    assert out.shape == textured_image.shape and out.dtype == np.uint8
    person_diff = np.abs(out[:, : w // 2 - 20].astype(int) - textured_image[:, : w // 2 - 20]).mean()
    background_diff = np.abs(out[:, w // 2 + 20 :].astype(int) - textured_image[:, w // 2 + 20 :]).mean()
    assert person_diff < 2.0 and background_diff > 20.0, (person_diff, background_diff)


def test_effect_accepts_mask_objects_uint8_alpha_and_options(textured_image: np.ndarray) -> None:
    h, w = textured_image.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    alpha[:, : w // 2] = 255
    effect = Effect(EffectOptions(effect="color:#00ff00"))
    out = effect.apply(textured_image, alpha)
    assert (out[:, -10:] == (0, 255, 0)).all()
    assert (out[:, :10] == textured_image[:, :10]).all()
    m = Mask(alpha=np.ones((10, 10), np.float32), timestamp_ns=0, index=0)
    np.testing.assert_array_equal(effect.apply(textured_image, m), textured_image)
    effect.set_options(EffectOptions(effect="mask"))
    grey = effect.apply(textured_image, alpha)
    assert (grey[:, :10] == 255).all() and (grey[:, -10:] == 0).all()
    with pytest.raises(TypeError):
        Effect(EffectOptions(), effect="blur")
    with pytest.raises(livebokeh.ConfigError, match="sparkle"):
        Effect(effect="sparkle")
    with pytest.raises(FrameFormatError):
        effect.apply(textured_image, np.zeros((4, 4, 2), np.float32))


def test_segmenter_plus_effect_on_a_photo(person: np.ndarray) -> None:
    with Segmenter() as seg:
        out = Effect(effect="blur", strength=0.8).apply(person, seg.segment(person))
    h, w = person.shape[:2]
    face = (slice(h // 3, 2 * h // 3), slice(w // 4, 9 * w // 20))
    corner = (slice(0, h // 6), slice(-w // 8, None))
    assert np.abs(out[face].astype(int) - person[face]).mean() < 3.0
    assert np.abs(out[corner].astype(int) - person[corner]).mean() > np.abs(out[face].astype(int) - person[face]).mean()


# --- Pipeline --------------------------------------------------------------------------------------


def test_pipeline_iterates_frames_and_masks_headless() -> None:
    seen = 0
    masks = 0
    with Pipeline(source="synthetic:320x240@30", sinks=["null"], options=LiveOptions(realtime=False)) as pipeline:
        for frame, mask in pipeline:
            assert frame.image.shape == (240, 320, 3)
            seen += 1
            masks += mask is not None
            if seen == 30:
                break
    assert seen == 30 and masks > 0
    assert pipeline.threads_alive == []


# --- custom models by path -------------------------------------------------------------------------


def test_custom_model_by_path_matches_the_bundled_one(tmp_path: Path, person: np.ndarray) -> None:
    copy = tmp_path / "my_selfie.tflite"
    shutil.copy(models.resolve("selfie").path, copy)
    with Segmenter(copy) as custom, Segmenter("selfie") as bundled:
        assert custom.name == str(copy)
        np.testing.assert_allclose(custom.segment(person), bundled.segment(person), atol=1e-5)


def test_custom_model_on_the_command_line(
    tmp_path: Path, person: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    import cv2

    copy = tmp_path / "my_selfie.tflite"
    shutil.copy(models.resolve("selfie").path, copy)
    src, out = tmp_path / "p.png", tmp_path / "o.png"
    cv2.imwrite(str(src), person)
    assert main(["--no-config", "photo", str(src), "-o", str(out), "--model", str(copy), "-q"]) == 0
    assert out.is_file()
    assert main(["--no-config", "models", "--check", str(copy)]) == 0
    assert "is compatible" in capsys.readouterr().out


def _convert(fn: object, spec: object, path: Path, *, uint8: bool = False) -> Path:
    tf = pytest.importorskip("tensorflow")
    concrete = fn.get_concrete_function(spec)  # type: ignore[attr-defined]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    if uint8:  # full-integer quantisation: uint8 image in, uint8 probability out
        rng = np.random.default_rng(0)

        def representative() -> object:
            for _ in range(8):
                yield [rng.random((1, 64, 64, 3), dtype=np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the converter's own notes about quantisation statistics
        path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="module")
def tf_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny TFLite models built with TensorFlow: a 3-class segmenter and a non-image model."""
    tf = pytest.importorskip("tensorflow")
    folder = tmp_path_factory.mktemp("tf_models")

    @tf.function
    def three_classes(x: object) -> object:
        red, green = x[..., 0:1], x[..., 1:2]  # type: ignore[index]
        logits = tf.concat([1.0 - red, (red - 0.5) * 8.0, green * 0.1], axis=-1)  # class 1 = "person" (red)
        return tf.image.resize(logits, [32, 32])  # a mask smaller than the input

    @tf.function
    def not_an_image(x: object) -> object:
        return tf.reduce_sum(x, axis=-1, keepdims=True)

    @tf.function
    def detector(x: object) -> object:
        return tf.reshape(tf.image.resize(x, [16, 16]), [1, 256, 3])  # an N x K table, like a detector

    @tf.function
    def probability(x: object) -> object:
        return tf.sigmoid((x[..., 0:1] - 0.5) * 8.0)  # type: ignore[index]

    @tf.function
    def class_ids(x: object) -> object:
        return tf.where(x[..., 0] > 0.5, 15, 0)  # type: ignore[index]

    image = tf.TensorSpec([1, 64, 64, 3], tf.float32)
    return {
        "quantized": _convert(probability, image, folder / "quantized.tflite", uint8=True),
        "dynamic": _convert(probability, tf.TensorSpec([1, None, None, 3], tf.float32), folder / "dynamic.tflite"),
        "class_ids": _convert(class_ids, image, folder / "class_ids.tflite"),
        "multi": _convert(three_classes, tf.TensorSpec([1, 64, 64, 3], tf.float32), folder / "multi.tflite"),
        "vector": _convert(not_an_image, tf.TensorSpec([1, 10], tf.float32), folder / "vector.tflite"),
        "table": _convert(detector, tf.TensorSpec([1, 64, 64, 3], tf.float32), folder / "table.tflite"),
    }


def test_multiclass_model_needs_and_uses_the_person_class(tf_models: dict[str, Path]) -> None:
    with pytest.raises(ModelLoadError, match=r"3 classes per pixel.*--person-class \(0 to 2"):
        Segmenter(tf_models["multi"])
    with pytest.raises(ModelLoadError, match=r"--person-class 3 is out of range.*0 to 2"):
        Segmenter(tf_models["multi"], person_class=3)
    image = np.zeros((120, 120, 3), np.uint8)
    image[:, :60] = (0, 0, 255)  # BGR red on the left: class 1
    with Segmenter(tf_models["multi"], person_class=1) as seg:
        mask = seg.segment(image)
    assert mask.shape == (64, 64)  # brought to the model's input size
    assert mask[:, :28].mean() > 0.9 and mask[:, 36:].mean() < 0.1


def red_left_image() -> np.ndarray:
    image = np.zeros((120, 120, 3), np.uint8)
    image[:, :60] = (0, 0, 255)  # BGR red on the left: the "person" of the test models
    return image


@pytest.mark.parametrize(("name", "person_class"), [("quantized", None), ("dynamic", None), ("class_ids", 15)], ids=str)
def test_other_compatible_model_shapes(tf_models: dict[str, Path], name: str, person_class: int | None) -> None:
    """uint8-quantised in and out, a dynamic input size, and a class-id map all give a person mask."""
    with Segmenter(tf_models[name], person_class=person_class) as seg:
        mask = seg.segment(red_left_image())
    h, w = mask.shape
    assert mask.dtype == np.float32 and 0.0 <= mask.min() and mask.max() <= 1.0
    assert mask[:, : w * 2 // 5].mean() > 0.9 and mask[:, w * 3 // 5 :].mean() < 0.1


def test_class_id_model_needs_the_person_class(tf_models: dict[str, Path]) -> None:
    with pytest.raises(ModelLoadError, match="class id per pixel: say which class is the person with --person-class"):
        Segmenter(tf_models["class_ids"])


def test_multiclass_model_on_the_command_line(tf_models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tf_models["multi"])
    assert main(["--no-config", "models", "--check", path]) == 1
    assert "INCOMPATIBLE" in capsys.readouterr().out
    assert main(["--no-config", "models", "--check", path, "--person-class", "1"]) == 0
    assert "--person-class 1" in capsys.readouterr().out


# --- incompatible models are rejected with a clear message ------------------------------------------


def incompatible_cases(tmp_path: Path) -> list[tuple[str, str]]:
    rng = np.random.default_rng(0)
    random_bytes = tmp_path / "random.tflite"
    random_bytes.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    damaged = tmp_path / "damaged.tflite"
    data = bytearray(models.resolve("selfie").path.read_bytes()[:2000])
    damaged.write_bytes(bytes(data))
    return [
        (str(models.manifest()["face-short"].path), r"not a segmentation model \(it is the bundled face-detection"),
        ("face-short", "face-detection model, not a segmentation model"),
        (str(random_bytes), "not a TFLite model"),
        (str(damaged), "cannot load model"),
        (str(tmp_path / "missing.tflite"), "neither a bundled model .* nor an existing file"),
    ]


def test_incompatible_models_are_rejected_clearly(tmp_path: Path) -> None:
    for spec, message in incompatible_cases(tmp_path):
        with pytest.raises(ModelLoadError, match=message):
            Segmenter(spec)


def test_non_image_and_table_models_are_rejected(tf_models: dict[str, Path]) -> None:
    with pytest.raises(ModelLoadError, match=r"input of shape 1x10, which is not an image"):
        Segmenter(tf_models["vector"])
    with pytest.raises(ModelLoadError, match=r"outputs \(1x256x3\) are not a mask"):
        Segmenter(tf_models["table"])


def test_incompatible_model_on_the_command_line_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    face = str(models.manifest()["face-short"].path)
    assert main(["--no-config", "models", "--check", face]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INCOMPATIBLE") and "not a segmentation model" in out and out.count("\n") == 1
    image = tmp_path / "p.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    assert main(["--no-config", "photo", str(image), "-o", str(tmp_path / "o.png"), "--model", face]) == 1
    err = capsys.readouterr().err
    assert err.startswith("livebokeh: error: model ") and "not a segmentation model" in err
    assert "Traceback" not in err and err.count("\n") == 1


class ListSource:
    """A user-written source: frames from memory at 30 fps, then the end of the stream."""

    name = "list"

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = list(frames)
        self.closed = False

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].shape[1], self.frames[0].shape[0]

    @property
    def fps(self) -> float:
        return 30.0

    def read(self) -> np.ndarray | None:
        time.sleep(1 / 30)  # like a camera: a frame when it is due
        return self.frames.pop(0) if self.frames else None

    def close(self) -> None:
        self.closed = True


class ListSink:
    """A user-written sink: keeps copies of what it is given."""

    name = "list"

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []
        self.opened: tuple[tuple[int, int], float] | None = None
        self.closed = False

    def open(self, size: tuple[int, int], fps: float) -> None:
        self.opened = (size, fps)

    def write(self, frame: livebokeh.Frame) -> None:
        self.images.append(frame.image.copy())

    def close(self) -> None:
        self.closed = True


def test_pipeline_takes_user_written_sources_and_sinks(person: np.ndarray) -> None:
    source, sink = ListSource([person] * 40), ListSink()
    stats = Pipeline(source=source, sinks=[sink], effect=EffectOptions(effect="mask")).run()
    assert source.closed and sink.closed and sink.opened == ((960, 540), 30.0)
    assert stats["frames_composited"] == len(sink.images) > 0
    last = sink.images[-1]
    assert (last[:, :, 0] == last[:, :, 2]).all()  # the mask view once a mask exists
    h, w = last.shape[:2]
    assert last[h // 2, w // 3].mean() > 200 and last[h // 10, w - 20].mean() < 50

"""Photo mode: EXIF orientation, bad inputs, batch, atomic output, person pixels kept."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from livebokeh import __version__
from livebokeh._cli import main
from livebokeh.config import EffectOptions, MatteOptions
from livebokeh.effects import _kernels
from livebokeh.effects.effect import Effect
from livebokeh.errors import InputError
from livebokeh.frames import Frame
from livebokeh.runtime.photo import PhotoProcessor, run_photo
from livebokeh.sources.images import read_image


class BoxSegmenter:
    """A fake segmenter: person = a fixed box (in relative coordinates) at 64x64."""

    name = "box"
    runtime = "fake"

    def __init__(self, box: tuple[float, float, float, float] = (0.25, 0.2, 0.75, 1.0)) -> None:
        self.box = box
        self.calls = 0

    def input_size_for(self, frame_shape: tuple[int, ...]) -> tuple[int, int]:
        return 64, 64

    def segment(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        m = np.zeros((64, 64), np.float32)
        x0, y0, x1, y1 = (int(v * 64) for v in self.box)
        m[y0:y1, x0:x1] = 1.0
        return m

    def segment_for_video(self, image: np.ndarray, timestamp_ns: int) -> np.ndarray:
        return self.segment(image)

    def close(self) -> None:
        pass


def _jpeg_with_orientation(image: np.ndarray, orientation: int) -> bytes:
    """Encode ``image`` as JPEG with an EXIF APP1 segment carrying only the Orientation tag."""
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    data = buf.tobytes()
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + app1 + data[2:]


def _write(path: Path, image: np.ndarray) -> Path:
    ok, buf = cv2.imencode(path.suffix, image)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = 255  # left half white
    path = tmp_path / "rot.jpg"
    path.write_bytes(_jpeg_with_orientation(img, 6))  # 6 = rotate 90 degrees clockwise to display
    upright = read_image(path)
    assert upright.shape == (40, 20, 3)
    assert upright[:15].mean() > 200 and upright[25:].mean() < 50  # the white half is now on top

    out = tmp_path / "out.jpg"
    assert main(["photo", str(path), "-o", str(out), "-q"]) == 0
    assert cv2.imread(str(out), cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_COLOR).shape == (40, 20, 3)


def test_person_pixels_unchanged_inside_mask_and_background_changed(textured_image: np.ndarray) -> None:
    seg = BoxSegmenter()
    proc = PhotoProcessor(effect=EffectOptions(effect="blur", strength=0.5), segmenter=seg)
    out, alpha = proc.process(textured_image)
    assert out.shape == textured_image.shape and alpha.shape == textured_image.shape[:2]
    inside = alpha == 255
    outside = alpha == 0
    assert inside.sum() > 10_000 and outside.sum() > 10_000
    assert np.array_equal(out[inside], textured_image[inside])
    diff = np.abs(out.astype(int) - textured_image.astype(int)).sum(axis=2)
    assert (diff[outside] > 0).mean() > 0.95
    # the edge is soft: there are alpha values strictly between 0 and 255
    assert ((alpha > 0) & (alpha < 255)).sum() > 0


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".bmp", ".tiff"])
def test_formats_and_size_are_kept(tmp_path: Path, textured_image: np.ndarray, suffix: str) -> None:
    src = _write(tmp_path / f"in{suffix}", textured_image)
    out = tmp_path / f"out{suffix}"
    mask = tmp_path / "mask.png"
    assert main(["photo", str(src), "-o", str(out), "--mask-out", str(mask), "-q"]) == 0
    result = cv2.imread(str(out))
    assert result.shape == textured_image.shape
    m = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
    assert m.dtype == np.uint8 and m.shape == textured_image.shape[:2]


def test_batch_folder_loads_model_once_and_reports_bad_file(tmp_path: Path, textured_image: np.ndarray) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        _write(src / f"img{i}.png", textured_image)
    (src / "broken.jpg").write_bytes(b"not an image at all")
    out, masks = tmp_path / "out", tmp_path / "masks"
    out.mkdir()
    masks.mkdir()
    seg = BoxSegmenter()
    proc = PhotoProcessor(segmenter=seg, matte=MatteOptions(crops=False))  # crops would add second-pass calls
    report = run_photo([src], out_dir=out, mask_out=masks, processor=proc)
    assert len(report.results) == 4 and len(report.failed) == 1
    assert "broken.jpg" in (report.failed[0].error or "")
    assert sorted(p.name for p in out.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    assert sorted(p.name for p in masks.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    assert seg.calls == 3  # one segmenter served the whole batch


def test_batch_cli_exit_code_says_something_failed(tmp_path: Path, textured_image: np.ndarray) -> None:
    a = _write(tmp_path / "a.png", textured_image)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["photo", str(a), str(bad), "--out-dir", str(out), "-q"]) == 1
    assert [p.name for p in out.iterdir()] == ["a.png"]


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livebokeh", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_bad_inputs_give_one_line_and_no_partial_output(tmp_path: Path, textured_image: np.ndarray) -> None:
    good = _write(tmp_path / "good.png", textured_image)
    notimg = tmp_path / "notes.jpg"
    notimg.write_text("hello")
    existing = _write(tmp_path / "exists.png", textured_image)
    before = existing.read_bytes()
    cases = [
        (["photo", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "o1.jpg")], "does not exist"),
        (["photo", str(notimg), "-o", str(tmp_path / "o2.jpg")], "not a readable image"),
        (["photo", str(good), "-o", str(tmp_path / "nodir" / "o3.png")], "does not exist"),
        (["photo", str(good), "-o", str(existing)], "--overwrite"),
        (["photo", str(good), "-o", str(tmp_path / "o4.png"), "--model", str(tmp_path / "nomodel.tflite")], "model"),
        (["photo", str(tmp_path), "-o", str(tmp_path / "o5.png")], "-o takes one input"),
        (["photo", str(good), "-o", str(tmp_path / "o6.txt")], "image extension"),
        (["photo", str(good), "-o", str(tmp_path / "o7.png"), "--effect", "sparkle"], "sparkle"),
    ]
    for args, needle in cases:
        done = _run_cli(*args, cwd=tmp_path)
        assert done.returncode != 0, args
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("livebokeh")]
        assert len(lines) >= 1 and needle in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
    assert existing.read_bytes() == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("o") or ".part" in p.name]
    assert leftovers == [], leftovers


def test_overwrite_replaces_existing_output(tmp_path: Path, textured_image: np.ndarray) -> None:
    src = _write(tmp_path / "in.png", textured_image)
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    assert main(["photo", str(src), "-o", str(out), "-q"]) == 1
    assert out.read_bytes() == b"old"
    assert main(["photo", str(src), "-o", str(out), "--overwrite", "-q"]) == 0
    assert cv2.imread(str(out)).shape == textured_image.shape


def test_directory_and_unreadable_and_empty_inputs_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        read_image(tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_image(empty)
    if os.geteuid() != 0:  # root ignores file permissions
        locked = _write(tmp_path / "locked.png", np.zeros((4, 4, 3), np.uint8))
        locked.chmod(0)
        with pytest.raises(InputError, match="permission"):
            read_image(locked)


def test_real_portrait_keeps_person_and_blurs_background(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "portraits" / "eg1800-00001.jpg"
    gt = cv2.imread(str(src.with_suffix(".png")), cv2.IMREAD_GRAYSCALE) > 127
    out, mask = tmp_path / "o.jpg", tmp_path / "m.png"
    assert main(["photo", str(src), "-o", str(out), "--mask-out", str(mask), "-q"]) == 0
    alpha = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    iou = ((alpha >= 128) & gt).sum() / ((alpha >= 128) | gt).sum()
    assert iou > 0.9


def _photo_and_effect(processor: PhotoProcessor, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What ``livebokeh photo`` writes for ``image``, and what ``Effect.apply`` makes of the same mask,
    given as the :class:`Mask` the matte computed and as its bare alpha array."""
    photo, _ = processor.process(image)
    mask = processor.matte.compute(Frame(image=image, timestamp_ns=0, index=0))
    effect = Effect(processor.compositor.options)
    return photo, effect.apply(image, mask), effect.apply(image, mask.alpha.copy())


def test_photo_in_place_writes_the_same_picture_over_its_input(textured_image: np.ndarray) -> None:
    """``run_photo`` composites over the decoded photo (no second full-size buffer): same picture,
    with a wide soft edge (blended in one pass) and a thin one (blended pixel by pixel)."""
    small = cv2.resize(textured_image, (400, 300))
    large = cv2.resize(textured_image, (2400, 1800), interpolation=cv2.INTER_NEAREST)
    cases = [(small, effect, True) for effect in ("blur", "bokeh", "color:#00ff00")]
    cases.append((large, "blur", False))  # the plain upsample: a thin band
    bands = []
    for image, effect, refine in cases:
        processor = PhotoProcessor(
            effect=EffectOptions(effect=effect), matte=MatteOptions(refine=refine), segmenter=BoxSegmenter(), photos=1
        )
        kept = image.copy()
        picture, alpha = processor.process(image)
        np.testing.assert_array_equal(image, kept)  # not in place: the input is left alone
        target = image.copy()
        over, alpha_over = processor.process(target, in_place=True)
        assert over is target
        np.testing.assert_array_equal(over, picture)
        np.testing.assert_array_equal(alpha_over, alpha)
        assert not np.array_equal(over, kept)
        soft = float(((alpha > 0) & (alpha < 255)).mean())
        bands.append(soft > _kernels.DENSE_BAND)
    assert bands == [True, True, True, False]  # both ways of blending were checked


def test_effect_apply_gives_the_photo_picture_for_the_same_mask(textured_image: np.ndarray) -> None:
    image = cv2.resize(textured_image, (400, 300))  # 64 x 64 model pixels: coarse, the colour-line step runs
    for opts in (EffectOptions(effect="blur"), EffectOptions(effect="color:#00ff00")):
        # quality "fast": the first pass alone (with ONNX Runtime installed, "auto" would fuse the matting
        # model's alpha at that model's size, and a bare array of that size no longer says how fine it is)
        matte = MatteOptions(crops=False, quality="fast")
        processor = PhotoProcessor(effect=opts, matte=matte, segmenter=BoxSegmenter())
        photo, from_mask, from_array = _photo_and_effect(processor, image)
        np.testing.assert_array_equal(from_mask, photo)
        np.testing.assert_array_equal(from_array, photo)  # the first pass alone: its size says how fine it is
    unrefined = PhotoProcessor(matte=MatteOptions(crops=False, refine=False), segmenter=BoxSegmenter())
    photo, _ = unrefined.process(image)
    mask = unrefined.matte.compute(Frame(image=image, timestamp_ns=0, index=0))
    np.testing.assert_array_equal(Effect(refine=False).apply(image, mask), photo)
    assert not np.array_equal(Effect().apply(image, mask), photo)  # refinement does change the picture


def _png(path: Path, image: np.ndarray, size: tuple[int, int]) -> Path:
    cv2.imwrite(str(path), cv2.resize(image, size))
    return path


def _fresh_python(code: str) -> list[str]:
    """The words ``code`` prints, run in a new interpreter (for process-wide state)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_one_photo_is_composited_without_numba(tmp_path: Path, textured_image: np.ndarray) -> None:
    """Importing numba and loading its kernels costs more than they save on a single picture."""
    image = _png(tmp_path / "in.png", textured_image, (640, 480))
    code = (
        "import sys\n"
        "from livebokeh.runtime.photo import PhotoProcessor, run_photo\n"
        "from pathlib import Path\n"
        "for n in (1, 2):\n"
        "    p = PhotoProcessor(photos=n)\n"
        f"    run_photo([{str(image)!r}], output=Path({str(tmp_path)!r}) / f'out{{n}}.png', processor=p)\n"
        "    print(n, 'numba' in sys.modules, flush=True)\n"
    )
    assert _fresh_python(code) == ["1", "False", "2", "True"]  # one photo: no numba; more: numba
    one, two = (cv2.imread(str(tmp_path / f"out{n}.png")).astype(np.int32) for n in (1, 2))
    assert np.abs(one - two).max() <= 2  # the same picture, within the kernels' rounding


def test_photo_command_turns_numpy_huge_pages_off(tmp_path: Path, textured_image: np.ndarray) -> None:
    """``livebokeh photo`` fills each buffer once: NumPy stops asking for huge pages (a compaction stall
    on first touch costs more than they save); a library user's process keeps NumPy's default."""
    if not hasattr(getattr(np, "_core", None), "multiarray"):
        pytest.skip("this NumPy has no numpy._core.multiarray")
    image = _png(tmp_path / "in.png", textured_image, (320, 240))
    run = f"code = main(['photo', {str(image)!r}, '-o', {str(tmp_path / 'out.png')!r}, '-q'])\n"
    code = (
        "import numpy as np\nswitch = np._core.multiarray._set_madvise_hugepage\n"
        "from livebokeh.runtime.photo import PhotoProcessor\nprint(switch(True), flush=True)\n"  # import: no change
        f"from livebokeh._cli import main\n{run}print(code, switch(True), flush=True)\n"
    )
    assert _fresh_python(code) == ["True", "0", "False"]


def test_effect_apply_gives_the_photo_picture_on_a_real_group_photo(shared_data: Path) -> None:
    """With the real models, crops and per-person passes: the mask knows which parts were segmented finely."""
    image = read_image(shared_data / "persons" / "cihp-0002190.jpg")
    processor = PhotoProcessor(effect=EffectOptions(effect="bokeh"))
    photo, from_mask, _ = _photo_and_effect(processor, image)
    assert processor.matte.last.crops > 0  # the photo path did more than the first pass
    np.testing.assert_array_equal(from_mask, photo)


def test_bench_start_times_the_commands_next_to_the_bare_imports(tmp_path: Path, textured_image: np.ndarray) -> None:
    photo = _write(tmp_path / "small.jpg", textured_image)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "livebokeh", "--no-config", "bench", "start", "--runs", "1", "--image", str(photo),
         "--json"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for row in ("python", "import numpy, cv2", "livebokeh --version", "livebokeh photo"):
        assert report[row] > 0
    assert report["photo_in_process"] is not None and 0 < report["photo_in_process"] < report["livebokeh photo"]
    if "livebokeh photo --quality fast" in report:  # ONNX Runtime installed: the default runs MODNet as well
        fast = report["photo_in_process --quality fast"]
        assert fast is not None and 0 < fast < report["livebokeh photo --quality fast"]


def test_version_is_answered_without_building_the_parser() -> None:
    code = (
        "import sys; from livebokeh._cli import main; main(['--version']); "
        "print('livebokeh._cli.photo' in sys.modules, 'av' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["livebokeh", __version__, "False", "False"]  # no command module, no PyAV


def test_the_photo_command_starts_reading_before_it_loads_the_matte(tmp_path: Path, textured_image: np.ndarray) -> None:
    """The first picture decodes while the matte's modules and the models load (a 12-MP JPEG: ~0.1 s)."""
    image = _png(tmp_path / "in.png", textured_image, (320, 240))
    code = (
        "import sys\nfrom livebokeh.sources import images\nseen = []\nahead = images.ImageReader.read_ahead\n"
        "def spy(self, path):\n"
        "    loaded = sys.modules\n"
        "    seen.append((path is not None, 'livebokeh.matte' in loaded, 'livebokeh.segmentation' in loaded))\n"
        "    return ahead(self, path)\n"
        "images.ImageReader.read_ahead = spy\n"
        "from livebokeh._cli import main\n"
        f"code = main(['photo', {str(image)!r}, '-o', {str(tmp_path / 'out.png')!r}, '-q'])\n"
        "print(code, *seen[0])\n"
    )
    assert _fresh_python(code) == ["0", "True", "False", "False"]
    assert read_image(tmp_path / "out.png").shape == (240, 320, 3)


def test_the_image_reader_gives_what_read_image_gives_and_its_errors(
    tmp_path: Path, textured_image: np.ndarray
) -> None:
    from livebokeh.sources.images import ImageReader

    first = _png(tmp_path / "a.png", textured_image, (64, 48))
    second = _png(tmp_path / "b.png", textured_image, (32, 24))
    missing = tmp_path / "missing.png"
    with ImageReader() as reader:
        reader.read_ahead(first)
        reader.read_ahead(missing)  # its error waits for the read
        reader.read_ahead(None)
        np.testing.assert_array_equal(reader.read(first), read_image(first))
        np.testing.assert_array_equal(reader.read(second), read_image(second))  # never started: read now
        with pytest.raises(InputError, match="does not exist"):
            reader.read(missing)
        np.testing.assert_array_equal(reader.read(first), read_image(first))  # a second read of one file


def test_the_photo_command_guesses_its_first_picture_where_plain(tmp_path: Path, textured_image: np.ndarray) -> None:
    from livebokeh._cli.photo import first_input

    folder = tmp_path / "in"
    folder.mkdir()
    _png(folder / "b.png", textured_image, (32, 24))
    _png(folder / "a.png", textured_image, (32, 24))
    (tmp_path / "empty").mkdir()
    assert first_input([str(folder), "x.png"]) == folder / "a.png"
    assert first_input([str(folder / "b.png")]) == folder / "b.png"
    assert first_input([str(tmp_path / "empty")]) is None
    assert first_input([str(tmp_path / "missing.png")]) is None

"""Effects and the compositor: lens discs, no halo, cover-fit, looping video, resolution-free strength, reuse."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from livebokeh.config import EffectOptions
from livebokeh.effect_kinds import parse_color
from livebokeh.effects import Compositor, _kernels, bokeh_radius, cover_fit
from livebokeh.effects.bokeh import aperture_kernel, aperture_runs
from livebokeh.errors import ConfigError, FrameFormatError, InputError

BACKENDS = ["numba", "numpy"] if _kernels.numba_available() else ["numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    before = "numba" if _kernels.using_numba() else "numpy"
    _kernels.set_backend(request.param)
    yield request.param
    _kernels.set_backend(before)


def person_alpha(h: int, w: int, soft: float = 1.0) -> np.ndarray:
    """A head-and-shoulders alpha, centred, with a soft edge."""
    a = np.zeros((h, w), np.uint8)
    cv2.ellipse(a, (w // 2, int(h * 0.38)), (int(h * 0.14), int(h * 0.18)), 0, 0, 360, 255, -1)
    cv2.ellipse(a, (w // 2, h), (int(h * 0.4), int(h * 0.42)), 0, 180, 360, 255, -1)
    if soft > 0:
        a = cv2.GaussianBlur(a, (0, 0), soft)
    return a


def composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[:, :, None] / 255.0
    return np.clip(bg * (1 - a) + fg * a + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- bokeh vs blur


def _light_scene() -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    h, w = 360, 640
    img = np.full((h, w, 3), 30, np.uint8)
    centre = (160, 150)
    cv2.circle(img, centre, 3, (255, 255, 255), -1)  # a small street light, far from the person
    alpha = np.zeros((h, w), np.uint8)
    cv2.rectangle(alpha, (430, 80), (600, 360), 255, -1)
    return img, alpha, centre


def _profile(out: np.ndarray, centre: tuple[int, int]) -> tuple[float, float, float]:
    """(peak above the surround, radius of the above-half-peak area, inner mean / peak)."""
    gray = out.mean(axis=2)
    x, y = centre
    patch = gray[y - 60 : y + 61, x - 60 : x + 61]
    floor = float(np.median(gray[:, :300]))
    peak = float(patch.max()) - floor
    above = patch - floor > 0.5 * peak
    radius = float(np.sqrt(above.sum() / np.pi))
    yy, xx = np.mgrid[-60:61, -60:61]
    inner = (xx**2 + yy**2) <= (0.5 * radius) ** 2
    flat = float((patch[inner] - floor).mean()) / max(peak, 1e-6)
    return peak, radius, flat


def test_point_light_becomes_a_disc_of_the_aperture_size_in_bokeh(backend: str) -> None:
    img, alpha, centre = _light_scene()
    out = Compositor(EffectOptions(effect="bokeh", strength=0.5)).apply(img, alpha)
    peak, radius, flat = _profile(out, centre)
    expected = bokeh_radius(0.5, img.shape[0])
    assert peak > 80, f"the light faded to a smudge (peak {peak:.0f} above the background)"
    assert 0.75 * expected <= radius <= 1.25 * expected, f"disc radius {radius:.1f}, aperture {expected:.1f}"
    assert flat > 0.85, f"not a flat disc: inner mean is {flat:.2f} of the peak"


def test_point_light_is_no_disc_in_blur(backend: str) -> None:
    img, alpha, centre = _light_scene()
    out = Compositor(EffectOptions(effect="blur", strength=0.5)).apply(img, alpha)
    peak, _radius, flat = _profile(out, centre)
    assert peak < 30, f"blur kept a bright spot ({peak:.0f} above the background)"
    assert flat < 0.85 or peak < 30


@pytest.mark.skipif(not _kernels.numba_available(), reason="numba is not installed")
@pytest.mark.parametrize("factor", _kernels.WIDEN_FACTORS)
def test_alpha_rows_widen_as_opencv_does_byte_for_byte(factor: int) -> None:
    rng = np.random.default_rng(factor)
    for h, w in [(270, 480), (1, 1), (3, 2), (17, 53)]:
        small = rng.integers(0, 256, (h, w), dtype=np.uint8)
        small[: h // 2, : w // 2] = 255  # flat runs and a hard edge next to the noise
        expected = cv2.resize(small, (w * factor, h), interpolation=cv2.INTER_LINEAR)
        with _kernels.backend("numba"):
            ax, _, _ = _kernels._alpha_rows(small, (w * factor, 2 * h), {})
        assert np.array_equal(ax[:h], expected), (h, w)
        assert np.array_equal(ax[h], ax[h - 1])


@pytest.mark.skipif(not _kernels.numba_available(), reason="numba is not installed")
def test_lens_blur_sums_boost_every_highlight_wherever_it_lies() -> None:
    """The numba kernel boosts only the runs of pixels that hold a bright sample: lights at the edges of those
    runs, at the end of a row, in one channel only, and just below the threshold all sum as the plain formula
    (the NumPy path) sums them."""
    rng = np.random.default_rng(3)
    h, w, f = 50, 203, 7  # a width that is no multiple of the run, nor of the block
    img = rng.integers(0, 150, (h, w, 3), dtype=np.uint8)
    run = _kernels.HDR_RUN
    for i, x in enumerate([0, run - 1, run, 2 * run - 1, w - 1, 100, 150]):
        img[(7 * i) % h, x] = (255, 255, 255)  # white lights around the run edges and at the row's end
    img[20, 30] = (0, 0, 255)  # a saturated red: bright byte, dim light
    img[21, 31] = (_kernels.HDR_MIN_BYTE - 1,) * 3  # the brightest grey that stays under the knee
    img[22, 32] = (_kernels.HDR_MIN_BYTE,) * 3
    alpha = np.zeros((h, w), np.uint8)
    alpha[:, 120:160] = 255
    alpha[:, 118:120] = 20  # a soft edge: partial weights
    shape = (-(-h // f), -(-w // f), 4)
    sums = {}
    for name in ("numba", "numpy"):
        acc = np.zeros(shape, np.float32)
        with _kernels.backend(name):
            _kernels.masked_downsample(img, alpha, f, True, acc, {})
        sums[name] = acc
    np.testing.assert_allclose(sums["numba"], sums["numpy"], rtol=2e-4, atol=1e-7)
    # and the lights did count: each boosted block holds far more than the unboosted sum would
    plain = img.astype(np.float64) / 255.0
    assert sums["numba"][0, 0, :3].max() > 2 * (plain[:f, :f] ** 2).sum(axis=(0, 1)).max() / f**2


def test_polygonal_aperture_is_a_polygon() -> None:
    disc = aperture_kernel(10.0)
    hexagon = aperture_kernel(10.0, blades=6)
    assert disc.shape == hexagon.shape == (21, 21)
    assert hexagon.sum() < disc.sum()  # a hexagon inscribed in the circle is smaller
    # a vertex points up: the hexagon reaches the top row's centre but is flat at the sides
    assert hexagon[0, 10] > 0 and hexagon[10, 0] < disc[10, 0]
    r, (dys, x0s, x1s, ws) = aperture_runs(10.0, 6)
    rebuilt = np.zeros_like(hexagon)
    for dy, x0, x1, wk in zip(dys, x0s, x1s, ws, strict=True):
        rebuilt[dy + r, x0 + r : x1 + r + 1] = wk
    assert np.array_equal(rebuilt, hexagon)


# ---------------------------------------------------------------------------- no halo

SATURATED = (0, 255, 0)  # a bright green shirt (BGR)
GREY = 128


def _halo_scene() -> tuple[np.ndarray, np.ndarray]:
    h, w = 360, 640
    alpha = person_alpha(h, w, soft=1.0)
    fg = np.zeros((h, w, 3), np.uint8)
    fg[:] = SATURATED
    bg = np.full((h, w, 3), GREY, np.uint8)
    return composite(fg, bg, alpha), alpha


def _greenness_near_person(out: np.ndarray, alpha: np.ndarray, within: int = 20) -> float:
    """Largest G - max(B, R) among pixels outside the person (alpha 0) within ``within`` px of it."""
    outside = (alpha == 0).astype(np.uint8)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, 3)
    ring = (alpha == 0) & (dist <= within)
    assert ring.sum() > 1000
    px = out[ring].astype(np.int32)
    return float((px[:, 1] - np.maximum(px[:, 0], px[:, 2])).max())


@pytest.mark.parametrize(
    "effect,falloff",
    [
        ("blur", False),
        ("blur", True),
        ("bokeh", False),
        ("bokeh", True),
        ("replace", False),
        ("color:#808080", False),
        ("mask", False),
        ("none", False),
    ],
)
def test_no_person_colour_around_the_person(effect: str, falloff: bool, backend: str, tmp_path: Path) -> None:
    img, alpha = _halo_scene()
    if effect == "replace":
        backdrop = tmp_path / "grey.png"
        cv2.imwrite(str(backdrop), np.full((300, 300, 3), GREY, np.uint8))
        effect = f"replace:{backdrop}"
    out = Compositor(EffectOptions(effect=effect, strength=1.0, falloff=falloff)).apply(img, alpha)
    assert _greenness_near_person(out, alpha) <= 6


def test_the_halo_check_catches_a_plain_blur() -> None:
    """A whole-frame blur pasted behind the mask glows green: the check above can fail."""
    img, alpha = _halo_scene()
    naive = composite(img, cv2.GaussianBlur(img, (0, 0), 0.04 * img.shape[0]), alpha)
    assert _greenness_near_person(naive, alpha) > 30


# ---------------------------------------------------------------------------- replace


def test_replace_image_is_cover_fitted_not_stretched(tmp_path: Path, backend: str) -> None:
    # a tall 300x600 picture with a circle in the middle, behind a 640x360 frame
    pic = np.full((600, 300, 3), 40, np.uint8)
    cv2.circle(pic, (150, 300), 60, (255, 255, 255), -1)
    path = tmp_path / "tall.png"
    cv2.imwrite(str(path), pic)
    frame = np.zeros((360, 640, 3), np.uint8)
    alpha = np.zeros((360, 640), np.uint8)
    out = Compositor(EffectOptions(effect=f"replace:{path}")).apply(frame, alpha)
    ys, xs = np.nonzero(out[:, :, 0] > 128)
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert abs(width - height) <= 2, f"the circle became {width}x{height}: stretched"
    assert abs(width - 2 * 60 * 640 / 300) <= 4  # scaled by the width ratio (cover), not the height ratio
    assert abs((xs.min() + xs.max()) / 2 - 319.5) <= 1.5 and abs((ys.min() + ys.max()) / 2 - 179.5) <= 1.5
    assert np.array_equal(out, cover_fit(pic, (640, 360)))


def test_cover_fit_wide_onto_tall() -> None:
    pic = np.zeros((100, 400, 3), np.uint8)
    pic[:, 150:250] = 255  # the centre quarter, white
    fitted = cover_fit(pic, (50, 100))
    assert fitted.shape == (100, 50, 3)
    assert (fitted[:, :, 0] == 255).all()  # 400 px wide scaled to 400 and cropped to the middle 50


def _write_clip(path: Path, levels: list[int], fps: int = 10, size: tuple[int, int] = (64, 48)) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv444p"
        for level in levels:
            img = np.full((size[1], size[0], 3), level, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


LEVELS = [0, 25, 50, 75, 100, 125, 150, 175, 200, 225]


def test_replace_video_loops_in_step_with_timestamps(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mkv"
    _write_clip(clip, LEVELS, fps=10)
    comp = Compositor(EffectOptions(effect=f"replace:{clip}"))
    frame = np.zeros((48, 64, 3), np.uint8)
    alpha = np.zeros((48, 64), np.uint8)
    start = 5_000_000_000
    seen = []
    for k in range(50):  # 2.5 s of output at 20 fps: the 1 s clip plays 2.5 times at its own speed
        out = comp.apply(frame, alpha, timestamp_ns=start + k * 50_000_000)
        seen.append(int(np.median(out)))
    expected = [LEVELS[(k // 2) % 10] for k in range(50)]
    assert np.max(np.abs(np.array(seen) - expected)) <= 3, seen


def test_replace_video_without_timestamps_advances_a_frame_per_call(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mkv"
    _write_clip(clip, LEVELS, fps=10)
    comp = Compositor(EffectOptions(effect=f"replace:{clip}"))
    frame = np.zeros((48, 64, 3), np.uint8)
    alpha = np.zeros((48, 64), np.uint8)
    seen = [int(np.median(comp.apply(frame, alpha))) for _ in range(25)]
    expected = [LEVELS[k % 10] for k in range(25)]
    assert np.max(np.abs(np.array(seen) - expected)) <= 3, seen
    comp.close()


def test_replace_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        Compositor(EffectOptions(effect=f"replace:{tmp_path / 'nope.png'}"))


# ---------------------------------------------------------------------------- strength and resolution


def _smooth_scene(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    for i in range(12):  # sharp edges that blur must soften
        x = (i * 97) % w
        cv2.rectangle(img, (x, h // 10), (x + w // 40, h // 2), (255, 255, 255), -1)
    return img, person_alpha(h, w, soft=h / 360)


@pytest.mark.parametrize("effect", ["blur", "bokeh"])
def test_strength_gives_the_same_look_at_two_resolutions(effect: str, backend: str) -> None:
    big, alpha_big = _smooth_scene(720, 1280)
    small = cv2.resize(big, (640, 360), interpolation=cv2.INTER_AREA)
    alpha_small = cv2.resize(alpha_big, (640, 360), interpolation=cv2.INTER_AREA)

    def run(img: np.ndarray, alpha: np.ndarray, strength: float) -> np.ndarray:
        return Compositor(EffectOptions(effect=effect, strength=strength)).apply(img, alpha).astype(np.float32)

    bg = alpha_small == 0
    from_big = cv2.resize(run(big, alpha_big, 0.5), (640, 360), interpolation=cv2.INTER_AREA)
    at_small = run(small, alpha_small, 0.5)
    other_strength = run(small, alpha_small, 0.35)
    same = float(np.abs(from_big - at_small)[bg].mean())
    different = float(np.abs(other_strength - at_small)[bg].mean())
    blurred = float(np.abs(at_small - small)[bg].mean())
    assert blurred > 10  # the effect does something
    assert same < 2.5 and same < different / 4, f"360p-vs-720p difference {same:.2f}, strength change {different:.2f}"


def test_strength_zero_passes_the_frame_through(textured_image: np.ndarray) -> None:
    alpha = np.zeros(textured_image.shape[:2], np.uint8)
    for effect in ("blur", "bokeh"):
        out = Compositor(EffectOptions(effect=effect, strength=0.0)).apply(textured_image, alpha)
        assert np.array_equal(out, textured_image)


def test_falloff_blurs_more_far_from_the_person(backend: str) -> None:
    h, w = 360, 640
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    cv2.rectangle(alpha, (280, 100), (360, 360), 255, -1)

    def detail(out: np.ndarray, x0: int, x1: int) -> float:
        lap = cv2.Laplacian(out.astype(np.float32), cv2.CV_32F)
        return float(np.abs(lap[150:350, x0:x1]).mean())

    flat = Compositor(EffectOptions(effect="blur", strength=0.5)).apply(img, alpha)
    deep = Compositor(EffectOptions(effect="blur", strength=0.5, falloff=True)).apply(img, alpha)
    near, far = (262, 276), (10, 60)
    assert detail(deep, *near) > 1.5 * detail(deep, *far)  # sharper beside the person
    assert detail(deep, *near) > 1.5 * detail(flat, *near)
    assert abs(detail(deep, *far) - detail(flat, *far)) < 0.3 * detail(flat, *far) + 0.5


# ---------------------------------------------------------------------------- compositor contract


@pytest.mark.parametrize("effect", ["blur", "bokeh", "color:#00ff00", "mask", "none"])
def test_out_is_reused_and_buffers_are_not_reallocated(effect: str) -> None:
    if not _kernels.using_numba():
        pytest.skip("the numpy fallback kernels use temporary arrays")
    img, alpha = _smooth_scene(360, 640)
    comp = Compositor(EffectOptions(effect=effect, falloff=True))
    out = np.empty_like(img)
    first = comp.apply(img, alpha, out)
    assert first is out
    lowres = comp._lowres if effect in ("blur", "bokeh") else None
    before = {k: id(v) for k, v in vars(lowres).items() if isinstance(v, np.ndarray)} if lowres else {}
    scratch = {k: id(v) for k, v in comp._scratch.items()}
    tracemalloc.start()
    try:
        again = comp.apply(img, alpha, out)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert again is out
    assert peak < img.nbytes // 20, f"{peak} bytes allocated while compositing a {img.nbytes}-byte frame"
    if lowres is not None:
        assert {k: id(v) for k, v in vars(lowres).items() if isinstance(v, np.ndarray)} == before
    assert {k: id(v) for k, v in comp._scratch.items()} == scratch


def test_output_may_be_the_input() -> None:
    img, alpha = _smooth_scene(180, 320)
    expected = Compositor(EffectOptions(effect="blur")).apply(img, alpha)
    inplace = img.copy()
    assert Compositor(EffectOptions(effect="blur")).apply(inplace, alpha, inplace) is inplace
    assert np.array_equal(inplace, expected)


def test_person_stays_sharp_and_alpha_extremes_are_exact(backend: str) -> None:
    img, alpha = _smooth_scene(180, 320)
    out = Compositor(EffectOptions(effect="bokeh")).apply(img, alpha)
    assert np.array_equal(out[alpha == 255], img[alpha == 255])
    out = Compositor(EffectOptions(effect="color:#102030")).apply(img, alpha)
    assert (out[alpha == 0] == (0x30, 0x20, 0x10)).all()


def test_numba_and_numpy_kernels_agree() -> None:
    if not _kernels.numba_available():
        pytest.skip("numba is not installed")
    img, alpha = _smooth_scene(180, 320)
    results = {}
    before = "numba" if _kernels.using_numba() else "numpy"
    for name in ("numba", "numpy"):
        _kernels.set_backend(name)
        try:
            results[name] = [
                Compositor(EffectOptions(effect=e, falloff=f)).apply(img, alpha).astype(np.int32)
                for e in ("blur", "bokeh")
                for f in (False, True)
            ]
        finally:
            _kernels.set_backend(before)
    for a, b in zip(results["numba"], results["numpy"], strict=True):
        assert np.abs(a - b).max() <= 2


@pytest.mark.parametrize("in_place", [False, True])
def test_numpy_strips_blend_only_the_columns_that_need_it_as_the_whole_strip_would(in_place: bool) -> None:
    """Within a strip, columns that are the person all the way are left alone (in place), columns with
    no person get the background copied, the rest are blended: the same picture as blending every strip
    whole, for a soft band (one float pass) and a thin one (pixel by pixel)."""
    rng = np.random.default_rng(11)
    h, w, step = 700, 900, 4
    sh = -(-h // step)
    bgx = rng.integers(0, 255, (sh + 1, w, 3), dtype=np.uint8)
    whole = cv2.resize(bgx[:sh], (w, sh * step), interpolation=cv2.INTER_LINEAR)[:h]
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    alpha[:, 300:500] = 255  # the person's columns, top to bottom
    cv2.ellipse(alpha, (650, 250), (120, 200), 0, 0, 360, 255, -1)
    alpha[:350] = cv2.GaussianBlur(alpha[:350], (0, 0), 12)  # a wide soft band above
    alpha[350:] = cv2.GaussianBlur(alpha[350:], (0, 0), 0.6)  # a thin one below
    alpha[600:, 80:90] = 128  # a small soft patch far from the person
    expected = img.copy()
    dense = []
    for y in range(0, h, _kernels.DENSE_ROWS):  # what blending every strip whole gives
        rows = slice(y, y + _kernels.DENSE_ROWS)
        soft = (alpha[rows] > 0) & (alpha[rows] < 255)
        dense.append(bool(soft.mean() > _kernels.DENSE_BAND))
        _kernels._np_blend_band(img[rows], alpha[rows], whole[rows], expected[rows])
    assert True in dense and False in dense  # both ways of blending were checked
    kept = img.copy()
    out = img if in_place else np.zeros_like(img)
    _kernels._np_blend_scaled_strips(img, alpha, bgx, step, out, {})
    np.testing.assert_array_equal(out, expected)
    if not in_place:
        np.testing.assert_array_equal(img, kept)


def test_column_runs_join_runs_that_are_close() -> None:
    columns = np.zeros(300, bool)
    columns[10:20] = columns[40:50] = columns[200:210] = True
    assert _kernels._column_runs(columns, join=64) == [(10, 50), (200, 210)]
    assert _kernels._column_runs(columns, join=5) == [(10, 20), (40, 50), (200, 210)]
    assert _kernels._column_runs(np.zeros(5, bool)) == []
    assert _kernels._column_runs(np.ones(5, bool)) == [(0, 5)]


def test_a_wide_soft_band_is_blended_in_one_pass_within_a_level_of_the_pixel_mix() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    ramp = np.tile(np.linspace(-60, 315, 160), (120, 1))  # a soft band over most of the picture
    for alpha in (np.clip(ramp, 0, 255).astype(np.uint8), np.where(ramp > 200, 255, 0).astype(np.uint8)):
        soft = ((alpha > 0) & (alpha < 255)).mean()
        a = alpha.astype(np.int32)[..., None]
        weight = a + (a >> 7)  # _mix's fixed point
        expected = ((bg.astype(np.int32) << 8) + (img.astype(np.int32) - bg) * weight + 128) >> 8
        out = np.empty_like(img)
        _kernels._np_blend_band(img, alpha, bg, out)
        assert np.abs(out.astype(np.int32) - expected).max() <= (1 if soft > _kernels.DENSE_BAND else 0), soft
        assert np.array_equal(out[alpha == 255], img[alpha == 255]) and np.array_equal(out[alpha == 0], bg[alpha == 0])
        inplace = img.copy()
        _kernels._np_blend_band(inplace, alpha, bg, inplace)  # out may be the picture itself
        assert np.array_equal(inplace, out)


def test_a_compositor_may_use_the_numpy_kernels_on_its_own() -> None:
    if not _kernels.numba_available():
        pytest.skip("numba is not installed")
    img, alpha = _smooth_scene(180, 320)
    before = _kernels.using_numba()
    for effect in ("blur", "bokeh", "color:#00ff00"):
        options = EffectOptions(effect=effect, falloff=effect == "blur")
        own = Compositor(options, kernels="numpy").apply(img, alpha).astype(np.int32)
        _kernels.set_backend("numpy")
        try:
            process_wide = Compositor(options).apply(img, alpha).astype(np.int32)
        finally:
            _kernels.set_backend("numba" if before else "numpy")
        assert np.array_equal(own, process_wide), effect  # the same kernels, chosen for this compositor only
        assert np.abs(own - Compositor(options, kernels="numba").apply(img, alpha)).max() <= 2
    assert _kernels.using_numba() == before
    with pytest.raises(ValueError, match="kernels"):
        Compositor(kernels="opencl")


def test_mask_view_and_none() -> None:
    img, alpha = _smooth_scene(180, 320)
    view = Compositor(EffectOptions(effect="mask")).apply(img, alpha)
    assert view.shape == img.shape and np.array_equal(view[:, :, 1], alpha)
    assert Compositor(EffectOptions(effect="none")).apply(img, alpha) is img


def test_set_options_switches_effect_and_strength() -> None:
    img, alpha = _smooth_scene(180, 320)
    comp = Compositor(EffectOptions(effect="blur", strength=0.2))
    weak = comp.apply(img, alpha)
    comp.set_options(EffectOptions(effect="blur", strength=0.8))
    strong = comp.apply(img, alpha)
    bg = alpha == 0
    assert np.abs(strong.astype(int) - img)[bg].mean() > np.abs(weak.astype(int) - img)[bg].mean()
    comp.set_options(EffectOptions(effect="color:#ff0000"))
    assert (comp.apply(img, alpha)[bg] == (0, 0, 255)).all()


def test_bad_alpha_and_out_are_refused(textured_image: np.ndarray) -> None:
    comp = Compositor()
    with pytest.raises(FrameFormatError, match="alpha"):
        comp.apply(textured_image, np.zeros((10, 10), np.uint8))
    with pytest.raises(FrameFormatError, match="alpha"):
        comp.apply(textured_image, np.zeros(textured_image.shape[:2], np.float32))
    with pytest.raises(FrameFormatError, match="out"):
        comp.apply(textured_image, np.zeros(textured_image.shape[:2], np.uint8), np.empty((5, 5, 3), np.uint8))


@pytest.mark.parametrize("effect", ["blur", "bokeh", "color:#00ff00", "mask", "none"])
def test_a_smaller_alpha_is_upsampled_to_the_frame(effect: str, backend: str) -> None:
    """The matte's alpha at its guide resolution gives the picture of that alpha brought to full size first."""
    img, alpha = _smooth_scene(360, 640)
    small = cv2.resize(alpha, (320, 180), interpolation=cv2.INTER_AREA)
    full = cv2.resize(small, (640, 360), interpolation=cv2.INTER_LINEAR)
    options = EffectOptions(effect=effect)
    ours = Compositor(options).apply(img, small).astype(np.int32)
    expected = Compositor(options).apply(img, full).astype(np.int32)
    assert np.abs(ours - expected).max() <= 1  # the blend upsamples it in two steps: within a level
    if effect in ("color:#00ff00", "mask", "none"):
        assert np.array_equal(ours, expected)


def test_parse_color() -> None:
    assert parse_color("#ff8000") == (0x00, 0x80, 0xFF)
    assert parse_color("00ff00") == (0, 255, 0)
    with pytest.raises(ConfigError):
        parse_color("#ff80")


def test_six_blade_aperture_makes_hexagonal_discs() -> None:
    img, alpha, centre = _light_scene()
    extents = {}
    for blades in (0, 6):
        out = Compositor(EffectOptions(effect="bokeh", strength=0.5, blades=blades)).apply(img, alpha)
        gray = out.mean(axis=2)
        x, y = centre
        patch = gray[y - 60 : y + 61, x - 60 : x + 61]
        floor = float(np.median(gray[:, :300]))
        ys, xs = np.nonzero(patch - floor > 0.5 * (patch.max() - floor))
        extents[blades] = (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    (disc_h, disc_w), (hex_h, hex_w) = extents[0], extents[6]
    assert abs(disc_h - disc_w) <= 1  # round
    # a hexagon standing on a vertex: as tall as the disc, narrower (ideally by cos 30 deg)
    assert hex_h >= 0.9 * disc_h and hex_w <= 0.93 * disc_w, extents


def test_blades_out_of_range_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="blades"):
        EffectOptions(effect="bokeh", blades=2)


# --- convert's 4:2:0 path -------------------------------------------------------------------


@pytest.mark.parametrize("effect", ["blur", "bokeh"])
def test_planar_path_keeps_person_samples_and_looks_like_the_bgr_path(effect: str, backend: str) -> None:
    from livebokeh.effects.planar import PlanarCompositor
    from livebokeh.yuv import i420_half_bgr, i420_planes

    h, w = 360, 640
    img, alpha = _smooth_scene(h, w)
    i420 = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420)
    half = i420_half_bgr(i420, w, h)
    alpha_half = cv2.resize(alpha, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    out = PlanarCompositor(EffectOptions(effect=effect)).apply(i420, alpha, half=half)
    assert out.shape == i420.shape and out is not i420
    src, dst = i420_planes(i420, w, h), i420_planes(out, w, h)
    # the person's samples are the input's, bit for bit, in all three planes
    assert np.array_equal(dst[0][alpha == 255], src[0][alpha == 255])
    for k in (1, 2):
        assert np.array_equal(dst[k][alpha_half == 255], src[k][alpha_half == 255])
    # the background is blurred: the white bars' sharp edges are softened in the luma
    bg = alpha == 0
    grad_in = np.abs(np.diff(src[0].astype(int), axis=1))[bg[:, 1:]]
    grad_out = np.abs(np.diff(dst[0].astype(int), axis=1))[bg[:, 1:]]
    assert np.percentile(grad_out, 99.9) < np.percentile(grad_in, 99.9) / 3
    # and it is the BGR path's picture: same effect on the same decoded frame, compared in BGR
    decoded = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
    reference = Compositor(EffectOptions(effect=effect)).apply(decoded, alpha)
    ours = cv2.cvtColor(out, cv2.COLOR_YUV2BGR_I420)
    diff = np.abs(ours.astype(int) - reference.astype(int))
    assert diff[bg].mean() < 4.0, diff[bg].mean()


@pytest.mark.parametrize("effect", ["blur", "bokeh"])
def test_planar_path_upsamples_a_smaller_alpha_in_the_blend(effect: str, backend: str) -> None:
    """The matte's alpha at its guide resolution gives each plane what that alpha brought to the
    plane's size first gives: the luma within three levels and nearly everywhere within one (the
    background is summed with the small alpha as it is, not with the full one averaged to half size;
    the bokeh's highlight boost magnifies that in a few samples), the chroma within a few levels at
    the edge (bilinear to half size there), person samples exact."""
    from livebokeh.effects.planar import PlanarCompositor
    from livebokeh.yuv import i420_half_bgr, i420_planes

    h, w = 360, 640
    img, alpha = _smooth_scene(h, w)
    i420 = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420)
    half = i420_half_bgr(i420, w, h)
    small = cv2.resize(alpha, (240, 135), interpolation=cv2.INTER_AREA)
    full = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    options = EffectOptions(effect=effect)
    ours = i420_planes(PlanarCompositor(options).apply(i420, small, half=half), w, h)
    expected = i420_planes(PlanarCompositor(options).apply(i420, full, half=half), w, h)
    src = i420_planes(i420, w, h)
    luma = np.abs(ours[0].astype(int) - expected[0])
    assert luma.max() <= 3 and np.count_nonzero(luma > 1) < 0.001 * luma.size, (luma.max(), np.count_nonzero(luma > 1))
    for k in (1, 2):
        diff = np.abs(ours[k].astype(int) - expected[k])
        assert diff.max() <= 6 and diff.mean() < 0.1, (diff.max(), diff.mean())
    inside = cv2.resize(small, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR) == 255
    assert inside.mean() > 0.1 and np.array_equal(ours[1][inside], src[1][inside])
    assert np.array_equal(ours[0][full == 255], src[0][full == 255])


@pytest.mark.parametrize("effect", ["blur", "bokeh"])
def test_planar_background_moves_with_the_picture_when_the_camera_pans(effect: str, backend: str) -> None:
    """Pan a smooth picture by one and by three pixels: the blurred background moves with it, sample for
    sample, nearly everywhere.  Rounded to whole levels before it is scaled up, the background carries its
    rounding as patches that stay on the sample grid while the picture moves: then 28 % of the luma
    samples differ from the moved last frame, and an encoder has to code that change on every frame."""
    from livebokeh.effects.planar import PlanarCompositor
    from livebokeh.yuv import i420_half_bgr, i420_planes

    h, w = 360, 640
    rng = np.random.default_rng(1)
    wide = cv2.resize(rng.integers(0, 256, (12, 22, 3), dtype=np.uint8), (w + 64, h), interpolation=cv2.INTER_CUBIC)
    wide = cv2.GaussianBlur(wide, (0, 0), 6)
    person = np.zeros((h, w), np.uint8)  # all background

    def luma(x: int) -> np.ndarray:
        i420 = cv2.cvtColor(np.ascontiguousarray(wide[:, x : x + w]), cv2.COLOR_BGR2YUV_I420)
        out = PlanarCompositor(EffectOptions(effect=effect)).apply(i420, person, half=i420_half_bgr(i420, w, h))
        return i420_planes(out, w, h)[0].astype(np.int16)

    first = luma(0)
    for shift in (1, 3):
        moved = luma(shift)
        # away from the borders (the blur sees past them differently), sample x of the first frame
        # is sample x - shift of the second
        diff = np.abs(first[40:-40, 40 + shift : -40] - moved[40:-40, 40 : -40 - shift])
        changed = np.count_nonzero(diff) / diff.size
        assert diff.max() <= 2 and changed < 0.08, (shift, changed)


def test_planar_path_only_where_it_fits() -> None:
    from livebokeh.effects.planar import PlanarCompositor

    blur = EffectOptions(effect="blur")
    assert PlanarCompositor.supports(blur, 1920, 1080)
    assert PlanarCompositor.supports(EffectOptions(effect="bokeh"), 1280, 720, "yuv420p", {"colorspace": 1})
    assert not PlanarCompositor.supports(EffectOptions(effect="replace:#000000"), 1920, 1080)
    assert not PlanarCompositor.supports(EffectOptions(effect="mask"), 1920, 1080)
    assert not PlanarCompositor.supports(blur, 1922, 1080)  # half would be odd
    assert not PlanarCompositor.supports(blur, 1920, 1080, "yuv444p")
    assert not PlanarCompositor.supports(blur, 1920, 1080, "yuv420p", {"color_range": 2})  # full range
    assert not PlanarCompositor.supports(blur, 1920, 1080, "yuv420p", {"colorspace": 9})  # BT.2020


# --- one compositor API on BGR and on 4:2:0 ------------------------------------------------------


def _i420_scene(h: int = 360, w: int = 640) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An I420 frame, its alpha, the alpha averaged 2 x 2 (the chroma's) and the BGR the frame decodes to."""
    img, alpha = _smooth_scene(h, w)
    i420 = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420)
    return i420, alpha, cv2.resize(alpha, (w // 2, h // 2), interpolation=cv2.INTER_AREA), img


def test_planar_mask_view_is_the_bgr_mask_view_in_i420(backend: str) -> None:
    from livebokeh.effects.planar import PlanarCompositor

    i420, alpha, _, _ = _i420_scene()
    out = PlanarCompositor(EffectOptions(effect="mask")).apply(i420, alpha)
    view = Compositor(EffectOptions(effect="mask")).apply(np.zeros((*alpha.shape, 3), np.uint8), alpha)
    assert np.array_equal(out, cv2.cvtColor(view, cv2.COLOR_BGR2YUV_I420))


@pytest.mark.parametrize("effect", ["color:#00b140", "replace"])
def test_planar_backgrounds_are_the_bgr_paths_backgrounds(effect: str, backend: str, tmp_path: Path) -> None:
    from livebokeh.effects.planar import PlanarCompositor
    from livebokeh.yuv import i420_planes

    h, w = 360, 640
    i420, alpha, alpha_half, _ = _i420_scene(h, w)
    if effect == "replace":
        picture = cv2.resize(_smooth_scene(480, 360)[0], (360, 480))  # portrait: cover-fitted and cropped
        cv2.imwrite(str(tmp_path / "bg.png"), picture)
        effect = f"replace:{tmp_path / 'bg.png'}"
    options = EffectOptions(effect=effect)
    out = PlanarCompositor(options).apply(i420, alpha)
    # the background alone, as the BGR path makes it, in I420
    backdrop = cv2.cvtColor(
        Compositor(options).apply(np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.uint8)), cv2.COLOR_BGR2YUV_I420
    )
    src, dst, bg = i420_planes(i420, w, h), i420_planes(out, w, h), i420_planes(backdrop, w, h)
    for k, a in enumerate((alpha, alpha_half, alpha_half)):
        assert np.array_equal(dst[k][a == 0], bg[k][a == 0])  # background samples: the background's
        assert np.array_equal(dst[k][a == 255], src[k][a == 255])  # person samples: the input's
        edge = (a > 0) & (a < 255)
        mixed = (src[k].astype(np.float32) * a + bg[k].astype(np.float32) * (255 - a)) / 255
        assert np.abs(dst[k][edge] - mixed[edge]).max() <= 1.0


def test_planar_none_and_one_api_with_switching(backend: str, tmp_path: Path) -> None:
    from livebokeh.effects.compositor import BaseCompositor
    from livebokeh.effects.planar import PlanarCompositor

    i420, alpha, _, _ = _i420_scene()
    comp = PlanarCompositor(EffectOptions(effect="none"))
    assert isinstance(comp, BaseCompositor) and isinstance(Compositor(), BaseCompositor)
    assert comp.apply(i420, alpha) is i420
    out = np.empty_like(i420)
    assert comp.apply(i420, alpha, out) is out and np.array_equal(out, i420)
    cv2.imwrite(str(tmp_path / "bg.png"), _smooth_scene(90, 160)[0])
    for effect in ("blur", "bokeh", "color:#ff0000", f"replace:{tmp_path / 'bg.png'}", "mask", "blur"):
        options = EffectOptions(effect=effect, strength=0.4)
        comp.set_options(options)
        assert comp.apply(i420, alpha, out) is out
        assert np.array_equal(out, PlanarCompositor(options).apply(i420, alpha)), effect
    comp.close()


def test_planar_refuses_frames_that_are_not_i420_of_the_alphas_size() -> None:
    from livebokeh.effects.planar import PlanarCompositor

    i420, alpha, _, img = _i420_scene()
    comp = PlanarCompositor(EffectOptions(effect="blur"))
    with pytest.raises(FrameFormatError, match="I420"):
        comp.apply(img, alpha)  # a BGR frame
    with pytest.raises(FrameFormatError, match="alpha"):
        comp.apply(i420, alpha.astype(np.float32))
    with pytest.raises(FrameFormatError, match="divisible by 4"):
        comp.apply(np.zeros((9, 6), np.uint8), np.zeros((6, 6), np.uint8))
    with pytest.raises(FrameFormatError, match="out"):
        comp.apply(i420, alpha, np.empty((10, 10), np.uint8))


def test_the_pixel_kernel_is_the_documented_fixed_point_blend() -> None:
    f, b, a = np.meshgrid(np.arange(0, 256, 5), np.arange(0, 256, 3), np.arange(256), indexing="ij")
    got = _kernels._mix(f.astype(np.uint8), b.astype(np.uint8), a.astype(np.uint8))  # plain Python on arrays
    weight = a + (a >> 7)
    assert np.array_equal(got, ((b * 256 + (f - b) * weight + 128) >> 8).astype(np.uint8))
    assert np.array_equal(got[:, :, 255], f[:, :, 255]) and np.array_equal(got[:, :, 0], b[:, :, 0])
    assert np.abs(got.astype(int) - (b + (f - b) * a / 255)).max() <= 1


def test_background_warm_up_runs_once_per_group(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    if not _kernels._use_numba:
        pytest.skip("numba is not in use here")
    runs: list[str] = []
    real = _kernels._run_group

    def slow(group: str) -> None:
        runs.append(group)
        time.sleep(0.2)  # still warming when the second caller asks
        real(group)

    monkeypatch.setattr(_kernels, "_run_group", slow)
    monkeypatch.setattr(_kernels, "_warmed", set())
    monkeypatch.setattr(_kernels, "_warming", {})
    first = _kernels.warm_up_in_background("blur")
    second = _kernels.warm_up_in_background("blur")
    assert first is not None and second is first  # one thread, not two
    first.join()
    assert runs == ["blur"] and "blur" in _kernels._warmed
    assert _kernels.warm_up_in_background("blur") is None  # done: nothing to start


@pytest.mark.parametrize(("h", "w", "step"), [(3000, 4000, 8), (721, 1283, 3), (50, 64, 16), (130, 70, 2)])
def test_numpy_blend_builds_the_scaled_background_strip_by_strip(h: int, w: int, step: int) -> None:
    """The numpy path scales the low-resolution background one strip of rows at a time (no
    picture-sized buffer): every strip is what scaling the whole background gives, and the
    output may be the input (``photo`` composites in place)."""
    rng = np.random.default_rng(step)
    sh, wide = -(-h // step), max(-(-w // step) * step, w)
    bgx = rng.integers(0, 255, (sh + 1, wide, 3), dtype=np.uint8)
    whole = cv2.resize(bgx[:sh], (wide, sh * step), interpolation=cv2.INTER_LINEAR)[:h, :w]
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    alpha[: h // 3] = 255  # the person: kept as it is
    y0s = np.zeros(h, np.int64)  # not used on this path: the step says how the rows scale
    fys = np.zeros(h, np.int32)
    expected = whole.copy()
    expected[: h // 3] = img[: h // 3]
    with _kernels.backend("numpy"):
        out = np.empty_like(img)
        _kernels.blend_lowres(img, alpha, bgx, y0s, fys, out, {}, step)
        np.testing.assert_array_equal(out, expected)
        _kernels.blend_lowres(img, alpha, bgx, y0s, fys, img, {}, step)  # in place
        np.testing.assert_array_equal(img, expected)


@pytest.mark.parametrize("small", [False, True], ids=["full-alpha", "small-alpha"])
def test_the_lowres_blend_copies_whole_runs_and_mixes_the_runs_with_an_edge(small: bool) -> None:
    """Runs of ``BLEND_RUN`` pixels whose alpha is all 255 or all 0 are the frame's or the
    background's, and the runs with an edge are mixed: sample for sample, the fixed-point
    blend of the frame with the background rows interpolated between ``bgx``'s, wherever a
    partial alpha lies in its run (first pixel, last pixel, a short last run)."""
    if not _kernels._use_numba:
        pytest.skip("numba is not in use here (the numpy path has no runs)")
    run = _kernels.BLEND_RUN
    h, w, step = 24, 3 * run + 5, 4
    rng = np.random.default_rng(11)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    sh = -(-h // step)
    bgx = rng.integers(0, 256, (sh + 1, w, 3), dtype=np.uint8)
    u = np.clip((np.arange(h) + 0.5) / step - 0.5, 0, sh - 1)
    y0s = np.minimum(np.floor(u).astype(np.int64), sh - 1)
    fys = np.round((u - y0s) * 128).astype(np.int32)
    if small:  # a quarter-size alpha: whole rows of it, so runs stay saturated after upsampling
        alpha = np.zeros((h // 4, w), np.uint8)
        alpha[0, :run] = 255  # person run above background
        alpha[2, run : 2 * run] = 255
        alpha[3, 2 * run] = 200  # one soft pixel: its run (and its neighbours' rows) get mixed
        alpha[4, 3 * run :] = 255  # the short last run
    else:
        alpha = np.zeros((h, w), np.uint8)
        alpha[: h // 2, :run] = 255
        alpha[2, run : 2 * run] = 255
        alpha[2, run] = 128  # the first pixel of a person run
        alpha[3, 2 * run - 1] = 128  # the last pixel of a background run
        alpha[4, run : 2 * run] = 255
        alpha[4, run + 7] = 100
        alpha[5:, 3 * run :] = 255  # the short last run
        alpha[6, w - 1] = 90
        alpha[7:12, run : 3 * run] = rng.integers(0, 256, (5, 2 * run), dtype=np.uint8)
    out = np.empty_like(img)
    _kernels.blend_lowres(img, alpha, bgx, y0s, fys, out, {}, step)

    if small:
        ax, ay0s, ays = _kernels._alpha_rows(alpha, (w, h), {})
        a = ax[ay0s].astype(np.int32)
        full = (a + (((ax[ay0s + 1].astype(np.int32) - a) * ays[:, None] + 64) >> 7)).astype(np.uint8)
    else:
        full = alpha
    r0 = bgx[y0s].astype(np.int32)
    bg = (r0 + (((bgx[y0s + 1].astype(np.int32) - r0) * fys[:, None, None] + 64) >> 7)).astype(np.uint8)
    expected = _kernels._mix(img, bg, np.repeat(full[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(out, expected)
    assert (full == 255).any() and (full == 0).any() and ((full > 0) & (full < 255)).any()

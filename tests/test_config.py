"""The TOML config file: where it is found, what overrides what, and every kind of mistake in it."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest

from livebokeh import Config, ConfigError, EffectOptions, MatteOptions, SegmenterOptions, load_config
from livebokeh._cli import build_parser, main
from livebokeh._cli.common import apply_config, effect_options, matte_options, segmenter_options
from livebokeh.config import default_config_path, parse_config
from livebokeh.effect_kinds import Blur, Bokeh, Color, MaskView, Passthrough, Replace, parse_effect


@pytest.fixture(autouse=True)
def isolated_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point $XDG_CONFIG_HOME at an empty folder so the user's real config never leaks in."""
    home = tmp_path / "xdg"
    home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse like the CLI does, config merge included."""
    parser = build_parser()
    args = parser.parse_args(argv)
    apply_config(parser, args, argv)
    return args


# --- finding the file -----------------------------------------------------------------------------


def test_default_path_follows_xdg_config_home(isolated_xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_config_path() == isolated_xdg / "livebokeh" / "config.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert default_config_path() == Path.home() / ".config" / "livebokeh" / "config.toml"


def test_no_file_means_dataclass_defaults() -> None:
    config = load_config()
    assert config.path is None and not config.sections and not config.commands
    assert (
        config.effect == EffectOptions() and config.matte == MatteOptions() and config.segmenter == SegmenterOptions()
    )
    args = parse(["photo", "x.png", "-o", "y.png"])
    assert effect_options(args) == EffectOptions()
    assert segmenter_options(args) == SegmenterOptions()
    assert matte_options(args) == MatteOptions()


def test_xdg_file_is_read_when_present(isolated_xdg: Path) -> None:
    write(isolated_xdg / "livebokeh" / "config.toml", '[effect]\neffect = "bokeh"\nstrength = 0.25\n')
    assert load_config().effect == EffectOptions(effect="bokeh", strength=0.25)
    args = parse(["photo", "x.png", "-o", "y.png"])
    assert effect_options(args) == EffectOptions(effect="bokeh", strength=0.25)


def test_explicit_config_replaces_the_default_file(isolated_xdg: Path, tmp_path: Path) -> None:
    write(isolated_xdg / "livebokeh" / "config.toml", '[effect]\neffect = "bokeh"\nstrength = 0.25\n')
    other = write(tmp_path / "other.toml", "[effect]\nstrength = 0.75\n")
    for argv in (["--config", str(other), "photo", "x.png"], ["photo", "x.png", "--config", str(other)]):
        opts = effect_options(parse(argv))
        assert opts == EffectOptions(effect="blur", strength=0.75), argv


def test_no_config_ignores_the_default_file(isolated_xdg: Path) -> None:
    write(isolated_xdg / "livebokeh" / "config.toml", '[effect]\neffect = "bokeh"\n')
    assert effect_options(parse(["--no-config", "photo", "x.png"])).effect == Blur()


# --- precedence: flag > command section > shared section > default -------------------------------


def test_precedence_flag_over_command_section_over_shared_over_default(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.toml",
        """
[effect]
effect = "mask"
strength = 0.2
falloff = true

[model]
threads = 2

[matte]
refine = false
temporal = false

[photo]
strength = 0.3
subject = "main"
""",
    )
    args = parse(["--config", str(cfg), "photo", "x.png"])
    # shared section over default; command section over shared section
    assert effect_options(args) == EffectOptions(effect="mask", strength=0.3, falloff=True)
    assert segmenter_options(args) == SegmenterOptions(threads=2)
    assert matte_options(args) == MatteOptions(refine=False, subject="main", temporal=False)
    # typed flags over everything (including negative boolean flags and values equal to the default)
    args = parse(
        ["--config", str(cfg), "photo", "x.png", "--strength", "0.5", "--effect", "blur", "--no-falloff", "--refine"]
    )
    assert effect_options(args) == EffectOptions(effect="blur", strength=0.5, falloff=False)
    assert matte_options(args).refine is True
    assert matte_options(args).subject == "main"
    assert segmenter_options(parse(["--config", str(cfg), "photo", "x.png", "--threads", "1"])).threads == 1


def test_command_section_sets_command_only_flags(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[photo]\noverwrite = true\nquiet = true\n")
    args = parse(["--config", str(cfg), "photo", "x.png"])
    assert args.overwrite is True and args.quiet is True
    # another command's section does not leak into this one
    cfg2 = write(tmp_path / "d.toml", "[models]\njson = true\n")
    assert parse(["--config", str(cfg2), "photo", "x.png"]).quiet is False


def test_config_changes_what_photo_writes(tmp_path: Path) -> None:
    """End to end: the file's effect reaches the output; a typed flag overrides it."""
    rng = np.random.default_rng(1)
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), rng.integers(0, 256, size=(96, 128, 3), dtype=np.uint8))
    cfg = write(tmp_path / "c.toml", '[effect]\neffect = "mask"\n')
    out = tmp_path / "out.png"
    assert main(["--config", str(cfg), "photo", str(src), "-o", str(out), "-q"]) == 0
    img = cv2.imread(str(out))
    assert (img[:, :, 0] == img[:, :, 1]).all() and (img[:, :, 1] == img[:, :, 2]).all()  # grey: the mask view
    assert main(["--config", str(cfg), "photo", str(src), "-o", str(out), "-q", "--overwrite", "--effect", "blur"]) == 0
    img = cv2.imread(str(out))
    assert not (img[:, :, 0] == img[:, :, 1]).all()  # colour again: the flag won


def test_library_config_object(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "c.toml", '[model]\nmodel = "selfie"\nperson-class = 1\n[live]\nfps = 30\n'))
    assert isinstance(cfg, Config)
    assert cfg.segmenter == SegmenterOptions(model="selfie", person_class=1)
    assert cfg.commands["live"] == {"fps": 30}
    # a command section can override shared fields for that command when building options
    cfg = load_config(write(tmp_path / "d.toml", "[effect]\nstrength = 0.1\n[live]\nstrength = 0.9\n"))
    assert cfg.options(EffectOptions, "effect").strength == 0.1
    assert cfg.options(EffectOptions, "effect", command="live").strength == 0.9
    assert cfg.options(EffectOptions, "effect", command="live", strength=0.4).strength == 0.4


# --- effects: text parsed once into typed values ---------------------------------------------

EFFECT_TEXTS = [
    ("blur", Blur()),
    ("bokeh", Bokeh()),
    ("mask", MaskView()),
    ("none", Passthrough()),
    ("replace:beach.jpg", Replace(Path("beach.jpg"))),
    ("replace:my clips/sea.mp4", Replace(Path("my clips/sea.mp4"))),
    ("color:#00b140", Color((0x40, 0xB1, 0x00))),
]


@pytest.mark.parametrize(("text", "value"), EFFECT_TEXTS, ids=[t for t, _ in EFFECT_TEXTS])
def test_effect_text_becomes_a_typed_value_and_back(text: str, value: object) -> None:
    opts = EffectOptions(effect=text)
    assert opts.effect == value and type(opts.effect) is type(value)
    assert str(opts.effect) == text
    assert EffectOptions(effect=opts.effect) == opts == EffectOptions(effect=parse_effect(text))


def test_color_text_in_any_case_with_or_without_hash() -> None:
    assert parse_effect("color:00B140") == parse_effect("color:#00b140") == Color((0x40, 0xB1, 0x00))
    assert str(parse_effect("color:00B140")) == "color:#00b140"


_UNKNOWN = "is unknown: use one of blur, bokeh, mask, none, replace:IMAGE_OR_VIDEO, color:#RRGGBB"
BAD_EFFECTS = [
    ("sparkle", f"effect 'sparkle' {_UNKNOWN}"),
    ("replace:", f"effect 'replace:' {_UNKNOWN}"),
    ("Blur", f"effect 'Blur' {_UNKNOWN}"),
    ("color:#12345", "effect 'color:#12345': a colour is written color:#RRGGBB, e.g. color:#00ff00"),
    ("color:green", "effect 'color:green': a colour is written color:#RRGGBB, e.g. color:#00ff00"),
]


@pytest.mark.parametrize(("text", "message"), BAD_EFFECTS, ids=[t for t, _ in BAD_EFFECTS])
def test_bad_effect_text_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        EffectOptions(effect=text)
    assert str(info.value) == message
    with pytest.raises(ConfigError) as info:
        effect_options(parse(["--no-config", "photo", "x.png", "--effect", text]))
    assert str(info.value) == message


def test_effect_values_are_checked() -> None:
    with pytest.raises(ConfigError, match="0-255"):
        Color((0, 0, 256))
    with pytest.raises(ConfigError, match="unknown"):
        EffectOptions(effect=5)  # type: ignore[arg-type]


# --- every error names the key, the value and what is allowed ---------------------------------------

ERRORS = [
    # (toml, words that must all appear in the message)
    ("[efect]\nstrength = 0.5\n", ["[efect]", "[effect]", "[model]", "[matte]", "[photo]"]),
    ("[effect]\nstrenght = 0.5\n", ["strenght", "0.5", "effect, strength, falloff"]),
    ("[effect]\nstrength = 1.5\n", ["strength", "1.5", "0 to 1"]),
    ("[effect]\nstrength = -0.1\n", ["strength", "-0.1", "0 to 1"]),
    ('[effect]\nstrength = "high"\n', ["strength", '"high"', "a number"]),
    ("[effect]\nstrength = true\n", ["strength", "true", "a number"]),
    ('[effect]\neffect = "sparkle"\n', ["sparkle", "blur", "bokeh", "replace:"]),
    ('[effect]\neffect = "color:green"\n', ["color:green", "#RRGGBB"]),
    ('[effect]\nfalloff = "yes"\n', ["falloff", '"yes"', "true or false"]),
    ("[model]\nthreads = 0\n", ["threads", "0", ">= 1"]),
    ("[model]\nthreads = 1.5\n", ["threads", "1.5", "whole number"]),
    ("[model]\nperson_class = -1\n", ["person_class", "-1", ">= 0"]),
    ("[model]\nmodel = 5\n", ["model", "5", "a string"]),
    ('[matte]\nsubject = "everyone"\n', ["subject", "everyone", "all, main"]),
    ("[matte]\nrefine = 1\n", ["refine", "1", "true or false"]),
    ("[photo]\nquiet = 1\n", ["[photo]", "quiet", "1", "true or false"]),
    ('[photo]\nsubject = "me"\n', ["[photo]", "subject", "me", "all, main"]),
    ('[photo]\nthreads = "two"\n', ["[photo]", "threads", '"two"', "whole number"]),
    ("[photo]\nstrength = 7\n", ["[photo]", "strength", "7", "0 to 1"]),
    ("[photo]\nqueit = true\n", ["[photo]", "queit", "quiet", "overwrite"]),
    ("[photo]\nstrength = [0.1, 0.2]\n", ["[photo]", "strength", "single value"]),
    ("[live]\ninference_fps = 0\n", ["[live]", "inference_fps", "0", "above 0"]),
    ("[live]\nfps = 1000\n", ["[live]", "fps", "1000", "at most 240"]),
    ("[demo]\ninference_fps = 5000\n", ["[demo]", "inference_fps", "5000", "at most 1000"]),
    ("[demo]\nduration = -2\n", ["[demo]", "duration", "-2", "above 0"]),
    ("strength = 0.5\n", ["strength", "outside any section", "[effect]"]),
    ("[effect\nstrength = 0.5\n", ["not valid TOML"]),
]


@pytest.mark.parametrize(("text", "words"), ERRORS, ids=[e[0].replace("\n", " ")[:40] for e in ERRORS])
def test_every_config_error_names_key_value_and_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: list[str]
) -> None:
    cfg = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        parse(["--config", str(cfg), "photo", "x.png"])
    message = str(info.value)
    assert str(cfg) in message
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"
    assert "\n" not in message
    # the CLI turns it into one line on stderr and exit status 1, no traceback
    assert main(["--config", str(cfg), "photo", "x.png", "-o", str(tmp_path / "o.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("livebokeh: error: config ") and "Traceback" not in err


def test_a_mistake_in_another_commands_section_is_still_reported(tmp_path: Path) -> None:
    cfg = write(tmp_path / "bad.toml", "[models]\njsn = true\n")
    with pytest.raises(ConfigError, match=r"\[models\] jsn = true.*allowed keys are .*json"):
        parse(["--config", str(cfg), "photo", "x.png"])


def test_missing_and_unreadable_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.toml does not exist"):
        load_config(tmp_path / "nope.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="bin.toml"):
        load_config(binary)


def test_a_broken_default_file_is_an_error_not_silently_ignored(isolated_xdg: Path) -> None:
    path = write(isolated_xdg / "livebokeh" / "config.toml", "[effect]\nstrength = 9\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_config()


def test_parse_config_without_command_list_accepts_command_sections() -> None:
    cfg = parse_config('[convert]\ncrf = 18\n[effect]\neffect = "bokeh"\n')
    assert cfg.commands == {"convert": {"crf": 18}} and cfg.effect.effect == Bokeh()
    with pytest.raises(ConfigError, match="unknown section"):
        parse_config("[convert]\ncrf = 18\n", commands=["live"])


def test_command_sections_map_onto_their_own_dataclasses(tmp_path: Path) -> None:
    from livebokeh import LiveOptions

    cfg = load_config(write(tmp_path / "c.toml", "[live]\ninference_fps = 15\nmirror = true\nsize = [1280, 720]\n"))
    assert cfg.options(LiveOptions, "live") == LiveOptions(inference_fps=15.0, mirror=True, size=(1280, 720))
    bad = load_config(write(tmp_path / "d.toml", "[live]\ninference_fps = -3\n"))
    with pytest.raises(ConfigError, match=r"d.toml: \[live\] inference fps -3.* above 0"):
        bad.options(LiveOptions, "live")
    wrong = load_config(write(tmp_path / "e.toml", '[live]\nmirror = "yes"\n'))
    with pytest.raises(ConfigError, match=r'\[live\] mirror = "yes" has the wrong type .*true or false'):
        wrong.options(LiveOptions, "live")

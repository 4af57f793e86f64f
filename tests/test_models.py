"""Bundled models: manifest, hashes, clear errors for missing/truncated/wrong files."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from livebokeh import models
from livebokeh.errors import ModelLoadError
from livebokeh.segmentation import TFLiteSegmenter


def test_manifest_lists_the_vendored_models_and_all_hashes_match() -> None:
    table = models.manifest()
    assert {"selfie", "selfie-landscape", "face-short"} <= set(table)
    assert table["selfie"].input_size == (256, 256)
    assert table["selfie-landscape"].input_size == (144, 256)
    for info in table.values():
        assert models.verify(info) == info.path
        assert len(info.sha256) == 64


def test_license_and_notice_ship_beside_the_models() -> None:
    folder = models.models_dir()
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert "mediapipe==0.10.21" in (folder / "NOTICE").read_text()


@pytest.mark.parametrize("damage", ["missing", "truncated", "wrong"])
def test_damaged_model_file_raises_model_load_error(tmp_path: Path, damage: str) -> None:
    info = models.manifest()["selfie"]
    copy = tmp_path / info.file
    if damage == "truncated":
        copy.write_bytes(info.path.read_bytes()[:1000])
    elif damage == "wrong":
        shutil.copy(models.manifest()["face-short"].path, copy)
    fake = replace(info, path=copy)
    with pytest.raises(ModelLoadError) as err:
        models.verify(fake)
    assert str(copy) in str(err.value)
    assert ("missing" if damage == "missing" else "damaged") in str(err.value)


def test_unknown_model_name_and_bad_path_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="neither a bundled model"):
        TFLiteSegmenter("no-such-model")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"this is not a flatbuffer" * 10)
    with pytest.raises(ModelLoadError, match="junk.tflite"):
        TFLiteSegmenter(str(junk))


def test_fetch_script_verifies_the_vendored_files() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    script = root / "scripts" / "fetch_models.py"
    if not script.exists():
        pytest.skip("not running from a source checkout")
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("OK") == len(models.manifest())

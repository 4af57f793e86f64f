"""Shared fixtures: the evaluation data beside the repo (skipped when absent), small images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """``../shared/data`` next to the repo root (or ``$LIVEBOKEH_SHARED_DATA``), if present."""
    env = os.environ.get("LIVEBOKEH_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is not present (evaluation data is optional)")
    return path


@pytest.fixture
def textured_image() -> np.ndarray:
    """A 240x320 BGR image with texture everywhere, so any blur changes it."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)


@pytest.fixture(scope="session")
def _test_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("livebokeh-cache")


@pytest.fixture(autouse=True)
def _no_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _test_cache_dir: Path
) -> None:
    """Keep a developer's own ~/.config/livebokeh/config.toml out of every test, crash logs out of ~/.local
    and optimised model graphs out of ~/.cache (one cache for the whole run)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
    monkeypatch.setenv("LIVEBOKEH_CACHE_DIR", str(_test_cache_dir))

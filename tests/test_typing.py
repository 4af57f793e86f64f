"""The package type-checks: mypy with the settings in pyproject.toml must report no errors."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_mypy_passes_on_the_package() -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install '.[test]')")
    stdout, stderr, status = api.run(["--config-file", str(REPO / "pyproject.toml"), str(REPO / "livebokeh")])
    assert status == 0, f"mypy found errors:\n{stdout}{stderr}"

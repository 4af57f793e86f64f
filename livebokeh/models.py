"""The bundled models: where they are, what they are, and whether they are intact.

The files live in the repository's ``models/`` folder, which is installed as the
package ``livebokeh._models`` (see ``pyproject.toml``).  ``manifest.json`` there
names each file with its sha256, input size and output meaning; :func:`resolve`
returns a verified path or raises :class:`~livebokeh.errors.ModelLoadError`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import ModelLoadError

DEFAULT_MODEL = "auto"
"""``auto`` picks ``selfie`` or ``selfie-landscape`` from each frame's aspect ratio."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One entry of the bundled-model manifest."""

    name: str
    file: str
    sha256: str
    kind: str
    input_size: tuple[int, int]  # (height, width)
    output: str
    path: Path

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0


def models_dir() -> Path:
    """The folder holding the bundled model files (installed package or source checkout)."""
    installed = Path(__file__).resolve().parent / "_models"
    if (installed / "manifest.json").is_file():
        return installed
    source_tree = Path(__file__).resolve().parent.parent / "models"
    if (source_tree / "manifest.json").is_file():
        return source_tree
    raise ModelLoadError("bundled models not found: reinstall livebokeh (`pip install --force-reinstall livebokeh`)")


@cache
def manifest() -> dict[str, ModelInfo]:
    """All bundled models by name."""
    folder = models_dir()
    data = json.loads((folder / "manifest.json").read_text())
    out: dict[str, ModelInfo] = {}
    for entry in data["models"]:
        out[entry["name"]] = ModelInfo(
            name=entry["name"],
            file=entry["file"],
            sha256=entry["sha256"],
            kind=entry["kind"],
            input_size=(int(entry["input_size"][0]), int(entry["input_size"][1])),
            output=entry["output"],
            path=folder / entry["file"],
        )
    return out


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(info: ModelInfo) -> Path:
    """Return ``info.path`` if the file exists and matches its manifest hash, else raise."""
    path = info.path
    if not path.is_file():
        raise ModelLoadError(
            f"model file {path} is missing: restore it with `python scripts/fetch_models.py` or reinstall livebokeh"
        )
    actual = sha256_of(path)
    if actual != info.sha256:
        raise ModelLoadError(
            f"model file {path} is damaged (sha256 {actual[:12]}..., expected {info.sha256[:12]}...): "
            "restore it with `python scripts/fetch_models.py` or reinstall livebokeh"
        )
    return path


def resolve(name: str) -> ModelInfo:
    """Look up a bundled model by name and verify its file."""
    table = manifest()
    if name not in table:
        known = ", ".join(sorted(table))
        raise ModelLoadError(f"unknown model {name!r}: use one of {known}, or a path to a .tflite or .pb file")
    info = table[name]
    verify(info)
    return info

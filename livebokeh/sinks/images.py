"""Write still images atomically."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputError
from ..safe_write import atomic_output

WRITE_PARAMS = {
    ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95],
    ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95],
    ".webp": [cv2.IMWRITE_WEBP_QUALITY, 95],
    ".png": [cv2.IMWRITE_PNG_COMPRESSION, 3],
}
WRITABLE = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def write_image(path: str | Path, image: np.ndarray, *, overwrite: bool = False) -> None:
    """Encode ``image`` by the suffix of ``path`` and write it via a temp file + rename."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in WRITABLE:
        raise OutputError(f"output {target} has no image extension: use one of {', '.join(WRITABLE)}")
    ok, buf = cv2.imencode(suffix, image, WRITE_PARAMS.get(suffix, []))
    if not ok:
        raise OutputError(f"could not encode {target} as {suffix}")
    with atomic_output(target, overwrite=overwrite) as tmp:
        try:
            buf.tofile(str(tmp))
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc

"""Read still images (JPEG, PNG, WebP, BMP, TIFF) as upright BGR frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MAX_PIXELS = 200_000_000


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to BGR ``uint8`` ``H x W x 3``, applying its EXIF orientation."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"input {p} is a directory, not an image: give an image file")
    if not p.exists():
        raise InputError(f"input {p} does not exist: check the path")
    if not p.is_file():  # a pipe or device would block or never end
        raise InputError(f"input {p} is not a regular file (a pipe or device?): give an image file")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except PermissionError as exc:
        raise InputError(f"input {p} cannot be read (permission denied): fix its permissions") from exc
    except OSError as exc:
        raise InputError(f"input {p} cannot be read: {exc.strerror or exc}") from exc
    if data.size == 0:
        raise InputError(f"input {p} is empty (0 bytes): give a JPEG, PNG, WebP, BMP or TIFF image")
    level = _quiet_opencv()  # OpenCV's own warnings ("buffer is incomplete") would be a second, raw line
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        if "MAX_IMAGE_PIXELS" in str(exc):
            raise InputError(
                f"input {p} declares a picture too large to decode (over 1 gigapixel): "
                "the file is damaged or not a photo"
            ) from exc
        raise InputError(f"input {p} cannot be decoded as an image: {str(exc).strip().splitlines()[-1]}") from exc
    finally:
        _restore_opencv(level)
    if image is None:
        raise InputError(f"input {p} is not a readable image: give a JPEG, PNG, WebP, BMP or TIFF file")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise InputError(f"input {p} is {image.shape[1]}x{image.shape[0]}, larger than {MAX_PIXELS // 1_000_000} MP")
    return np.ascontiguousarray(image)


def _quiet_opencv() -> int | None:
    try:
        level = int(cv2.utils.logging.getLogLevel())
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        return level
    except AttributeError:  # an OpenCV build without the logging module
        return None


def _restore_opencv(level: int | None) -> None:
    if level is not None:
        cv2.utils.logging.setLogLevel(level)


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)

"""Read still images (JPEG, PNG, WebP, BMP, TIFF) as upright BGR frames."""

from __future__ import annotations

import importlib
from concurrent.futures import Future, ThreadPoolExecutor
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


class ImageReader:
    """Decodes images in one background thread, ahead of their use.

    :meth:`read_ahead` starts on a file; :meth:`read` returns it (waiting if need be), or reads
    a file that was never started.  An error of the read (:class:`~livebokeh.errors.InputError`)
    is raised by :meth:`read`, where the caller handles it like any other.  ``livebokeh photo``
    starts on its first picture before it imports the matte and loads the models, and on each
    next picture while one is processed.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livebokeh-read")
        self._pending: dict[Path, Future[np.ndarray]] = {}

    def read_ahead(self, path: str | Path | None) -> None:
        """Start decoding ``path`` in the background (``None``, or a file already started: nothing to do)."""
        if path is not None and Path(path) not in self._pending:
            self._pending[Path(path)] = self._pool.submit(read_image, path)

    def read(self, path: str | Path) -> np.ndarray:
        """``path`` decoded (:func:`read_image`): the background read's result, else a read now."""
        pending = self._pending.pop(Path(path), None)
        return read_image(path) if pending is None else pending.result()

    def close(self) -> None:
        """Drop every read not yet used; a decode under way finishes in its thread."""
        self._pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ImageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def no_huge_pages() -> bool:
    """Stop NumPy from asking the kernel for huge pages on its large arrays, for this process.

    NumPy marks every array of 4 MB or more for transparent huge pages
    (``madvise(MADV_HUGEPAGE)``).  Where the kernel compacts memory to find them on demand
    (``/sys/kernel/mm/transparent_hugepage/defrag`` = ``madvise``, a common default), the first
    touch of a fresh 36-MB buffer - a decoded 12-MP photo, its composite - sometimes stalls
    for a few hundred ms.  A photo is read, processed and written once, so the pages never
    pay that back (``photo --quality fast`` on a 12-MP JPEG, 12 runs each on the 2-core dev
    machine: 0.27-0.98 s, median 0.41 s with the hint; 0.30-0.44 s, median 0.335 s without).
    Returns whether the setting could be changed (a NumPy without the switch keeps its own).
    """
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        switch = getattr(module, "_set_madvise_hugepage", None)
        if callable(switch):
            switch(False)
            return True
    return False

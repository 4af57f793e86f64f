"""Where frames come in: the :class:`Source` protocol and :func:`open_source`.

A source delivers BGR ``uint8`` ``H x W x 3`` images, one per :meth:`Source.read`
call, paced like a camera (a live camera by nature; files and synthetic frames
against ``time.monotonic_ns()``).  ``read`` returns ``None`` at the end of the
stream.  ``close`` is idempotent and every source is a context manager.

Modules::

    base.py        the Source protocol, BaseSource, OwnSource (your own object as a Source)
    specs.py       open_source: camera[:N], sample[:mjpeg], synthetic[:WxH@FPS][:mjpeg], PATH or URL -> a Source
    camera.py      an OpenCV camera;  reconnect.py: reopens a lost camera, showing a card meanwhile
    video.py       a video file or URL played as a camera;  sample.py: the bundled clip
    decoder.py     the one PyAV decoder (frames, timestamps, rotation, colour tags) behind
                   video.py, convert and video backgrounds
    mjpeg.py       frames kept as JPEG, decoded one per read (a webcam in MJPEG mode)
    synthetic.py   generated frames;  images.py: still images (photo);  pacing.py: real-time pacing
"""

from .base import BaseSource, OwnSource, Source
from .specs import open_source, parse_size

__all__ = ["BaseSource", "OwnSource", "Source", "open_source", "parse_size"]

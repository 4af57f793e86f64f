"""Where composited frames go out: the :class:`Sink` protocol and :func:`open_sink`.

A sink is opened once with the stream's size and frame rate, then receives every
composited :class:`~livebokeh.frames.Frame` through :meth:`Sink.write`.  ``close`` is
idempotent and every sink is a context manager.  A sink that fails raises
:class:`~livebokeh.errors.SinkError`; the live pipeline reports it and drops that sink
while the others keep running.  :class:`SinkClosed` means the user closed it (e.g. the
preview window).

Modules::

    base.py         the Sink protocol, BaseSink, OwnSink (your own object as a Sink), Controls
    specs.py        open_sink: preview, virtualcam, null, PATH -> a Sink
    preview.py      an OpenCV window with a HUD and hotkeys;  virtualcam.py: pyvirtualcam
    file.py         a live recording (an encoder thread behind a bounded queue)
    video.py        the PyAV encoder and muxer behind a temp file + rename (VideoFileSink)
    converted.py    convert's output: the video with the input's audio, and the mask
    images.py       still images written atomically;  null.py: discards frames
"""

from .base import BaseSink, Controls, OwnSink, Sink, SinkClosed
from .specs import open_sink

__all__ = ["BaseSink", "Controls", "OwnSink", "Sink", "SinkClosed", "open_sink"]

"""Where the mask is applied: background effects and the one blend.

:class:`Compositor` (BGR frames) and :class:`~.planar.PlanarCompositor` (I420 frames) are
the one API (:class:`~.compositor.BaseCompositor`); the backgrounds behind it live in
``blur.py`` (Gaussian), ``bokeh.py`` (lens blur), ``replace.py`` (image or video),
``falloff.py`` (depth-like blur growth) and ``lowres.py`` (the masked, reduced-resolution
blur they share); ``_kernels.py`` holds the per-pixel loops, with the one blend kernel.
"""

from .blur import blur_sigma
from .bokeh import bokeh_radius
from .compositor import BaseCompositor, Compositor
from .planar import PlanarCompositor
from .replace import cover_fit

__all__ = ["BaseCompositor", "Compositor", "PlanarCompositor", "blur_sigma", "bokeh_radius", "cover_fit"]

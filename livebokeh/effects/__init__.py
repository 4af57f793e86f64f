"""Where the mask is applied: background effects and the one blend.

:class:`Compositor` is the one API; the effects behind it live in ``blur.py``
(Gaussian), ``bokeh.py`` (lens blur), ``replace.py`` (image or video),
``color.py`` (solid colour), ``falloff.py`` (depth-like blur growth) and
``lowres.py`` (the masked, reduced-resolution blur they share).
"""

from .blur import blur_sigma
from .bokeh import bokeh_radius
from .compositor import Compositor
from .replace import cover_fit

__all__ = ["Compositor", "blur_sigma", "bokeh_radius", "cover_fit"]

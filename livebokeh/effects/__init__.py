"""Where the mask is applied: background effects and the one blend."""

from .compositor import Compositor

__all__ = ["Compositor"]

"""Real and synthetic EEL spectra: the bundled WS2 data and a seeded generator."""

from ._synthetic import make_synthetic_eels, zlp_shape
from ._ws2 import load_ws2

__all__ = ["load_ws2", "make_synthetic_eels", "zlp_shape"]

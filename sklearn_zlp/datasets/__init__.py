"""Real and synthetic EEL spectra: the bundled WS2 data, a seeded generator, the validation zoo."""

from ._synthetic import make_synthetic_eels
from ._ws2 import load_ws2
from ._zlp_shape import zlp_shape
from ._zoo import ZooCase, ZooExpectation, validation_zoo

__all__ = [
    "ZooCase",
    "ZooExpectation",
    "load_ws2",
    "make_synthetic_eels",
    "validation_zoo",
    "zlp_shape",
]

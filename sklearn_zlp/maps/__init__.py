"""Spectrum images: per-pixel maps of thickness and band gap with bands and statuses.

The last step of the pipeline for images: a fitted
:class:`~sklearn_zlp.ZLPSubtractor` (best trained on thickness clusters,
``training="clusters"``) applied to every pixel, replicas reduced on the fly,
NumPy, dask and HyperSpy input alike.
"""

from ._compute import FIELDS
from ._maps import spectral_maps
from ._result import SpectralMaps

__all__ = ["FIELDS", "SpectralMaps", "spectral_maps"]

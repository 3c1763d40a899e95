"""Replica-aware low-loss physics on ZLP-subtracted spectra.

Functions take arrays shaped (..., n_channels) or (n_replicas, ..., n_channels)
and return per-replica values together with medians and 68% intervals, so that
the replica uncertainty is carried through every step without linear error
propagation.
"""

from ._bandgap import BandGapFitter, BandGapResult, check_cherenkov, fit_band_gap
from ._deconvolution import fourier_log_deconvolution
from ._kramers_kronig import kramers_kronig
from ._thickness import (
    absolute_thickness,
    mean_free_path_iakoubovskii,
    mean_free_path_malis,
    summarize,
    t_over_lambda,
)

__all__ = [
    "BandGapFitter",
    "BandGapResult",
    "absolute_thickness",
    "check_cherenkov",
    "fit_band_gap",
    "fourier_log_deconvolution",
    "kramers_kronig",
    "mean_free_path_iakoubovskii",
    "mean_free_path_malis",
    "summarize",
    "t_over_lambda",
]

"""Replica-aware low-loss physics on ZLP-subtracted spectra.

Functions return per-replica values, and :func:`summarize` reduces them to
medians and 68% bands, so that the replica uncertainty is carried through every
step without linear error propagation.

Shapes. Channels are always on the last axis. :func:`t_over_lambda`,
:func:`fourier_log_deconvolution` and :func:`kramers_kronig` treat every
leading axis alike (replicas, spectra or the pixels of an image:
(..., n_channels), broadcast between spectra and ZLPs). :func:`fit_band_gap`
also computes statistics over replicas (its automatic window, medians and
bands), so it never guesses which axis holds them: 1-D is one spectrum, 2-D
(n_spectra, n_channels) spectra without replicas, and replicas come from
``replica_axis`` or from a subtraction result kept with its replicas. A 3-D
array without ``replica_axis`` is refused, since a spectrum image (ny, nx,
n_channels) has the same shape; flatten an image to (ny * nx, n_channels)
first. :class:`BandGapFitter` takes one spectrum per row.

Bands have the package's one layout: ``(lower, upper)`` stacked on the first
axis (``summarize(values)[1]``, ``BandGapResult.e_bg_band``: (2, n_spectra)),
from quantiles with numpy's ``"normal_unbiased"`` method; replicas whose value
is NaN (a failed estimate) are left out. Every array argument accepts any real
array-like (float32/64, integers, lists, pandas); complex and boolean input is
refused with a ValueError.
"""

from ._bandgap import fit_band_gap
from ._bandgap_fitter import BandGapFitter
from ._bandgap_result import BandGapResult
from ._cherenkov import check_cherenkov
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

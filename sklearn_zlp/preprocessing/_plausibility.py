"""Whether an automatic dE_I is plausible: found, not in the ZLP's core, not past
the inelastic rise. Implausible edges become NaN with one of the statuses below.
"""

import numpy as np

from .._status import register_status, status_array
from ._peak import fwhm_of_validated

__all__ = ["de1_plausibility"]

# An automatic dE_I closer to the ZLP's maximum than this many FWHM is implausible:
# that is where a ZLP's Gaussian core bends into its tail, and where the curvature
# knee of a spectrum lies whose inelastic onset cannot be told from the tail. The
# FWHM is the smoothed spectrum's, which the edge methods see: smoothing (0.1 eV
# by default) widens a sharp ZLP and moves the knee out with it. Measured on
# make_synthetic_eels (band gap 1.6-20 eV, 5-80 FWHM): knee at 2.0-2.5 smoothed
# FWHM for FWHM 0.02-2.5 eV. On the WS2 spectra (published dE_I 1.7-1.9 eV) dE_I
# is 3.3-3.9 smoothed FWHM, and with vacuum spectra ("ratio") 3.7-24 FWHM.
MIN_DE1_FWHM = 3.0
# At a plausible dE_I the spectrum still falls, or has just stopped falling: the
# ZLP dominates. Risen this fraction above its minimum beyond the peak, the
# inelastic intensity dominates there instead.
MAX_DE1_RISE = 0.1

DE1_NOT_FOUND = register_status(
    "de1_not_found",
    "the dE_I method found no edge: no zero crossing of the spectrum's slope, no "
    "knee in its tail, or no deviation from the vacuum spectra.",
)
DE1_NEAR_PEAK = register_status(
    "de1_near_peak",
    f"the automatic dE_I lies within {MIN_DE1_FWHM:g} FWHM of the zero-loss peak, "
    "where the ZLP's core bends into its tail: the inelastic onset was not found "
    "(without vacuum spectra the knee of the tail marks that bend).",
)
DE1_INELASTIC = register_status(
    "de1_inelastic_dominates",
    f"at the automatic dE_I the spectrum has risen more than {MAX_DE1_RISE:.0%} above "
    "its minimum beyond the zero-loss peak: inelastic intensity already dominates "
    "there, so region I would hold inelastic signal.",
)


def de1_plausibility(smoothed, energy, de1, near_peak=True):
    """Status of each automatic dE_I: ok, not found, too near the peak, or too far.

    Each spectrum's ZLP width and rise above its minimum are measured on its
    smoothed channels (what the edge methods see). A dE_I
    near the peak is implausible only without vacuum spectra (``near_peak``):
    where the specimen deviates from a vacuum ZLP, that deviation is the
    evidence, however near the peak (a band gap at 2 FWHM).
    """
    status = status_array(de1.shape[0])
    fwhm = fwhm_of_validated(smoothed, energy)
    zero = int(np.argmin(np.abs(energy)))
    for i, edge in enumerate(de1):
        if not np.isfinite(edge):
            status[i] = DE1_NOT_FOUND
            continue
        if near_peak and np.isfinite(fwhm[i]) and edge < MIN_DE1_FWHM * fwhm[i]:
            status[i] = DE1_NEAR_PEAK
            continue
        stop = int(np.searchsorted(energy, edge, side="right"))
        floor = float(np.min(smoothed[i, zero:stop])) if stop > zero else np.nan
        level = float(np.interp(edge, energy, smoothed[i]))
        if floor > 0 and level > (1.0 + MAX_DE1_RISE) * floor:
            status[i] = DE1_INELASTIC
    return status

"""Where each spectrum trains and where its matching starts: dE_0, dE_I, dE_II.

Specimen mode takes dE_I and dE_II from the fitted region mask, vacuum mode the
range of channels above the noise; both are computed spectrum by spectrum.
"""

import numpy as np
from scipy import ndimage
from sklearn.base import clone

from .._noise import counting_variance
from ..preprocessing import ZLPRegionMask

__all__ = ["fit_regions", "matching_start", "region_edges", "vacuum_range"]


def vacuum_range(spectra, energy, read_noise):
    """Energy range of each vacuum spectrum whose smoothed signal exceeds 3 sigma.

    Returns (gain, loss) extents in eV: channels from -gain to +loss train.
    """
    smooth = ndimage.uniform_filter1d(spectra, 5, axis=1, mode="nearest")
    noise = np.sqrt(counting_variance(smooth, read_noise)) / np.sqrt(5.0)
    gain, loss = np.empty(spectra.shape[0]), np.empty(spectra.shape[0])
    zero = int(np.argmin(np.abs(energy)))
    for i in range(spectra.shape[0]):
        below = smooth[i] <= 3 * noise[i]
        right = np.flatnonzero(below[zero:])
        left = np.flatnonzero(below[: zero + 1][::-1])
        loss[i] = energy[zero + right[0] - 1] if right.size else energy[-1]
        gain[i] = -energy[zero - left[0] + 1] if left.size else -energy[0]
    return gain, loss


def fit_regions(regions, mode, spectra, energy, read_noise):
    """(de1, de2) of the training spectra and the fitted region mask (or None).

    In specimen mode ``regions`` (None: ``ZLPRegionMask()``) is cloned, given
    ``energy`` when its axis is None, fitted, and its edges must satisfy
    ``dE_I < dE_II``.
    """
    if mode == "vacuum":
        de1, de2 = vacuum_range(spectra, energy, read_noise)
        return de1, de2, None
    mask = ZLPRegionMask() if regions is None else clone(regions)
    if mask.get_params().get("energy_axis") is None:
        mask.set_params(energy_axis=energy)
    mask.fit(spectra)
    de1, de2 = region_edges(mask, mode, spectra, energy, read_noise)
    if np.any(de1 >= de2):
        bad = int(np.flatnonzero(de1 >= de2)[0])
        raise ValueError(
            f"spectrum {bad}: dE_I = {de1[bad]:.3g} eV is not below dE_II = "
            f"{de2[bad]:.3g} eV; set regions=ZLPRegionMask(de1=..., de2=...) with "
            "dE_I < dE_II."
        )
    return de1, de2, mask


def region_edges(mask, mode, spectra, energy, read_noise):
    """dE_I and dE_II of validated spectra (vacuum mode: the trained range)."""
    if mode == "vacuum":
        return vacuum_range(spectra, energy, read_noise)
    # the spectra are validated already; the mask's public edges() would again
    de1, de2 = mask._edges(spectra, energy)
    return np.asarray(de1, dtype=float), np.asarray(de2, dtype=float)


def matching_start(de1, fwhm, match_width):
    """dE_0 = dE_I - match_width, not below the half width at half maximum."""
    half = np.where(np.isfinite(fwhm), 0.5 * fwhm, 0.0)
    return np.maximum(de1 - match_width, half)

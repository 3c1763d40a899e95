"""The Cherenkov condition, under which losses below the band gap mimic its onset."""

import warnings

import numpy as np

from .._validation import as_real_scalar

__all__ = ["check_cherenkov"]

_ELECTRON_REST_ENERGY_KEV = 510.99895


def check_cherenkov(beam_energy, refractive_index):
    """Warn when the beam is faster than light in the specimen.

    Parameters
    ----------
    beam_energy : float
        Beam energy in keV.
    refractive_index : float
        Refractive index n of the specimen near the gap energy.

    Returns
    -------
    above : bool
        True when ``beta^2 n^2 > 1`` (Cherenkov condition ``v > c/n``).
    """
    beam_energy = as_real_scalar(beam_energy, name="beam_energy")
    n = as_real_scalar(refractive_index, name="refractive_index")
    if not (beam_energy > 0 and n > 0):
        raise ValueError(
            f"beam_energy (keV) and refractive_index must be positive, got "
            f"{beam_energy} and {refractive_index}."
        )
    gamma = 1.0 + beam_energy / _ELECTRON_REST_ENERGY_KEV
    beta2 = 1.0 - 1.0 / gamma**2
    above = beta2 * n**2 > 1.0
    if above:
        threshold = _ELECTRON_REST_ENERGY_KEV * (1.0 / np.sqrt(1.0 - 1.0 / n**2) - 1.0)
        warnings.warn(
            f"Cherenkov condition holds: a {beam_energy:g} keV beam (v/c = "
            f"{np.sqrt(beta2):.3f}) is faster than light in a medium of n = {n:g} "
            f"(c/n = {1 / n:.3f} c). Cherenkov and guided-mode losses then appear "
            "below and around the band gap and can shift or mimic the onset, so the "
            "fitted E_bg may be biased low. Use a thin specimen, a small collection "
            f"angle or an off-axis (dark-field) aperture, or a beam below "
            f"{threshold:.1f} keV, and compare with a fit window starting well above "
            "the onset.",
            UserWarning,
            stacklevel=3,
        )
    return bool(above)

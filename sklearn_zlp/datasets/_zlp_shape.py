"""The instrument zero-loss peak of the synthetic spectra: a split Gaussian with power-law tails."""

import numpy as np

from .._validation import as_real_array, as_real_scalar

__all__ = ["zlp_shape"]

# Shape of the instrument ZLP at unit core width (sigma of the gain-side Gaussian = 1);
# every width scales together, so the FWHM is proportional to that sigma.
_TAIL_SCALE = 1.5


def zlp_shape(energy, *, fwhm=0.3, asymmetry=1.5, tail_fraction=0.15, tail_exponent=2.6):
    """Peak-normalised instrument zero-loss peak centred at 0 eV.

    A split Gaussian core (the loss side ``asymmetry`` times broader than the gain
    side) plus split power-law tails ``1 / (1 + |E / gamma| ** tail_exponent)``,
    the shape of a field-emission ZLP measured in vacuum: its defaults follow the
    WS2 vacuum spectra shipped with the package (FWHM 0.43 eV there, intensity
    relative to the maximum ~1e-2 at 1 eV, ~5e-4 at 3 eV, ~1e-4 at 5 eV).

    Parameters
    ----------
    energy : array-like
        Energies in eV, any shape and real dtype.
    fwhm : float, default=0.3
        Full width at half maximum in eV; the shape is scaled to match it exactly.
    asymmetry : float, default=1.5
        Loss-side over gain-side width of core and tails.
    tail_fraction : float, default=0.15
        Weight of the power-law tails at the peak (0 gives a pure split Gaussian).
    tail_exponent : float, default=2.6
        Power with which the tails fall (2 is Lorentzian).

    Returns
    -------
    shape : ndarray
        Values with maximum 1 at E = 0.
    """
    energy = as_real_array(energy, name="energy")
    fwhm, asymmetry, tail_fraction, tail_exponent = (
        as_real_scalar(v, name=k)
        for k, v in (
            ("fwhm", fwhm),
            ("asymmetry", asymmetry),
            ("tail_fraction", tail_fraction),
            ("tail_exponent", tail_exponent),
        )
    )
    if not fwhm > 0:
        raise ValueError(f"fwhm must be positive (eV), got {fwhm}.")
    unit_fwhm = _unit_fwhm(asymmetry, tail_fraction, tail_exponent)
    return _unit_shape(energy * (unit_fwhm / fwhm), asymmetry, tail_fraction, tail_exponent)


def _unit_shape(x, asymmetry, tail_fraction, tail_exponent):
    width = np.where(x < 0, 1.0, asymmetry)
    core = np.exp(-0.5 * (x / width) ** 2)
    tails = 1.0 / (1.0 + np.abs(x / (_TAIL_SCALE * width)) ** tail_exponent)
    return (1.0 - tail_fraction) * core + tail_fraction * tails


def _unit_fwhm(asymmetry, tail_fraction, tail_exponent):
    x = np.linspace(-20.0, 20.0 * asymmetry, 400001)
    above = x[_unit_shape(x, asymmetry, tail_fraction, tail_exponent) >= 0.5]
    return above[-1] - above[0]

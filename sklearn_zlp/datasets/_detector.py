"""What the detector and the user add to synthetic spectra: gain, noise, pedestal, drift, units."""

import numpy as np

from .._validation import as_real_array, as_real_scalar

__all__ = []

# factor from eV to each unit the energy axis can be returned in
ENERGY_UNITS = {"eV": 1.0, "keV": 1e-3, "meV": 1e3}


def check_energy_unit(unit):
    """The unit name, or a ValueError listing the choices."""
    if not isinstance(unit, str) or unit not in ENERGY_UNITS:
        raise ValueError(
            f"energy_unit={unit!r} is not one of {sorted(ENERGY_UNITS)}; the "
            "energy parameter is always in eV, energy_unit only sets the unit of "
            "the returned axis."
        )
    return unit


def check_detector(detector_gain, pedestal, pedestal_slope):
    """Validated (gain, pedestal, slope) as floats."""
    gain = as_real_scalar(detector_gain, name="detector_gain")
    if not (np.isfinite(gain) and gain > 0):
        raise ValueError(
            f"detector_gain must be a positive number of counts per electron, got {gain}."
        )
    offset = as_real_scalar(pedestal, name="pedestal")
    slope = as_real_scalar(pedestal_slope, name="pedestal_slope")
    if not (np.isfinite(offset) and np.isfinite(slope)):
        raise ValueError(
            f"pedestal={offset} and pedestal_slope={slope} must be finite counts per "
            "channel (and per eV)."
        )
    return gain, offset, slope


def drift_offsets(residual_drift, n_spectra, fwhm, rng):
    """Residual ZLP offsets in eV, or None when there are none.

    A number ``r`` spreads the offsets evenly over ``[-r, r]`` FWHM (``+r`` for
    a single spectrum), in an order drawn from ``rng``, so the largest offset is
    exactly the one asked for; an array gives each spectrum's offset in FWHM.
    ``rng`` is only drawn from for a number above 0, which keeps every other
    draw of the generator as it was without drift.
    """
    arr = as_real_array(residual_drift, name="residual_drift")
    if not np.all(np.isfinite(arr)):
        raise ValueError("residual_drift must be finite (in units of the ZLP FWHM).")
    if arr.ndim == 0:
        r = float(arr)
        if r < 0:
            raise ValueError(
                f"residual_drift={r} must be >= 0: the largest |offset| in units of "
                "the ZLP FWHM (pass an array for signed per-spectrum offsets)."
            )
        if r == 0:
            return None
        steps = np.linspace(-r, r, n_spectra) if n_spectra > 1 else np.array([r])
        return rng.permutation(steps) * fwhm
    arr = arr.reshape(-1)
    if arr.size != n_spectra:
        raise ValueError(
            f"residual_drift has {arr.size} values but {n_spectra} spectra are "
            "generated; pass one number (the largest offset) or one per spectrum."
        )
    return arr * fwhm


def check_gain_peaks(gain_peaks, energy):
    """``((position_eV, fraction), ...)`` with positions on the gain side of the axis."""
    if gain_peaks is None:
        return ()
    peaks = []
    for peak in gain_peaks:
        try:
            position, fraction = peak
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"gain_peaks entry {peak!r} must be a pair (position in eV, fraction), "
                "e.g. gain_peaks=[(-0.1, 0.01)] for an anti-Stokes peak at 0.1 eV gain."
            ) from exc
        position = as_real_scalar(position, name="gain_peaks position")
        fraction = as_real_scalar(fraction, name="gain_peaks fraction")
        if not energy[0] < position < 0:
            raise ValueError(
                f"gain peak at {position} eV: positions are energy gains, below 0 eV "
                f"and on the axis (which starts at {energy[0]:.4g} eV)."
            )
        if not (np.isfinite(fraction) and fraction > 0):
            raise ValueError(
                f"gain peak fraction {fraction} must be positive (its area relative to "
                "the ZLP's)."
            )
        peaks.append((position, fraction))
    return tuple(peaks)


def detect(electrons, rng, gain, read_noise):
    """Counts recorded for expected ``electrons`` per channel.

    Poisson counting of the electrons, times the gain (counts per electron: the
    variance is ``gain`` times the counts), plus Gaussian read noise in counts.
    """
    counts = rng.poisson(np.clip(electrons, 0, None)).astype(np.float64)
    if gain != 1.0:
        counts *= gain
    if read_noise > 0:
        counts += rng.normal(0.0, read_noise, size=counts.shape)
    return counts

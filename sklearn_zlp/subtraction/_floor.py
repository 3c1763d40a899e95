"""A floor of counts under the whole spectrum, seen on the gain side: t/lambda's status.

t/lambda = ln(N / N_0) counts every channel's counts as either zero-loss or
inelastic. A dark offset (or any floor the detector adds to every channel)
counts as inelastic: t/lambda is too large by ``-ln(1 - n c / N)`` for a floor
of ``c`` counts on ``n`` channels, and nothing in the ZLP's replicas shows it.
On the validation zoo a dark offset of 30 counts rising by 2 per eV left
t/lambda 0.014 high with 68% bands of +-0.001: none of 30 held the truth, all
with status "ok".

Far out on the gain side nothing but the ZLP's tail and such a floor is
recorded. There the counts are fitted with ``c + A |E|^-p`` (``p`` on a grid
from 1 to 8, ``c`` and ``A`` by weighted least squares, counting and read
noise) over the channels beyond ``3 FWHM`` from the peak. The error of ``c``
is the larger of its error at the best ``p`` (scaled by the reduced chi^2 when
above 1) and half the range of ``c`` over the powers whose chi^2 lies within
one (scaled) unit of the best (``c`` and ``p`` trade off). Even so, on 280 zoo
spectra without an offset the floors spread with a standard deviation of 1.8
of their errors (-7.0 to +5.7): a real tail is no pure power law at 3 FWHM.
Hence the high bar: where ``c`` exceeds 5 times its error and the shift it
would make, ``-ln(1 - n c / N)``, exceeds two half-widths of t/lambda's 68%
band, t/lambda's status is ``gain_side_floor``: the value stays, the status
says the band may not hold it. The bundled WS2 spectra show such a floor
(260-380 +- 13 counts per channel in the specimen spectra, 0.009-0.013 in
t/lambda): whether it is a dark offset or the detector's far tail, the data
cannot tell, and that is what the status says.
"""

import numpy as np

from .._noise import counting_variance
from .._status import OK, register_status

__all__ = ["GAIN_SIDE_FLOOR", "floor_shift", "gain_side_floor", "thickness_status"]

GAIN_SIDE_FLOOR = register_status(
    "gain_side_floor",
    "far out on the gain side the spectrum levels off at a floor of counts (a dark "
    "offset, or a detector tail) that t/lambda counts as inelastic signal: the "
    "floor over the whole axis would move t/lambda by more than its band "
    "(diagnostics 'gain_side_floor' in counts per channel and "
    "'floor_t_over_lambda'); subtract a dark reference or the offset first if it "
    "is one.",
)

# Channels from the peak (in FWHM) where the gain side is fitted, and how many
# it needs.
_START_FWHM = 3.0
_MIN_CHANNELS = 10
_POWERS = np.linspace(1.0, 8.0, 57)
# Significance of the floor, and by how many half-widths of t/lambda's band it
# must move t/lambda to matter (one 68% half-width let a 5.5-sigma floor worth
# 0.0011 flag a metal whose band is +-0.001; the zoo's offsets are worth 0.014).
_N_SIGMA = 5.0
_BAND_WIDTHS = 2.0


def gain_side_floor(spectra, energy, fwhm, read_noise):
    """Floor ``c`` and its error in counts per channel of every spectrum (NaN: no fit).

    Parameters
    ----------
    spectra : ndarray of shape (n_spectra, n_channels)
    energy : ndarray of shape (n_channels,)
        Aligned: the ZLP's peak at 0 eV.
    fwhm : ndarray of shape (n_spectra,)
    read_noise : float
    """
    n = spectra.shape[0]
    floor = np.full(n, np.nan)
    error = np.full(n, np.nan)
    for i in range(n):
        if not np.isfinite(fwhm[i]):
            continue
        use = energy < -_START_FWHM * fwhm[i]
        if use.sum() < _MIN_CHANNELS:
            continue
        floor[i], error[i] = _floor_of(-energy[use], spectra[i, use], read_noise)
    return floor, error


def _floor_of(distance, y, read_noise):
    """Floor and its error of one spectrum's gain side (NaN: no fit).

    Every power at once: the weighted least squares of ``c + A (d / d_0)^-p``
    through its 2 x 2 normal equations (``d_0`` the nearest channel, so that the
    columns stay within a few orders of magnitude). Equal to a QR solve of each
    power to ~1e-9 relative (tests/test_floor.py).
    """
    w = 1.0 / counting_variance(y, read_noise)  # 1 / sigma^2
    basis = (distance / distance.min())[None, :] ** -_POWERS[:, None]  # (n_p, n)
    s11, b1, yy = w.sum(), w @ y, w @ (y * y)
    s1p = basis @ w
    spp = (basis * basis) @ w
    bp = basis @ (w * y)
    det = s11 * spp - s1p**2
    # a singular system (rank < 2) has no floor: its power is skipped
    good = det > 1e-12 * s11 * spp
    if not good.any():
        return np.nan, np.nan
    det = np.where(good, det, 1.0)
    floors = (spp * b1 - s1p * bp) / det
    amplitude = (s11 * bp - s1p * b1) / det
    chi2s = np.maximum(yy - floors * b1 - amplitude * bp, 0.0)
    errors = np.sqrt(spp / det)
    chi2s, floors, errors = chi2s[good], floors[good], errors[good]
    k = int(np.argmin(chi2s))
    scale = max(1.0, chi2s[k] / max(y.size - 3, 1))
    # The power and the floor trade off: every power whose fit is within
    # one (scaled) unit of chi^2 of the best is as good, and the floor's
    # error spans the floors they give (a profile over p).
    near = chi2s <= chi2s[k] + scale
    spread = 0.5 * (floors[near].max() - floors[near].min())
    return floors[k], max(errors[k] * np.sqrt(scale), spread)


def floor_shift(spectra, floor):
    """How much t/lambda a floor of ``floor`` counts per channel adds: ``-ln(1 - n c / N)``."""
    total = spectra.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = floor * spectra.shape[1] / total
        return np.where(fraction < 1, -np.log1p(-fraction), np.inf)


def thickness_status(status, spectra, energy, fwhm, read_noise, band):
    """t/lambda's status: the spectrum's, or ``gain_side_floor`` where that is ok.

    Returns the statuses and diagnostics ``gain_side_floor`` (counts per
    channel), ``gain_side_floor_error`` and ``floor_t_over_lambda``.
    """
    floor, error = gain_side_floor(spectra, energy, fwhm, read_noise)
    shift = floor_shift(spectra, floor)
    half = 0.5 * (band[1] - band[0])
    with np.errstate(invalid="ignore"):
        found = (floor > _N_SIGMA * error) & (shift > _BAND_WIDTHS * half)
    out = status.copy()
    out[found & (status == OK)] = GAIN_SIDE_FLOOR
    diagnostics = {
        "gain_side_floor": floor,
        "gain_side_floor_error": error,
        "floor_t_over_lambda": shift,
    }
    return out, diagnostics

"""The point table's region-III pseudo-data: extrapolated ZLP tails."""

import numpy as np

__all__ = ["tail_extrapolation"]


def tail_extrapolation(spectrum, energy, de1, e3):
    """Power-law extrapolation of a spectrum's ZLP tail from region I to ``e3``.

    ln I is fitted linearly in ln E on the loss side over ``[dE_I / 2, dE_I)``
    (ZLP-dominated by the definition of dE_I); the slope is kept at or below -1
    (a tail that falls at least as 1/E). Counts, >= 1.
    """
    use = (energy >= 0.5 * de1) & (energy < de1) & (spectrum > 0)
    if use.sum() < 3:
        return np.ones_like(e3)
    x, y = np.log(energy[use]), np.log(spectrum[use])
    w = spectrum[use]  # ln-space weights 1/sigma_ln^2 = I (Poisson)
    xm = np.average(x, weights=w)
    ym = np.average(y, weights=w)
    slope = np.sum(w * (x - xm) * (y - ym)) / max(np.sum(w * (x - xm) ** 2), 1e-300)
    slope = min(slope, -1.0)
    return np.maximum(np.exp(ym + slope * (np.log(e3) - xm)), 1.0)

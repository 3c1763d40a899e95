"""The onset model ``A (E - E_bg)^b`` and its weighted least-squares fit.

The model vanishes below the gap; it can be convolved with the instrument
response (a Gaussian resolution or the matched zero-loss peak). A grid search
over (E_bg, b) with the linear A profiled out starts one bounded least-squares
fit per replica.
"""

import numpy as np
from scipy.optimize import least_squares

# Onset exponents of a direct and an indirect gap, and the range of a fitted one.
B_DIRECT = 0.5
B_INDIRECT = 1.5
B_BOUNDS = (0.1, 4.0)

__all__ = ["B_BOUNDS", "B_DIRECT", "B_INDIRECT", "fit_onsets"]


def _model(e, e_bg, b, amp):
    d = np.clip(e - e_bg, 0.0, None)
    return amp * d**b


def _grid_start(e, y, w, b_values, e_lo, e_hi):
    """Vectorised grid search over (E_bg, b) with the linear A profiled out."""
    e_grid = np.linspace(e_lo, e_hi, 60)
    d = np.clip(e[None, :] - e_grid[:, None], 0.0, None)  # (G_e, n)
    f = np.concatenate([d**bb for bb in b_values], axis=0)  # (G, n)
    w2 = w**2
    num = (y * w2) @ f.T  # (m, G)
    den = w2 @ (f**2).T
    den = np.where(den > 0, den, np.inf)
    gain = np.where(num > 0, num**2 / den, 0.0)
    best = np.argmax(gain, axis=1)
    amp = np.maximum(num[np.arange(len(y)), best] / den[np.arange(len(y)), best], 0.0)
    eb = e_grid[best % e_grid.size]
    bb = np.asarray(b_values)[best // e_grid.size]
    return eb, bb, amp


def _broadened_model(e, resolution=None, kernel=None):
    """Return model(e_bg, b, amp) convolved with the instrument response.

    ``kernel`` is a pair (k_energy, k_weight) of a uniform, increasing energy
    axis with the window's spacing and the (unit-sum) response at those
    energies, e.g. the matched ZLP: model(e_i) = sum_k w_k f(e_i - E_k).
    Otherwise ``resolution`` is the FWHM of a Gaussian response.
    """
    de = e[1] - e[0] if e.size > 1 else 1.0
    if kernel is not None:
        k_e, k_w = kernel
    elif resolution:
        s = resolution / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        half = max(1, int(np.ceil(4.0 * s / de)))
        k_e = de * np.arange(-half, half + 1)
        k_w = np.exp(-0.5 * (k_e / s) ** 2)
        k_w /= k_w.sum()
    else:
        return lambda e_bg, b, amp: _model(e, e_bg, b, amp)
    n_k = k_e.size
    # model(e_i) = sum_k w_k f(e_0 - k_e[0] + (i - k) de): a 'valid'
    # convolution of f on a grid padded by n_k - 1 channels below.
    e_pad = e[0] - k_e[-1] + de * np.arange(e.size + n_k - 1)

    def model(e_bg, b, amp):
        return np.convolve(_model(e_pad, e_bg, b, amp), k_w, mode="valid")

    return model


def fit_onsets(e, y, w, b_fixed, e_lo, e_hi, resolution=None, kernels=None):
    """Least-squares fits of A (E - E_bg)^b, one per row of y.

    ``kernels``: None or (k_energy, weights of shape (len(y), n_k)), one
    instrument response per row. Returns an array of shape (len(y), 4): E_bg, b,
    A and chi^2 of every row.
    """
    shared = _broadened_model(e, resolution) if kernels is None else None
    b_values = np.arange(0.3, 3.01, 0.1) if b_fixed is None else [b_fixed]
    eb0, b0, a0 = _grid_start(e, y, w, b_values, e_lo, e_hi)
    m = y.shape[0]
    out = np.empty((m, 4))
    for i in range(m):
        yi, wi = y[i], w[i]
        model = shared or _broadened_model(e, kernel=(kernels[0], kernels[1][i]))
        a_scale = max(a0[i], np.max(np.abs(yi)) * 1e-3, 1e-12)
        if b_fixed is None:

            def resid(p, yi=yi, wi=wi, a_scale=a_scale, model=model):
                return (model(p[0], p[1], p[2] * a_scale) - yi) * wi

            x0 = [eb0[i], b0[i], max(a0[i] / a_scale, 1e-6)]
            lb, ub = [e_lo, B_BOUNDS[0], 0.0], [e_hi, B_BOUNDS[1], np.inf]
        else:

            def resid(p, yi=yi, wi=wi, a_scale=a_scale, model=model):
                return (model(p[0], b_fixed, p[1] * a_scale) - yi) * wi

            x0 = [eb0[i], max(a0[i] / a_scale, 1e-6)]
            lb, ub = [e_lo, 0.0], [e_hi, np.inf]
        x0 = np.clip(x0, lb, ub)
        sol = least_squares(resid, x0, bounds=(lb, ub), method="trf", max_nfev=200)
        p = sol.x
        chi2 = float(np.sum(sol.fun**2))
        if b_fixed is None:
            out[i] = p[0], p[1], p[2] * a_scale, chi2
        else:
            out[i] = p[0], b_fixed, p[1] * a_scale, chi2
    return out

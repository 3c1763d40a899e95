"""The onset model ``A (E - E_bg)^b`` (+ a pedestal) and its weighted least-squares fit.

The onset vanishes below the gap and can be convolved with the instrument
response (a Gaussian resolution or the matched zero-loss peak). An optional
pedestal ``c0`` or ``c0 + c1 (E - e_min) / (e_max - e_min)`` is added without
convolution: it stands for what does not come from the onset (a dark offset, a
flat floor of thin-film or Cherenkov residue, a slowly varying ZLP residue).

The fit is a variable projection: for given (E_bg, b) the linear parameters
(A >= 0 and the pedestal) are solved exactly, so only one or two non-linear
parameters are searched. A grid over (E_bg, b) finds the global minimum of
every replica; a bounded least-squares refinement polishes it.
"""

import numpy as np
from scipy.optimize import least_squares
from scipy.signal import fftconvolve

# Onset exponents of a direct and an indirect gap, and the range of a fitted one.
B_DIRECT = 0.5
B_INDIRECT = 1.5
B_BOUNDS = (0.1, 4.0)
BACKGROUNDS = (None, "constant", "linear")

_N_E_GRID = 120  # at most this many E_bg grid points (never finer than a channel)
_B_GRID = np.round(np.arange(0.1, 4.001, 0.1), 10)

__all__ = [
    "BACKGROUNDS",
    "B_BOUNDS",
    "B_DIRECT",
    "B_INDIRECT",
    "OnsetFits",
    "background_columns",
    "fit_onsets",
    "null_chi2",
]


def background_columns(e, background):
    """The pedestal's design columns on the window ``e``: shape (n, 0, 1 or 2)."""
    if background is None:
        return np.empty((e.size, 0))
    ones = np.ones(e.size)
    if background == "constant":
        return ones[:, None]
    span = e[-1] - e[0] if e.size > 1 else 1.0
    return np.column_stack([ones, (e - e[0]) / span])


def _response(e, resolution=None, kernel=None):
    """(k_energy, unit-sum weights) of the instrument response, or None for none.

    ``kernel`` is a pair (k_energy, k_weight) on a uniform, increasing axis with
    the window's spacing, e.g. the matched ZLP; otherwise ``resolution`` is the
    FWHM of a Gaussian.
    """
    if kernel is not None:
        return kernel
    if not resolution:
        return None
    de = e[1] - e[0] if e.size > 1 else 1.0
    s = resolution / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    half = max(1, int(np.ceil(4.0 * s / de)))
    k_e = de * np.arange(-half, half + 1)
    k_w = np.exp(-0.5 * (k_e / s) ** 2)
    return k_e, k_w / k_w.sum()


def _onset_basis(e, e_bg, b, response):
    """Unit-amplitude onsets for every (e_bg, b) pair: shape (len(e_bg), n).

    With a response, ``model(e_i) = sum_k w_k f(e_i - k_e[k])``: a 'valid'
    convolution of f on a grid padded by ``n_k - 1`` channels below the window.
    """
    e_bg = np.atleast_1d(e_bg)[:, None]
    b = np.atleast_1d(b)[:, None]
    if response is None:
        return np.clip(e[None, :] - e_bg, 0.0, None) ** b
    k_e, k_w = response
    de = e[1] - e[0] if e.size > 1 else 1.0
    n_k = k_e.size
    e_pad = e[0] - k_e[-1] + de * np.arange(e.size + n_k - 1)
    f = np.clip(e_pad[None, :] - e_bg, 0.0, None) ** b
    if n_k <= 64:
        # short kernels: one strided product ('valid' convolution of every row)
        windows = np.lib.stride_tricks.sliding_window_view(f, n_k, axis=1)
        return windows @ k_w[::-1]
    return fftconvolve(f, k_w[None, :], mode="valid", axes=1)


def _project(cols_w, yw):
    """Residual of yw (rows) after weighted least squares on the columns cols_w (n, p)."""
    if cols_w.shape[1] == 0:
        return yw
    q, _ = np.linalg.qr(cols_w)
    return yw - (yw @ q) @ q.T


class OnsetFits:
    """Fitted parameters of every row: arrays of length m (``pedestal``: (m, 2)).

    ``model`` (m, n) holds every row's fitted curve in counts on the window.
    """

    def __init__(self, m, n):
        self.e_bg, self.b, self.amplitude, self.chi2 = (
            np.full(m, np.nan) for _ in range(4)
        )
        self.pedestal = np.full((m, 2), np.nan)
        self.model = np.full((m, n), np.nan)
        self.converged = np.zeros(m, dtype=bool)


def _profiled(onset_w, bg_w, yw):
    """Linear parameters and chi^2 for one onset column (A >= 0), one row.

    Returns (A, pedestal coefficients, chi^2).
    """
    p = bg_w.shape[1]
    if p:
        coef, *_ = np.linalg.lstsq(np.column_stack([onset_w, bg_w]), yw, rcond=None)
        amp, ped = coef[0], coef[1:]
    else:
        den = onset_w @ onset_w
        amp = (onset_w @ yw) / den if den > 0 else 0.0
        ped = np.empty(0)
    if not amp > 0:
        amp = 0.0
        ped = np.linalg.lstsq(bg_w, yw, rcond=None)[0] if p else ped
    resid = yw - amp * onset_w - (bg_w @ ped if p else 0.0)
    return amp, ped, float(resid @ resid)


def _grid_search(e, y, w, b_values, e_lo, e_hi, response, bg):
    """Best (E_bg, b) of every row on a grid, with the linear parameters profiled out."""
    de = e[1] - e[0] if e.size > 1 else 1.0
    n_e = int(min(_N_E_GRID, max(2, np.ceil((e_hi - e_lo) / de) + 1)))
    e_grid = np.linspace(e_lo, e_hi, n_e)
    eg, bg_b = (a.ravel() for a in np.meshgrid(e_grid, b_values, indexing="ij"))
    basis = _onset_basis(e, eg, bg_b, response)  # (G, n)
    m = y.shape[0]
    best = np.empty(m, dtype=int)
    shared = bool(np.all(w == w[0]))
    for i in range(m):
        if i == 0 or not shared:
            bg_w = bg * w[i][:, None]
            f_t = _project(bg_w, basis * w[i])  # onsets with the pedestal projected out
            norm = np.einsum("gn,gn->g", f_t, f_t)
            norm = np.where(norm > 0, norm, np.inf)
        y_t = _project(bg_w, y[i] * w[i])
        num = f_t @ y_t
        # chi^2 drop of each grid point; a negative amplitude is no onset (drop 0)
        gain = np.where(num > 0, num**2 / norm, 0.0)
        best[i] = int(np.argmax(gain))
    return eg[best], bg_b[best]


def fit_onsets(
    e,
    y,
    w,
    b_fixed,
    e_lo,
    e_hi,
    *,
    resolution=None,
    kernels=None,
    background=None,
    max_nfev=100,
):
    """Least-squares fits of ``A (E - E_bg)^b`` (+ pedestal), one per row of y.

    Parameters
    ----------
    e : ndarray of shape (n,)
        Window energies (uniform when a response is used).
    y, w : ndarray of shape (m, n)
        Counts and weights (1 / sigma) of every row.
    b_fixed : float or None
        Fixed exponent, or None to fit it within ``B_BOUNDS``.
    e_lo, e_hi : float
        Bounds of E_bg.
    resolution : float, default=None
        Gaussian FWHM of the response.
    kernels : tuple (k_energy, weights of shape (m, n_k)), default=None
        One response per row (overrides ``resolution``); the grid search uses
        their mean.
    background : {None, "constant", "linear"}, default=None
        Pedestal under the onset.
    max_nfev : int, default=100
        Function evaluations of each refinement.

    Returns
    -------
    fits : OnsetFits
    """
    m = y.shape[0]
    bg = background_columns(e, background)
    if kernels is not None:
        grid_response = (kernels[0], kernels[1].mean(axis=0))
    else:
        grid_response = _response(e, resolution)
    b_values = _B_GRID if b_fixed is None else np.array([b_fixed])
    eb0, b0 = _grid_search(e, y, w, b_values, e_lo, e_hi, grid_response, bg)
    out = OnsetFits(m, e.size)
    for i in range(m):
        yw, wi = y[i] * w[i], w[i]
        bg_w = bg * wi[:, None]
        response = grid_response if kernels is None else (kernels[0], kernels[1][i])

        def resid(p, yw=yw, wi=wi, bg_w=bg_w, response=response):
            b_val = p[1] if b_fixed is None else b_fixed
            onset_w = _onset_basis(e, p[0], b_val, response)[0] * wi
            amp, ped, _ = _profiled(onset_w, bg_w, yw)
            return yw - amp * onset_w - (bg_w @ ped if ped.size else 0.0)

        if b_fixed is None:
            x0, lb, ub = [eb0[i], b0[i]], [e_lo, B_BOUNDS[0]], [e_hi, B_BOUNDS[1]]
        else:
            x0, lb, ub = [eb0[i]], [e_lo], [e_hi]
        x0 = np.clip(x0, lb, ub)
        de = e[1] - e[0] if e.size > 1 else 1.0
        x_scale = [de, 0.1][: len(x0)]
        try:
            sol = least_squares(
                resid,
                x0,
                bounds=(lb, ub),
                method="trf",
                x_scale=x_scale,
                max_nfev=max_nfev,
            )
        except (ValueError, np.linalg.LinAlgError):
            continue
        p = sol.x
        # keep the grid point when the local polish ends worse (a kink of the model)
        if not np.sum(sol.fun**2) <= np.sum(resid(x0) ** 2):
            p = x0
        b_val = p[1] if b_fixed is None else b_fixed
        onset_w = _onset_basis(e, p[0], b_val, response)[0] * wi
        amp, ped, chi = _profiled(onset_w, bg_w, yw)
        if not np.isfinite(chi):
            continue
        out.model[i] = (amp * onset_w + (bg_w @ ped if ped.size else 0.0)) / wi
        out.e_bg[i], out.b[i], out.amplitude[i], out.chi2[i] = p[0], b_val, amp, chi
        out.pedestal[i] = 0.0
        out.pedestal[i, : ped.size] = ped
        out.converged[i] = True
    return out


def null_chi2(e, y, w, background):
    """chi^2 of every row under the pedestal alone (zero when ``background`` is None)."""
    bg = background_columns(e, background)
    chi = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        r = _project(bg * w[i][:, None], y[i] * w[i])
        chi[i] = r @ r
    return chi

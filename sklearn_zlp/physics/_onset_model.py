"""The onset model ``A (E - E_bg)^b`` (+ a pedestal) on a window, and weighted rows.

What the fit of :mod:`._onset_fit` evaluates: onsets on a padded grid (with or
without an instrument response), the pedestal's columns, and every row's
weighted counts with the pedestal projected out, so that for a given (E_bg, b)
the linear parameters (A >= 0 and the pedestal) are solved exactly.
"""

import numpy as np
from scipy import fft

# Onset exponents of a direct and an indirect gap, and the range of a fitted one.
B_DIRECT = 0.5
B_INDIRECT = 1.5
B_BOUNDS = (0.1, 4.0)
BACKGROUNDS = (None, "constant", "linear")

_N_E_GRID = 120  # at most this many E_bg grid points (never finer than a channel)
_B_STEP = 0.1
_B_GRID = np.round(np.arange(0.1, 4.001, _B_STEP), 10)

__all__ = [
    "BACKGROUNDS",
    "B_BOUNDS",
    "B_DIRECT",
    "B_INDIRECT",
    "OnsetFits",
    "background_columns",
    "null_chi2s",
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


def _power(x, b):
    """``x ** b[:, None]`` of x >= 0 (r, n); by square roots in the rows whose b is 0.5 or 1.5.

    The fits with a direct and an indirect b are two thirds of the rows of a
    band-gap fit; a square root costs a fraction of a power (equal to it
    within one unit in the last place). The choice is made row by row, so a
    row's onset does not depend on the rows evaluated with it.
    """
    root_rows = (b == B_DIRECT) | (b == B_INDIRECT)
    if not root_rows.all():
        out = np.empty_like(x)
        out[~root_rows] = x[~root_rows] ** b[~root_rows, None]
        if root_rows.any():
            out[root_rows] = _power(x[root_rows], b[root_rows])
        return out
    root = np.sqrt(x)
    return np.where((b == B_INDIRECT)[:, None], root * x, root)


class _Onsets:
    """Unit-amplitude onsets ``(E - E_bg)^b`` on a window, convolved with a response.

    ``response`` is None, (k_energy, weights (n_k,)) shared by every row, or
    (k_energy, weights (m, n_k)) with one response per row. With a response,
    ``model(e_i) = sum_k w_k f(e_i - k_e[k])``: a 'valid' convolution of f
    sampled on the window extended by ``n_k - 1`` channels below it.
    """

    def __init__(self, e, response, lowest=None):
        self.n = e.size
        self.lowest = lowest
        self.k_w = None if response is None else response[1]
        if response is None:
            self.e_pad = e
            return
        de = e[1] - e[0] if e.size > 1 else 1.0
        n_k = response[0].size
        self.e_pad = e[0] - response[0][-1] + de * np.arange(e.size + n_k - 1)
        self.toeplitz = self.k_fft = None
        if self.k_w.ndim == 1:
            # a shared response is a product with its Toeplitz matrix
            lag = np.arange(self.e_pad.size)[:, None] - np.arange(self.n)[None, :]
            inside = (lag >= 0) & (lag < n_k)
            self.toeplitz = np.where(inside, self.k_w[::-1][np.clip(lag, 0, n_k - 1)], 0.0)
        elif n_k > 64:
            # one response per row, long: products of Fourier transforms
            self.size = fft.next_fast_len(self.e_pad.size, real=True)
            self.k_fft = fft.rfft(self.k_w, self.size, axis=1)

    def _first(self, e_bg):
        """Padded samples at or below the lowest gap are zero in every row: skip them.

        With ``lowest`` (the lowest gap the fit allows) the skip does not depend
        on which rows are evaluated together: each row's numbers are then the
        same in any block of rows.
        """
        if self.k_w is None or e_bg.size == 0:
            return 0
        low = np.min(e_bg) if self.lowest is None else min(np.min(e_bg), self.lowest)
        return min(int(np.searchsorted(self.e_pad, low, side="right")), self.n)

    def __call__(self, e_bg, b, rows=None):
        """Onsets of every (e_bg, b) pair (arrays of length r): shape (r, n).

        ``rows`` picks the per-row responses of the pairs.
        """
        j0 = self._first(e_bg)
        f = _power(np.clip(self.e_pad[None, j0:] - e_bg[:, None], 0.0, None), b)
        return self.convolve(f, j0, rows)

    def with_derivatives(self, e_bg, b, rows=None, d_b=True):
        """Onsets and their derivatives by E_bg (and by b): a list of (r, n) arrays.

        ``d/dE_bg x^b = -b x^(b-1)`` and ``d/db x^b = x^b ln x`` for ``x = E -
        E_bg > 0``, zero where x = 0 (the onset stays zero there as E_bg
        rises: the one-sided derivative).
        """
        j0 = self._first(e_bg)
        x = self.e_pad[None, j0:] - e_bg[:, None]
        inside = x > 0
        if d_b:
            # x^b as exp(b ln x) with the ln that d/db needs anyway: a power
            # costs about three times an exp and a ln
            log_x = np.log(x, where=inside, out=np.zeros_like(x))
            f = np.exp(b[:, None] * log_x)
            f *= inside
        else:
            f = _power(np.clip(x, 0.0, None), b)
        d_e = np.divide(-b[:, None] * f, x, where=inside, out=np.zeros_like(x))
        parts = [f, d_e]
        if d_b:
            parts.append(f * log_x)
        r = e_bg.size
        stacked = self.convolve(
            np.concatenate(parts), j0, None if rows is None else np.tile(rows, len(parts))
        )
        return _Parts(stacked, r, len(parts))

    def powers(self, e_grid, exponents):
        """Onsets on the grid e_grid x exponents (E_bg-major), exponents multiples of 0.1.

        The powers are successive products of ``x^0.1``: a multiplication
        instead of a power per point (its rounding differs by ~1e-14 relative).
        """
        j0 = self._first(e_grid)
        root = np.clip(self.e_pad[None, j0:] - e_grid[:, None], 0.0, None) ** _B_STEP
        steps = np.round(exponents / _B_STEP).astype(int)
        f = np.empty((e_grid.size, int(steps.max()), root.shape[1]))
        f[:, 0] = root
        for j in range(1, f.shape[1]):
            np.multiply(f[:, j - 1], root, out=f[:, j])
        if not np.array_equal(steps, np.arange(1, f.shape[1] + 1)):
            f = f[:, steps - 1]
        return self.convolve(f.reshape(-1, root.shape[1]), j0)

    def convolve(self, f, j0, rows=None):
        """The 'valid' convolution of samples f of e_pad[j0:] (the rest zero)."""
        if self.k_w is None:
            return f
        if self.toeplitz is not None:
            return f @ self.toeplitz[j0:]
        rows = slice(None) if rows is None else rows
        n_k = self.k_w.shape[1]
        if self.k_fft is None:
            full = np.zeros((f.shape[0], self.e_pad.size))
            full[:, j0:] = f
            windows = np.lib.stride_tricks.sliding_window_view(full, n_k, axis=1)
            return np.matmul(windows, self.k_w[rows, ::-1, None])[..., 0]
        # the linear convolution of the samples from j0 on: channel i of the
        # window is its element i + n_k - 1 - j0 (zero before the first)
        spectrum = fft.rfft(f, self.size, axis=1) * self.k_fft[rows]
        full = fft.irfft(spectrum, self.size, axis=1)
        lag = n_k - 1 - j0
        out = np.zeros((f.shape[0], self.n))
        first = max(0, -lag)
        out[:, first:] = full[:, first + lag : lag + self.n]
        return out


class _Parts(list):
    """Onsets and derivatives (r, n) each, as one stack (len * r, n) and its slices."""

    def __init__(self, stack, r, count):
        super().__init__(stack[i * r : (i + 1) * r] for i in range(count))
        self.stack = stack


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

    def take(self, rows):
        """The fits of rows ``rows`` (a slice or indices) as an OnsetFits."""
        out = OnsetFits(0, self.model.shape[1])
        for name in ("e_bg", "b", "amplitude", "chi2", "pedestal", "model", "converged"):
            setattr(out, name, getattr(self, name)[rows])
        return out


def _dot(a, b):
    """Row-by-row dot products of two (m, n) arrays."""
    return np.einsum("mn,mn->m", a, b)


def _amplitude(o_t, y_t):
    """A = o.y / o.o of every row, 0 where negative or undefined; and o.o."""
    num, den = _dot(o_t, y_t), _dot(o_t, o_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        amp = np.where(den > 0, num / den, 0.0)
    return np.where(amp > 0, amp, 0.0), den


class _WeightedRows:
    """Every row's weighted counts, with the pedestal's columns projected out.

    ``y_t`` (m, n) holds the weighted counts less their least-squares
    pedestal. Rows that share one weight row (the replicas of one spectrum
    share its sigma) form a group (``groups``: the group of every row, or
    None to find them) and share the QR factors of the weighted pedestal
    columns. Every operation is row by row (sums along a row, never a matrix
    product across rows), so a row's numbers do not depend on the rows fitted
    with it: one spectrum's fit is the same alone or with others.
    """

    def __init__(self, y, w, bg, groups=None):
        # C order: a sum along a row of another layout adds in another order
        y, w = np.ascontiguousarray(y), np.ascontiguousarray(w)
        self.bg = bg
        if groups is None:
            if np.all(w == w[0]):
                groups = np.zeros(w.shape[0], dtype=np.intp)
            else:
                groups = np.unique(w, axis=0, return_inverse=True)[1].ravel()
        _, first, self.group = np.unique(groups, return_index=True, return_inverse=True)
        self.group = self.group.ravel()
        self.w_groups = w[first]  # (g, n), in group order
        self.yw = y * w
        self.bg_w = bg[None] * self.w_groups[:, :, None]  # (g, n, p)
        self.q = self.r = None
        if bg.shape[1]:
            self.q, self.r = np.linalg.qr(self.bg_w)
        self.y_t = self.project(self.yw, np.arange(y.shape[0]))

    def weights(self, rows):
        """The weight rows (len(rows), n) of rows ``rows`` (one row broadcast if shared)."""
        if self.w_groups.shape[0] == 1:
            return self.w_groups[0]
        return self.w_groups[self.group[rows]]

    def project(self, a, rows):
        """``a`` (..., len(rows), n) less its least-squares fit by the rows' pedestal."""
        if self.q is None:
            return a
        shared = self.q.shape[0] == 1
        q = self.q[0] if shared else self.q[self.group[rows]]
        out = a.copy()
        for c in range(q.shape[-1]):
            q_c = q[..., c]
            out -= np.sum(np.multiply(a, q_c, order="C"), axis=-1, keepdims=True) * q_c
        return out

    def profile(self, onset, rows):
        """(residual, chi^2, A) of rows ``rows`` with unit onsets ``onset`` in counts.

        A >= 0 and the pedestal are the linear least-squares solution; a
        negative A is no onset (A = 0, the pedestal alone).
        """
        o_t = self.project(onset * self.weights(rows), rows)
        y_t = self.y_t[rows]
        amp, _ = _amplitude(o_t, y_t)
        resid = y_t - amp[:, None] * o_t
        return resid, _dot(resid, resid), amp

    def normal_equations(self, parts, rows):
        """:meth:`profile`'s chi^2, with the gradient and Gauss-Newton matrix of its residual.

        ``parts`` holds the unit onsets of rows ``rows`` and their
        derivatives by each of k parameters. With ``o`` and ``d`` the weighted
        onset and a derivative, ``P`` the projection off the pedestal and ``A
        = Po.y / Po.Po``, the residual ``r = y - A Po`` changes by ``J = -(A
        Pd + dA Po)`` with ``dA = (Pd.y - 2 A Pd.Po) / Po.Po`` (zero where A
        = 0: the pedestal alone does not move). Returns chi^2 (r,), ``J^T r``
        (r, k) and ``J^T J`` (r, k, k). ``y``, ``Po`` and ``r`` are orthogonal
        to the pedestal, so ``Pd`` enters only as ``d.y``, ``d.Po``, ``d.r``
        and ``Pd.Pd' = d.d' - sum_c (q_c.d)(q_c.d')``: only the onset is
        projected, and no (r, k, n) Jacobian is formed.
        """
        r, k = rows.size, len(parts) - 1
        whole = parts.stack if isinstance(parts, _Parts) else np.concatenate(parts)
        weighted = whole.reshape(k + 1, r, whole.shape[1]) * self.weights(rows)
        o_t, d = self.project(weighted[0], rows), weighted[1:]
        y_t = self.y_t[rows]
        amp, den = _amplitude(o_t, y_t)
        resid = y_t - amp[:, None] * o_t
        d_o = np.einsum("kmn,mn->km", d, o_t)
        with np.errstate(divide="ignore", invalid="ignore"):
            d_amp = (np.einsum("kmn,mn->km", d, y_t) - 2.0 * amp * d_o) / den
        d_amp = np.where(amp > 0, d_amp, 0.0)
        grad = -(amp * np.einsum("kmn,mn->km", d, resid) + d_amp * _dot(o_t, resid))
        if self.q is not None:
            q = self.q[0] if self.q.shape[0] == 1 else self.q[self.group[rows]]
            spec = "kmn,n->km" if q.ndim == 2 else "kmn,mn->km"
            q_d = [np.einsum(spec, d, q[..., c]) for c in range(q.shape[-1])]
        gram = np.empty((r, k, k))
        for i in range(k):
            for j in range(i + 1):
                dd = _dot(d[i], d[j])
                if self.q is not None:
                    dd -= sum(qd[i] * qd[j] for qd in q_d)
                gram[:, i, j] = (
                    amp**2 * dd
                    + amp * (d_amp[i] * d_o[j] + d_amp[j] * d_o[i])
                    + d_amp[i] * d_amp[j] * den
                )
                gram[:, j, i] = gram[:, i, j]
        return _dot(resid, resid), grad.T, gram

    def pedestal(self, rest_w, rows):
        """Pedestal coefficients (r, p) and their weighted curves (r, n) fitted to rest_w."""
        if self.q is None:
            return np.empty((rest_w.shape[0], 0)), np.zeros_like(rest_w)
        at = self.group[rows]
        rhs = np.stack(
            [
                np.sum(np.multiply(rest_w, self.q[at, :, c], order="C"), axis=-1)
                for c in range(self.q.shape[-1])
            ],
            axis=-1,
        )
        coef = np.linalg.solve(self.r[at], rhs[..., None])[..., 0]
        curves = np.sum(self.bg_w[at] * coef[:, None, :], axis=-1)
        return coef, curves


class _StackedRows:
    """Several fits of the same rows as one stack: row s is data row ``data[s]``."""

    def __init__(self, rows, data):
        self.rows, self.data = rows, data
        self.n = rows.y_t.shape[1]

    def profile(self, onset, idx):
        return self.rows.profile(onset, self.data[idx])

    def normal_equations(self, parts, idx):
        return self.rows.normal_equations(parts, self.data[idx])


def null_chi2s(e, y, w):
    """chi^2 of every row under zero, a constant and a line: three arrays (m,).

    One QR of the weighted line serves all three: its first column is the
    weighted constant's.
    """
    rows = _WeightedRows(y, w, background_columns(e, "linear"))
    yw = rows.yw
    q = rows.q[0][:, 0] if rows.q.shape[0] == 1 else rows.q[rows.group][:, :, 0]
    less_constant = yw - np.sum(np.multiply(yw, q, order="C"), axis=-1, keepdims=True) * q
    return tuple(_dot(r, r) for r in (yw, less_constant, rows.y_t))

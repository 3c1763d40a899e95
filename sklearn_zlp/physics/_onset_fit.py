"""The onset model ``A (E - E_bg)^b`` (+ a pedestal) and its weighted least-squares fit.

The onset vanishes below the gap and can be convolved with the instrument
response (a Gaussian resolution or the matched zero-loss peak). An optional
pedestal ``c0`` or ``c0 + c1 (E - e_min) / (e_max - e_min)`` is added without
convolution: it stands for what does not come from the onset (a dark offset, a
flat floor of thin-film or Cherenkov residue, a slowly varying ZLP residue).

The fit is a variable projection: for given (E_bg, b) the linear parameters
(A >= 0 and the pedestal) are solved exactly, so only one or two non-linear
parameters are searched. A grid over (E_bg, b) finds the global minimum of
every replica; a bounded least-squares refinement polishes it. Both work on
all rows (replicas) at once: the grid is one matrix product per distinct
weight row (the replicas of a spectrum share their sigma), the refinement a
Levenberg-Marquardt iteration in array operations over the rows still moving.
"""

import numpy as np

from ._onset_model import (
    _B_GRID,
    _B_STEP,
    _N_E_GRID,
    B_BOUNDS,
    B_DIRECT,
    B_INDIRECT,
    BACKGROUNDS,
    OnsetFits,
    _Onsets,
    _response,
    _StackedRows,
    _WeightedRows,
    background_columns,
    null_chi2s,
)

# The refinement. Its tolerance is scipy.optimize.least_squares' default ftol,
# xtol and gtol (the fit used it row by row before it was vectorised): a row
# ends when a step changes the parameters, or changes chi^2 and was predicted
# to change it, by less than that share, or when the gradient is below it.
# Damping: start, and factors after a failed / good step.
_TOL = 1e-8
_LAMBDA0, _LAMBDA_UP, _LAMBDA_DOWN = 1e-3, 10.0, 0.3
_GRID_BLOCK = 4800  # grid points evaluated together: all 120 x 40 (band gap per
# pixel 7.7 ms at 640 a block, 7.4 at 4000: fewer, larger products; ~4 MB)
_ON_KINK = 1e-4  # channels from a kink of the model that count as on it
_MAX_TRIES = 12  # damping increases in one iteration before a row stops
_DEGENERATE = 1e-10  # share of an onset's squared length left beside the pedestal
# Iterations of a row's refinement (b free; half with b fixed). A call's
# iterations cost the same however few rows still move, and the last rows
# creep: 40 / 20 instead of 100 / 100 took 8% off the band gap of 128 spectra
# (100 replicas), stopped 0.5% of the rows earlier, moved E_bg by at most
# 7e-6 eV (medians 1e-8 eV, bands 5e-6 eV), left their chi^2 at most 0.07%
# higher and changed no status.
_MAX_ITERATIONS = 40
# Rows whose onsets, derivatives and normal equations are evaluated together:
# their temporaries (about ten arrays of rows x channels) then stay in the CPU
# cache. Measured on 256 pixels of the bench image (1024 rows: ~1 MB an array):
# the band gap took 9% less time than with all rows at once; 256 rows cost
# more calls than they save.
_EVALUATED_ROWS = 1024

__all__ = [
    "BACKGROUNDS",
    "B_BOUNDS",
    "B_DIRECT",
    "B_INDIRECT",
    "OnsetFits",
    "background_columns",
    "fit_onsets",
    "fit_onsets_many",
    "null_chi2s",
]


def _grid_search(e, rows, b_values, e_lo, e_hi, onsets, selections):
    """Best (E_bg, b) of every row on grids, with the linear parameters profiled out.

    The chi^2 drop of a grid point is ``num^2 / norm`` (``num`` the projection
    of the row on the onset, ``norm`` the onset's squared length, both with the
    pedestal projected out), and none where ``num <= 0`` (a negative amplitude
    is no onset): its largest value is where ``num / sqrt(norm)`` is largest and
    positive. The rows less their pedestal fit are orthogonal to the pedestal,
    so ``num`` is their product with the weighted onset itself (one matrix
    product for all rows of one weight row, on the unweighted grid with the
    weights on the rows), and ``norm = |w f|^2 - sum_c (q_c . w f)^2``: two
    matrix-vector products per weight row. The grid is taken in blocks of
    E_bg that fit in cache. ``selections`` lists the
    columns of ``b_values`` that each of several searches may take (all of
    them for a free b, one for a fixed b): one grid serves all. Returns a list
    of (E_bg, b) arrays (m,), one per selection.
    """
    de = e[1] - e[0] if e.size > 1 else 1.0
    n_e = int(min(_N_E_GRID, max(2, np.ceil((e_hi - e_lo) / de) + 1)))
    e_grid = np.linspace(e_lo, e_hi, n_e)
    n_b = b_values.size
    steps = np.round(b_values / _B_STEP)
    # (only worth it on a dense b grid: a few fixed values take a power each)
    products = n_b > 4 and np.allclose(steps * _B_STEP, b_values, rtol=0.0, atol=1e-9)
    m = rows.y_t.shape[0]
    groups = []
    for g, w in enumerate(rows.w_groups):
        at = np.flatnonzero(rows.group == g)
        q = np.empty((e.size, 0)) if rows.q is None else rows.q[g]
        # the pedestal's columns weighted (p, n), and the rows weighted again
        groups.append((w**2, (q * w[:, None]).T, at, rows.y_t[at] * w))
    n_sel = len(selections)
    every = [np.array_equal(sel, np.arange(n_b)) for sel in selections]
    top_score = np.full((n_sel, m), -np.inf)
    top = np.zeros((n_sel, m), dtype=int)  # index into (E_bg, selected b), E_bg-major
    per_block = max(1, _GRID_BLOCK // n_b)
    for start in range(0, n_e, per_block):
        eg = e_grid[start : start + per_block]
        if products:
            basis = onsets.powers(eg, b_values)  # (len(eg) * n_b, n)
        else:
            basis = onsets(np.repeat(eg, n_b), np.tile(b_values, eg.size))
        squares = basis**2
        for w2, qw, at, y_tw in groups:
            length = squares @ w2
            norm = length.copy()
            for c in range(qw.shape[0]):
                norm -= (basis @ qw[c]) ** 2
            # an onset the pedestal describes to rounding (b = 1 on a line) is none
            seen = norm > _DEGENERATE * length
            inv = np.where(seen, 1.0 / np.sqrt(np.where(seen, norm, 1.0)), 0.0)
            score = (y_tw @ basis.T) * inv
            score = score.reshape(at.size, eg.size, n_b)
            for k, sel in enumerate(selections):
                if every[k]:
                    part = score.reshape(at.size, -1)  # (no copy for a free b)
                else:
                    part = score[:, :, sel].reshape(at.size, -1)
                best = np.argmax(part, axis=1)
                value = part[np.arange(at.size), best]
                # strictly larger: the first of equal maxima wins, as in one argmax
                larger = value > top_score[k, at]
                top_score[k, at] = np.where(larger, value, top_score[k, at])
                top[k, at] = np.where(larger, start * len(sel) + best, top[k, at])
    found = []
    for k, sel in enumerate(selections):
        i_e, i_b = np.divmod(np.where(top_score[k] > 0, top[k], 0), len(sel))
        found.append((e_grid[i_e], b_values[np.asarray(sel)[i_b]]))
    return found


def _refine(rows, x0, lb, ub, scale, model, max_iter, kinks=None):
    """Bounded, secant-corrected Levenberg-Marquardt on every row at once, from x0.

    ``model(x, idx, derivatives)`` gives the unit onsets (len(idx), n) of
    rows ``idx`` at parameters ``x`` (len(idx), k), or with ``derivatives``
    a list of them and their derivatives by each parameter;
    ``rows.normal_equations`` turns those into chi^2 and the gradient and
    Gauss-Newton matrix of the residual. Steps are taken in variables scaled by
    ``scale`` and clipped to the bounds ``lb``, ``ub`` (k,); a variable at a
    bound whose gradient points outward is held there. The Gauss-Newton
    matrix misses the curvature of the onset's edge (large for b < 1), so
    that plain Gauss-Newton steps overshoot and oscillate about the minimum;
    a symmetric secant (Powell-symmetric-Broyden) correction learns that
    curvature from the change of the gradient along the steps. Every trial
    point is evaluated with its Jacobian (analytic, of the variable
    projection), which is the next one where the step is taken. A row whose
    E_bg ends on a kink of the model (``kinks``: origin and spacing of the
    E_bg where a sample of the onset starts, whose slope is infinite there
    for b < 1) goes on with E_bg held, so that b still reaches its minimum.
    A step is kept only where it lowers chi^2, so no row ends above its
    start. Returns the parameters (m, k), chi^2 (m,) at them and chi^2 at x0.
    """
    m, k = x0.shape
    lb, ub = np.asarray(lb, float), np.asarray(ub, float)

    def evaluate(x, idx):
        # chi^2, gradient (of chi^2 / 2) and J^T J in the scaled variables, a
        # block of rows at a time (row by row, so the same as all at once)
        chi, grad, gram = (
            np.empty(idx.size),
            np.empty((idx.size, k)),
            np.empty((idx.size, k, k)),
        )
        for s0 in range(0, idx.size, _EVALUATED_ROWS):
            at = slice(s0, s0 + _EVALUATED_ROWS)
            parts = model(x[at], idx[at], derivatives=True)
            chi[at], grad[at], gram[at] = rows.normal_equations(parts, idx[at])
        return chi, grad * scale, gram * (scale[:, None] * scale[None, :])

    x = x0.copy()
    chi, grad_0, gram_0 = evaluate(x, np.arange(m))
    chi_start = chi.copy()
    # The state of the rows still moving, compacted as rows end (gathering it
    # from arrays of all rows every iteration cost a quarter of the time):
    # idx (their rows), parameters, chi^2, gradients, Gauss-Newton matrices,
    # damping, failed tries, secant correction, last gradient and step, held
    # variables.
    keep = np.isfinite(chi)
    idx = np.flatnonzero(keep)
    xs, chis, gs, hs = x[keep], chi[keep], grad_0[keep], gram_0[keep]
    a = idx.size
    lam = np.full(a, _LAMBDA0)
    fails = np.zeros(a, dtype=int)
    corr = np.zeros((a, k, k))  # secant correction to the Gauss-Newton matrix
    g_last = np.zeros((a, k))
    step = np.zeros((a, k))  # the last step taken (scaled), zero where none
    frozen = np.zeros((a, k), dtype=bool)
    for _ in range(max_iter):
        if idx.size == 0:
            break
        grad, jtj = gs.copy(), hs  # (gs changes below; g_last keeps this)
        c, s = corr, step
        # after a step s the gradient changed by y: make (J^T J + C) s = y
        v = (grad - g_last) - np.einsum("akl,al->ak", jtj + c, s)
        ss = np.einsum("ak,ak->a", s, s)[:, None, None]
        vs = np.einsum("ak,ak->a", v, s)[:, None, None]
        outer = v[:, :, None] * s[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            update = (outer + outer.transpose(0, 2, 1)) / ss - vs * (
                s[:, :, None] * s[:, None, :]
            ) / ss**2
        c = c + np.where(ss > 0, update, 0.0)
        hess = jtj + c
        # a correction that leaves the matrix indefinite is dropped
        if k == 1:
            definite = hess[:, 0, 0] > 0
        else:
            det = hess[:, 0, 0] * hess[:, 1, 1] - hess[:, 0, 1] * hess[:, 1, 0]
            definite = (hess[:, 0, 0] > 0) & (det > 0)
        reset = ~(definite & np.all(np.isfinite(hess), axis=(1, 2)))
        c[reset] = 0.0
        hess[reset] = jtj[reset]
        corr, g_last = c, grad
        held = ((xs <= lb) & (grad > 0)) | ((xs >= ub) & (grad < 0)) | frozen
        grad = np.where(held, 0.0, grad)
        # a held variable does not move: its row and column are the identity's;
        # the others' curvature is floored relative to theirs alone (a held E_bg
        # on a kink can have a derivative of 1e14)
        diag = np.where(held, 0.0, np.einsum("akk->ak", hess))
        diag = np.maximum(diag, 1e-12 * np.maximum(diag.max(axis=1), 1e-300)[:, None])
        diag = np.where(held, 1.0, diag * (1.0 + lam[:, None]))
        if k == 1:
            dz = -grad / diag
        else:
            off = np.where(held[:, 0] | held[:, 1], 0.0, hess[:, 0, 1])
            det = diag[:, 0] * diag[:, 1] - off**2
            # a row whose curvature is not finite (non-finite data) gets a NaN
            # step, which its chi^2 never accepts: no warning for it
            with np.errstate(invalid="ignore", divide="ignore"):
                dz = np.column_stack(
                    [
                        -(diag[:, 1] * grad[:, 0] - off * grad[:, 1]) / det,
                        -(diag[:, 0] * grad[:, 1] - off * grad[:, 0]) / det,
                    ]
                )
        flat = np.max(np.abs(grad), axis=1) <= _TOL * np.maximum(1.0, chis)
        t = np.flatnonzero(~flat)
        x_old, chi_old = xs[t], chis[t]
        x_new = np.clip(x_old + dz[t] * scale, lb, ub)
        chi_new, g_new, h_new = evaluate(x_new, idx[t])
        better = chi_new < chi_old
        moved = x_new - x_old
        tiny = np.all(np.abs(moved) <= _TOL * (_TOL + np.abs(x_old)), axis=1)
        # chi^2 drop the quadratic model predicted for the step taken
        taken = moved / scale
        predicted = -2.0 * np.einsum("ak,ak->a", grad[t], taken) - np.einsum(
            "ak,akl,al->a", taken, hess[t], taken
        )
        good, bad = t[better], t[~better]
        xs[good], chis[good] = x_new[better], chi_new[better]
        gs[good], hs[good] = g_new[better], h_new[better]
        step[good] = moved[better] / scale
        step[bad] = 0.0
        lam[good] *= _LAMBDA_DOWN
        lam[bad] *= _LAMBDA_UP
        fails[good] = 0
        fails[bad] += 1
        # done: a step that gains almost nothing and was predicted to (as in
        # MINPACK: a step across the valley can gain little by chance), no
        # lower point within a vanishing step (the minimum, or a kink of the
        # model), or none after every damping
        small = _TOL * chi_old
        stop = flat.copy()
        stop[t] = np.where(
            better,
            tiny | ((chi_old - chi_new <= small) & (predicted <= small)),
            tiny | (fails[t] >= _MAX_TRIES),
        )
        if k > 1 and kinks is not None:
            u = (x_old[:, 0] - kinks[0]) / kinks[1]
            on_kink = np.zeros(idx.size, dtype=bool)
            on_kink[t] = np.abs(u - np.round(u)) <= _ON_KINK
            # (a flat row ends whether or not it is on a kink)
            stuck = np.flatnonzero(stop & ~flat & on_kink & ~frozen[:, 0])
            frozen[stuck, 0] = True
            fails[stuck], lam[stuck], corr[stuck], step[stuck] = 0, _LAMBDA0, 0.0, 0.0
            stop[stuck] = False
        if stop.any():
            x[idx[stop]], chi[idx[stop]] = xs[stop], chis[stop]
            go = ~stop
            idx, xs, chis, gs, hs = idx[go], xs[go], chis[go], gs[go], hs[go]
            lam, fails, corr, g_last = lam[go], fails[go], corr[go], g_last[go]
            step, frozen = step[go], frozen[go]
    x[idx], chi[idx] = xs, chis
    return x, chi, chi_start


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
    max_nfev=_MAX_ITERATIONS,
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
    max_nfev : int, default=40
        Iterations of each row's refinement with a free b (half as many with
        a fixed b, a one-parameter fit).

    Returns
    -------
    fits : OnsetFits
    """
    return fit_onsets_many(
        e,
        y,
        w,
        [b_fixed],
        e_lo,
        e_hi,
        resolution=resolution,
        kernels=kernels,
        background=background,
        max_nfev=max_nfev,
    )[0]


def fit_onsets_many(
    e,
    y,
    w,
    exponents,
    e_lo,
    e_hi,
    *,
    resolution=None,
    kernels=None,
    background=None,
    max_nfev=_MAX_ITERATIONS,
    groups=None,
):
    """:func:`fit_onsets` of the same rows for several exponents at once.

    ``exponents`` lists a ``b_fixed`` (a float in ``B_BOUNDS``, or None for a
    free b) per fit; the other arguments are :func:`fit_onsets`'. One grid
    serves every fit (a fixed b within the free grid is its column), and the
    rows of all fits are refined together. ``groups`` (m,) numbers the rows
    that share a weight row (the replicas of one spectrum), None to find them.
    Every row's fit is the same whatever other rows are fitted with it
    (without a response, whose convolution starts at the lowest gap of all
    rows). Returns a list of OnsetFits.
    """
    m, n_fits = y.shape[0], len(exponents)
    fits = [OnsetFits(m, e.size) for _ in exponents]
    if not e_lo < e_hi:
        return fits
    rows = _WeightedRows(y, w, background_columns(e, background), groups)
    if kernels is not None:
        grid_onsets = _Onsets(e, (kernels[0], kernels[1].mean(axis=0)), e_lo)
        if np.all(kernels[1] == kernels[1][0]):
            onsets = _Onsets(e, (kernels[0], kernels[1][0]), e_lo)  # one for every row
        else:
            onsets = _Onsets(e, kernels, e_lo)
    else:
        grid_onsets = onsets = _Onsets(e, _response(e, resolution), e_lo)
    # one grid for every fit: the free b grid when a fit has a free b (a fixed
    # b on it is its column), else the fixed values; others get their own
    free = any(b is None for b in exponents)
    b_values = _B_GRID if free else np.unique(np.asarray(exponents, float))
    selections, apart = [], {}
    for i, b in enumerate(exponents):
        if b is None:
            selections.append(np.arange(b_values.size))
            continue
        column = np.flatnonzero(np.abs(b_values - b) <= 1e-9)
        if column.size:
            selections.append(column[:1])
        else:
            apart[i] = float(b)
            selections.append(None)
    found = _grid_search(
        e, rows, b_values, e_lo, e_hi, grid_onsets, [s for s in selections if s is not None]
    )
    starts = iter(found)
    x0 = []
    for i, b in enumerate(exponents):
        if i in apart:
            e0 = _grid_search(
                e, rows, np.array([apart[i]]), e_lo, e_hi, grid_onsets, [np.arange(1)]
            )[0][0]
            x0.append(np.column_stack([e0, np.full(m, apart[i])]))
        else:
            e0, b0 = next(starts)
            x0.append(np.column_stack([e0, b0 if b is None else np.full(m, float(b))]))
    # the rows of all fits with a free b refined together, and those of all
    # fits with a fixed b (one parameter: no ln, no derivative by b): row s of
    # the stack is data row s % m
    x0 = np.vstack(x0)
    data = np.tile(np.arange(m), n_fits)
    b_rows = np.repeat([np.nan if b is None else float(b) for b in exponents], m)
    de = e[1] - e[0] if e.size > 1 else 1.0
    kinks = (onsets.e_pad[0], de) if e.size > 1 else None

    def model(x, idx, derivatives=False):
        # x: (len(idx), 2) E_bg and b, or (len(idx), 1) E_bg of fixed-b rows
        b_val = x[:, 1] if x.shape[1] == 2 else b_rows[idx]
        if derivatives:
            return onsets.with_derivatives(x[:, 0], b_val, data[idx], d_b=x.shape[1] == 2)
        return onsets(x[:, 0], b_val, data[idx])

    x = x0.copy()
    for rows_k, k in ((np.isnan(b_rows), 2), (~np.isnan(b_rows), 1)):
        at = np.flatnonzero(rows_k)
        if at.size == 0:
            continue
        lb, ub = [e_lo, B_BOUNDS[0]][:k], [e_hi, B_BOUNDS[1]][:k]
        start_k = np.clip(x0[at, :k], lb, ub)

        def model_k(xk, idx, derivatives=False, at=at):
            return model(xk, at[idx], derivatives)

        found_k, chi, chi0 = _refine(
            _StackedRows(rows, data[at]),
            start_k,
            lb,
            ub,
            np.array([de, 0.1][:k]),
            model_k,
            max_nfev if k == 2 else max(1, max_nfev // 2),
            kinks if k == 2 else None,
        )
        # keep the grid point when the local polish ends worse (a kink of the model)
        x[at, :k] = np.where((chi <= chi0)[:, None], found_k, start_k)
    # the fitted curves, chi^2 and linear parameters, a block of rows at a time
    stacked = _StackedRows(rows, data)
    b_all = np.where(np.isnan(b_rows), x[:, 1], b_rows)
    amp, chi = np.empty(data.size), np.empty(data.size)
    ped = np.empty((data.size, rows.bg.shape[1]))
    model_counts = np.empty((data.size, e.size))
    for s0 in range(0, data.size, _EVALUATED_ROWS):
        at = np.arange(s0, min(s0 + _EVALUATED_ROWS, data.size))
        d = data[at]
        onset = onsets(x[at, 0], b_all[at], d)
        onset_w = onset * rows.weights(d)
        amp[at] = stacked.profile(onset, at)[2]
        ped[at], ped_w = rows.pedestal(rows.yw[d] - amp[at, None] * onset_w, d)
        fitted_w = amp[at, None] * onset_w + ped_w
        resid = rows.yw[d] - fitted_w
        chi[at] = np.einsum("mn,mn->m", resid, resid)
        model_counts[at] = fitted_w / w[d]
    ok = np.isfinite(chi)
    for i, (out, b) in enumerate(zip(fits, exponents, strict=True)):
        part = slice(i * m, (i + 1) * m)
        good = ok[part]
        out.model[good] = model_counts[part][good]
        out.e_bg[good] = x[part, 0][good]
        out.b[good] = x[part, 1][good] if b is None else b
        out.amplitude[good], out.chi2[good] = amp[part][good], chi[part][good]
        out.pedestal[good] = 0.0
        out.pedestal[good, : ped.shape[1]] = ped[part][good]
        out.converged[good] = True
    return fits

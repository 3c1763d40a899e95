"""The vectorised onset fit against a plain per-row reference (grid + scipy least_squares).

``fit_onsets`` fits every replica at once (a grid of one matrix product per
weight row, then a Levenberg-Marquardt polish in array operations). The
reference below is what it replaced, written plainly: a brute-force grid and
``scipy.optimize.least_squares`` on the variable-projection residual, one row
at a time. On smooth onsets both end at the same local minimum. Measured on
every onset fit of the band-gap tests against the former implementation
(17552 rows with an onset): |dE_bg| <= 0.005 channel and |db| <= 0.001 in 99%
of the rows, 0.14 channel and 0.022 in 99.9%; the rest lie on kinks of the
model (E_bg where a channel of the onset starts, b < 1), where either can stop
up to a channel away (of the 21 "ok" replicas of those tests that differ by
more than 0.2 channel or 0.02, 18 have the lower chi^2 in the vectorised fit).
"""

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import least_squares

from sklearn_zlp.physics._onset_fit import (
    _B_GRID,
    B_BOUNDS,
    _Onsets,
    _response,
    _WeightedRows,
    background_columns,
    fit_onsets,
    fit_onsets_many,
    null_chi2s,
)

# Tolerances of the comparison (a channel is the window's spacing).
E_TOL_CHANNELS = 0.2
B_TOL = 0.02
# The vectorised fit may end lower than the reference, never meaningfully higher.
CHI2_SLACK = 1e-6

E = np.round(np.arange(1.0, 3.0 + 1e-9, 0.02), 10)  # 101 channels of 20 meV
DE = E[1] - E[0]
E_LO, E_HI = E[0], E[-1] - 2.5 * DE


def _model(e, e_bg, b, kernel=None):
    """``(E - E_bg)^b`` on e, convolved plainly with a unit-sum kernel (k_e, k_w)."""
    if kernel is None:
        return np.clip(e - e_bg, 0.0, None) ** b
    k_e, k_w = kernel
    pad = e[0] - k_e[-1] + DE * np.arange(e.size + k_e.size - 1)
    return np.convolve(np.clip(pad - e_bg, 0.0, None) ** b, k_w, mode="valid")


def _profiled(onset_w, bg_w, yw):
    """Residual of the linear least squares on [onset, pedestal] with A >= 0."""
    cols = np.column_stack([onset_w, bg_w])
    coef = np.linalg.lstsq(cols, yw, rcond=None)[0]
    if not coef[0] > 0:
        coef = np.concatenate([[0.0], np.linalg.lstsq(bg_w, yw, rcond=None)[0]])
    return yw - cols @ coef


def _reference(y, w, b_fixed, background="constant", kernel=None):
    """One row: (E_bg, b, chi^2) from a brute-force grid and least_squares."""
    bg_w = background_columns(E, background) * w[:, None]
    yw = y * w
    n_e = int(min(120, np.ceil((E_HI - E_LO) / DE) + 1))
    b_values = _B_GRID if b_fixed is None else [b_fixed]
    best, x0 = -np.inf, None
    for e_bg in np.linspace(E_LO, E_HI, n_e):
        for b in b_values:
            r = _profiled(_model(E, e_bg, b, kernel) * w, bg_w, yw)
            if -(r @ r) > best:
                best, x0 = -(r @ r), [e_bg, b]

    def resid(p):
        b = p[1] if b_fixed is None else b_fixed
        return _profiled(_model(E, p[0], b, kernel) * w, bg_w, yw)

    if b_fixed is None:
        lb, ub = [E_LO, B_BOUNDS[0]], [E_HI, B_BOUNDS[1]]
    else:
        x0, lb, ub = x0[:1], [E_LO], [E_HI]
    sol = least_squares(
        resid, x0, bounds=(lb, ub), x_scale=[DE, 0.1][: len(x0)], max_nfev=100
    )
    p = sol.x if np.sum(sol.fun**2) <= np.sum(resid(x0) ** 2) else np.asarray(x0)
    r = resid(p)
    return p[0], p[1] if b_fixed is None else b_fixed, r @ r


def _rows(specs, seed=0, kernel=None):
    """Counts and weights of seeded synthetic rows: (e_bg, b, amplitude, pedestal)."""
    rng = np.random.default_rng(seed)
    y = np.array(
        [a * _model(E, e_bg, b, kernel) + c for e_bg, b, a, c in specs], dtype=float
    )
    sigma = np.sqrt(np.maximum(y, 1.0) + 25.0)
    return y + rng.normal(size=y.shape) * sigma, 1.0 / sigma


# Smooth onsets at several gaps and exponents, one whose gap lies below the
# window (E_bg at its lower bound), one steeper than b=4 allows (b at its upper
# bound) and two without an onset (a flat pedestal, and nothing).
CASES = [
    (1.6, 1.5, 400.0, 20.0),
    (1.9, 1.2, 600.0, 0.0),
    (2.2, 2.0, 300.0, 50.0),
    (1.45, 1.5, 900.0, 10.0),
    (1.7, 3.0, 500.0, 30.0),
    (1.8, 1.5, 150.0, 40.0),
    (0.8, 1.5, 400.0, 20.0),  # gap below the window: E_bg at e_min
    (1.5, 6.0, 200.0, 10.0),  # steeper than b=4: b at its bound
    (1.6, 1.5, 0.0, 40.0),  # pedestal only: no onset
    (1.6, 1.5, 0.0, 0.0),  # nothing at all
]


def _check(fits, i, ref, onset=True):
    # without an onset E_bg and b are not pinned (any value fits the noise as
    # well): there only chi^2 is compared
    e_bg, b, chi2 = ref
    assert fits.chi2[i] <= chi2 * (1 + CHI2_SLACK) + 1e-9, (i, fits.chi2[i], chi2)
    if onset:
        assert abs(fits.e_bg[i] - e_bg) <= E_TOL_CHANNELS * DE, (i, fits.e_bg[i], e_bg)
        assert abs(fits.b[i] - b) <= B_TOL, (i, fits.b[i], b)


@pytest.mark.parametrize("b_fixed", [None, 1.5])
def test_vectorised_fit_matches_the_per_row_reference(b_fixed):
    y, w = _rows(CASES)
    fits = fit_onsets(E, y, w, b_fixed, E_LO, E_HI, background="constant")
    assert fits.converged.all()
    refs = [_reference(y[i], w[i], b_fixed) for i in range(len(CASES))]
    for i, case in enumerate(CASES):
        _check(fits, i, refs[i], onset=case[2] > 0)
    # both call the same rows "at_bound" (fit_band_gap's rule: E_bg within a
    # channel of its range, b within 0.02 of its bounds): with b free, rows 6 and 7
    for i in (i for i, case in enumerate(CASES) if case[2] > 0):
        for value, ref, lo, hi, tol in (
            (fits.e_bg[i], refs[i][0], E_LO, E_HI, DE),
            (fits.b[i], refs[i][1], *B_BOUNDS, 0.02),
        ):
            assert (value <= lo + tol or value >= hi - tol) == (
                ref <= lo + tol or ref >= hi - tol
            ), (i, value, ref)
    # without an onset, the fit lowers chi^2 by no more than noise does (the
    # no_onset_in_window test of fit_band_gap); with one, by far more
    drop = null_chi2s(E, y, w)[1] - fits.chi2
    threshold = stats.chi2.isf(1e-3, 3 if b_fixed is None else 2)
    assert np.all(drop[8:] < threshold) and np.all(drop[:6] > 10 * threshold)


def test_vectorised_fit_with_a_response_matches_the_reference():
    kernel = _response(E, 0.3)
    cases = CASES[:6]
    y, w = _rows(cases, seed=1, kernel=kernel)
    fits = fit_onsets(E, y, w, None, E_LO, E_HI, resolution=0.3, background="linear")
    for i in range(len(cases)):
        _check(fits, i, _reference(y[i], w[i], None, "linear", kernel))


@pytest.mark.parametrize("per_row", [False, True])
def test_joint_fits_equal_separate_fits(per_row):
    # fit_band_gap fits b free, 0.5 and 1.5 as one stack (one grid, one
    # refinement); each must be the fit on its own, with one response for
    # every row or one per row
    rng = np.random.default_rng(4)
    k_e = DE * (np.arange(80) - 25)
    k_w = np.exp(-0.5 * ((k_e[None, :] - rng.normal(0, 0.02, (6, 1))) / 0.12) ** 2)
    k_w = k_w if per_row else np.repeat(k_w[:1], 6, axis=0)
    k_w /= k_w.sum(axis=1, keepdims=True)
    y, w = _rows(CASES[:6], seed=2, kernel=(k_e, k_w[0]))
    options = {"kernels": (k_e, k_w), "background": "constant"}
    joint = fit_onsets_many(E, y, w, [None, 0.5, 1.5], E_LO, E_HI, **options)
    for fits, b in zip(joint, [None, 0.5, 1.5], strict=True):
        alone = fit_onsets(E, y, w, b, E_LO, E_HI, **options)
        assert np.all(fits.converged)
        np.testing.assert_allclose(fits.chi2, alone.chi2, rtol=1e-7)
        np.testing.assert_allclose(fits.e_bg, alone.e_bg, rtol=0, atol=1e-3 * DE)
        np.testing.assert_allclose(fits.b, alone.b, rtol=0, atol=1e-3)


@pytest.mark.parametrize("n_k", [31, 151])
def test_onset_model_equals_a_plain_convolution(n_k):
    # shared response (a Toeplitz product) and one response per row (strided
    # products below 65 channels, FFT above), against np.convolve
    rng = np.random.default_rng(3)
    k_e = DE * (np.arange(n_k) - n_k // 3)
    k_w = rng.random((4, n_k))
    k_w /= k_w.sum(axis=1, keepdims=True)
    e_bg = np.array([1.3, 1.55, 2.0, 2.61])
    b = np.array([0.5, 1.5, 2.7, 1.0])
    per_row = _Onsets(E, (k_e, k_w))(e_bg, b, np.arange(4))
    shared = _Onsets(E, (k_e, k_w[0]))(e_bg, b)
    for i in range(4):
        np.testing.assert_allclose(
            per_row[i], _model(E, e_bg[i], b[i], (k_e, k_w[i])), rtol=1e-10, atol=1e-12
        )
        np.testing.assert_allclose(
            shared[i], _model(E, e_bg[i], b[i], (k_e, k_w[0])), rtol=1e-10, atol=1e-12
        )


def test_median_in_the_replicas_stack_equals_its_own_fit():
    # fit_band_gap fits the replica median's b = 0.5 and 1.5 as one more row of
    # the replicas' stack (b free, 0.5, 1.5) where it shares their weights; it
    # must equal the median's own fixed-b fit (one parameter)
    y, w = _rows(CASES[:6], seed=5)
    w = np.broadcast_to(w[:1], y.shape)
    median = np.median(y, axis=0)[None]
    options = {"background": "constant"}
    stack = fit_onsets_many(
        E,
        np.vstack([y, median]),
        np.vstack([w, w[:1]]),
        [None, 0.5, 1.5],
        E_LO,
        E_HI,
        **options,
    )
    alone = fit_onsets_many(E, median, w[:1], [0.5, 1.5], E_LO, E_HI, **options)
    for fits, own in zip(stack[1:], alone, strict=True):
        np.testing.assert_allclose(fits.chi2[-1:], own.chi2, rtol=1e-7)
        np.testing.assert_allclose(fits.e_bg[-1:], own.e_bg, rtol=0, atol=1e-3 * DE)
        np.testing.assert_allclose(fits.model[-1:], own.model, rtol=1e-5, atol=1e-6)


def test_onset_derivatives_equal_the_plain_formulas():
    # x^b is taken as exp(b ln x) beside the ln that d/db needs
    e_bg = np.array([0.9, 1.3, 1.55, 2.0, 2.61, 3.5])
    b = np.array([0.1, 0.5, 1.5, 2.7, 1.0, 4.0])
    f, d_e, d_b = _Onsets(E, None).with_derivatives(e_bg, b)
    x = np.clip(E[None, :] - e_bg[:, None], 0.0, None)
    power = x ** b[:, None]
    np.testing.assert_allclose(f, power, rtol=1e-13, atol=0)
    inside = x > 0
    safe = np.where(inside, x, 1.0)
    np.testing.assert_allclose(
        d_e, np.where(inside, -b[:, None] * power / safe, 0.0), rtol=1e-13, atol=0
    )
    np.testing.assert_allclose(d_b, power * np.log(safe), rtol=1e-13, atol=0)


@pytest.mark.parametrize("background", [None, "constant", "linear"])
@pytest.mark.parametrize("shared", [True, False])
def test_normal_equations_equal_those_of_the_explicit_jacobian(background, shared):
    # J^T r and J^T J from dot products, without projecting the derivatives
    rng = np.random.default_rng(6)
    m = 6
    y = 50.0 * _model(E, 1.5, 0.8)[None] + rng.normal(0.0, 3.0, (m, E.size)) + 20.0
    w = np.full((m, E.size), 1 / 3.0) if shared else rng.uniform(0.2, 0.5, (m, E.size))
    rows = _WeightedRows(y, w, background_columns(E, background))
    e_bg = rng.uniform(1.2, 1.8, m)
    b = rng.uniform(0.4, 2.5, m)
    every = np.arange(m)
    parts = _Onsets(E, None).with_derivatives(e_bg, b)
    chi, grad, gram = rows.normal_equations(parts, every)
    # the Jacobian written out: project every part, then J = -(A Pd + dA Po)
    o_t, d_t = (rows.project(p * w, every) for p in (parts[0], np.stack(parts[1:])))
    amp = np.clip(np.sum(o_t * rows.y_t, 1) / np.sum(o_t * o_t, 1), 0.0, None)
    d_amp = (np.sum(d_t * rows.y_t, 2) - 2 * amp * np.sum(d_t * o_t, 2)) / np.sum(o_t**2, 1)
    resid = rows.y_t - amp[:, None] * o_t
    jac = -(amp[None, :, None] * d_t + d_amp[:, :, None] * o_t[None]).transpose(1, 0, 2)
    assert np.all(amp > 0)
    np.testing.assert_allclose(chi, np.sum(resid**2, 1), rtol=1e-12)
    np.testing.assert_allclose(grad, np.einsum("akn,an->ak", jac, resid), rtol=1e-9)
    np.testing.assert_allclose(gram, np.einsum("akn,aln->akl", jac, jac), rtol=1e-9)


@pytest.mark.parametrize("order", ["C", "F"])
def test_a_spectrum_fits_the_same_alone_or_with_others(order):
    """fit_band_gap fits many spectra together; each one's numbers are bitwise its own.

    Spectra of equal-length windows are refined in one call on a relative
    axis, so every operation must be row by row: a sum across rows, or along
    a row of another memory layout, would change the last bits of a spectrum
    with its neighbours (and so maps with their chunks).
    """
    from sklearn_zlp.physics import fit_band_gap

    rng = np.random.default_rng(11)
    e = np.linspace(-1.0, 6.0, 351)
    gaps = [1.4, 1.7, 2.05, 2.3, 1.9]
    clean = np.stack([400 * np.clip(e - g, 0, None) ** 1.5 + 30 for g in gaps])
    replicas = clean[None] + rng.normal(0, 1, (40, 5, e.size)) * np.sqrt(clean)
    replicas = np.asarray(replicas, order=order)
    together = fit_band_gap(e, replicas, replica_axis=0)
    assert len({tuple(np.round(w, 6)) for w in together.window}) > 1  # own windows
    assert (together.status == "ok").all(), together.status
    for j in range(len(gaps)):
        alone = fit_band_gap(e, replicas[:, j : j + 1], replica_axis=0)
        np.testing.assert_array_equal(alone.window[0], together.window[j])
        for name in ("e_bg", "b", "chi2", "chi2_direct", "chi2_indirect"):
            np.testing.assert_array_equal(
                getattr(alone, name)[:, 0], getattr(together, name)[:, j], err_msg=name
            )
        assert alone.p_indirect[0] == together.p_indirect[j]


def test_prefix_medians_equal_numpy_median():
    from sklearn_zlp.physics._bandgap_spectrum import _prefix_medians

    rng = np.random.default_rng(4)
    for size in (5, 6, 81, 82):
        values = rng.uniform(1.0, 100.0, size)
        lengths = np.unique(rng.integers(1, size + 1, 20))
        expected = [np.median(values[:k]) for k in lengths]
        np.testing.assert_array_equal(_prefix_medians(values, lengths), expected)


@pytest.mark.parametrize("n", [1, 2, 3, 16, 97, 100])
@pytest.mark.parametrize("level", [0.5, 0.68, 0.95])
def test_statistics_picked_from_sorted_replicas_equal_the_partitioned_ones(n, level):
    from sklearn_zlp._replicas import (
        replica_band,
        replica_median,
        sorted_band,
        sorted_median,
    )

    x = np.random.default_rng(n).normal(size=(n, 4, 6)) * 10
    x[0, 1, 1] = np.nan  # a failed replica: NaN, as the partition gives
    ordered = np.sort(x, axis=0)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(sorted_median(ordered), replica_median(x))
        np.testing.assert_array_equal(sorted_band(ordered, level), replica_band(x, level))


@pytest.mark.parametrize("response", [False, True])
def test_a_row_fits_the_same_in_any_block_of_rows(monkeypatch, response):
    # the refinement and the final curves go a block of rows at a time: square
    # roots for b = 0.5 and 1.5 are chosen row by row, so a row's numbers are
    # bitwise the same in any block; a response's convolution is a matrix
    # product (BLAS), whose rounding may depend on how many rows it has
    from sklearn_zlp.physics import _onset_fit

    rng = np.random.default_rng(11)
    y = 40.0 * _model(E, 1.6, 1.2)[None] + rng.normal(0.0, 2.0, (30, E.size)) + 5.0
    w = np.full_like(y, 0.5)
    kwargs = {"resolution": 0.1} if response else {}
    exponents = [None, 0.5, 1.5, 1.0]

    def fits():
        return fit_onsets_many(
            E, y, w, exponents, E_LO, E_HI, background="constant", **kwargs
        )

    whole = fits()
    monkeypatch.setattr(_onset_fit, "_EVALUATED_ROWS", 7)
    for a, b in zip(fits(), whole, strict=True):
        for name in ("e_bg", "b", "chi2", "amplitude", "model"):
            if response:
                np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12)
            else:
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name), name)

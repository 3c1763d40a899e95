"""One spectrum's band-gap fit: every replica's onset fit, its status, p_indirect."""

import functools

import numpy as np
from scipy import stats
from scipy.special import expit

from .._replicas import replica_band
from .._status import OK, register_status
from ._bandgap_batch import WindowRows
from ._bandgap_result import FIT_FAILED
from ._onset_fit import B_BOUNDS, null_chi2s

__all__ = ["SpectrumRows", "n_parameters", "spectrum_result"]

AT_BOUND = register_status(
    "at_bound",
    "a fitted parameter (E_bg at the window start or end, or b at 0.1 or 4) ended at "
    "or within tolerance of its bound: the window does not pin it; the value is NaN.",
)
NO_ONSET = register_status(
    "no_onset_in_window",
    "no significant rise above the noise (and the pedestal, when one is modelled) in "
    "the fit window, or the automatic window found no sustained rise; the value is NaN.",
)
PEDESTAL_DOMINATES = register_status(
    "pedestal_dominates",
    "a constant or linear floor of counts explains the fit window as well as an onset "
    "does (model it with background='linear', or move the window); the value is NaN.",
)
FALLING_BELOW_GAP = register_status(
    "falling_below_gap",
    "below the fitted gap the counts fall with energy beyond what the pedestal model "
    "describes, or a fitted linear pedestal falls below zero counts in the window: the "
    "tail of an under-subtracted ZLP (e.g. dE_I too low) or another decaying signal "
    "lies under the onset and would bias E_bg; the value is NaN.",
)
TOO_FEW_POINTS = register_status(
    "too_few_points",
    "the fit window holds too few channels for the onset model; the value is NaN.",
)

# A replica's onset must lower chi^2 below the pedestal-only (or zero) model by the
# 1 - _ALPHA quantile of chi^2 with as many degrees of freedom as the onset adds,
# after scaling by the reduced chi^2 of the fit when it exceeds 1.
_ALPHA = 1e-3
# How close (in channels of the window, and for b absolutely) a value may come to
# its bound before it counts as "at_bound"; the window share covers fine axes.
_BOUND_CHANNELS = 1.0
_BOUND_SHARE = 0.01
_B_TOLERANCE = 0.02
# False-alarm rate of the test for a falling residual below the gap, per replica
# (replicas of one spectrum share its noise, so about the same per spectrum).
_ALPHA_FALLING = 0.01
# Channels below the gap needed to test the pedestal there for a falling trend.
_MIN_BELOW_GAP = 5


def n_parameters(b, background):
    """Fitted parameters of the model: E_bg, A, b unless fixed, the pedestal's."""
    return (3 if b is None else 2) + {None: 0, "constant": 1, "linear": 2}[background]


def _prefix_medians(values, lengths):
    """``np.median(values[:k])`` for every k in ``lengths`` (> 0), by one sort."""
    prefixes = np.where(
        np.arange(values.size)[None, :] < lengths[:, None], values[None, :], np.inf
    )
    prefixes.sort(axis=1)
    rows = np.arange(lengths.size)
    # the mean of the two middle values (one value twice for odd k), as np.median
    return (prefixes[rows, (lengths - 1) // 2] + prefixes[rows, lengths // 2]) / 2


@functools.cache
def _f_crit(dof):
    """Critical F(1, dof) of the falling test (scipy's isf costs ~0.1 ms a call)."""
    return float(stats.f.isf(_ALPHA_FALLING, 1, dof))


@functools.cache
def _chi2_crit(dof):
    """Critical chi^2 of the onset's significance with ``dof`` onset parameters."""
    return float(stats.chi2.isf(_ALPHA, dof))


def _falling_below_gap(e, y, w, fits):
    """Replicas whose fit residual falls significantly with energy below their gap.

    Below E_bg the model is the pedestal alone (plus the foot of the broadened
    onset, which rises and so only hides a fall). An F test of a line against
    a constant through the residual there, unweighted and scaled by its own
    scatter (so that a wrong sigma neither raises nor hides it), with a
    negative slope, marks a decaying signal that the model does not describe.
    A fitted linear pedestal that falls below zero counts by more than three
    times the scatter of the fit is one too.
    """
    resid = y - fits.model
    # the channels below each replica's gap: a prefix of the window (all rows at once)
    sel = e[None, :] < fits.e_bg[:, None]
    n = sel.sum(axis=1)
    test = (n >= _MIN_BELOW_GAP) & np.isfinite(fits.chi2)
    falling = np.zeros(y.shape[0], dtype=bool)
    if test.any():
        sel, n, r = sel[test], n[test], np.where(sel[test], resid[test], 0.0)
        x = np.where(sel, e[None, :], 0.0)
        x = np.where(sel, x - (x.sum(axis=1) / n)[:, None], 0.0)
        r = np.where(sel, r - (r.sum(axis=1) / n)[:, None], 0.0)
        xx = np.einsum("mn,mn->m", x, x)
        slope = np.einsum("mn,mn->m", x, r) / xx
        rss_line = np.einsum("mn,mn->m", r - slope[:, None] * x, r - slope[:, None] * x)
        drop = slope**2 * xx
        dofs, at = np.unique(n - 2, return_inverse=True)
        f_crit = np.array([_f_crit(int(d)) for d in dofs])[at]
        # scatter floored at half the stated noise: on noise-free
        # input a fall of 1e-12 counts is no fall
        inv = 1.0 / w[test]
        if np.all(inv == inv[0]):
            # one sigma for every replica (the usual case): a median per prefix length
            lengths, at = np.unique(n, return_inverse=True)
            noise = _prefix_medians(inv[0], lengths)[at]
        else:
            noise = np.nanmedian(np.where(sel, inv, np.nan), axis=1)
        variance = np.maximum(rss_line / (n - 2), 0.25 * noise**2)
        falling[test] = (slope < 0) & (drop > f_crit * variance)
    scatter = np.maximum(np.median(1.0 / w, axis=1), np.sqrt(np.nanmean(resid**2, axis=1)))
    end = fits.pedestal[:, 0] + fits.pedestal[:, 1]
    falling |= (fits.pedestal[:, 1] < 0) & (end < -3.0 * scatter)
    return falling


def _zlp_kernels(energy, zlp_unit, e_min, e_max):
    """The responses cut to where they matter for a window.

    Channels at losses above ``1.5 (e_max - e_min)`` (or gains beyond the
    window's width) cannot move onset intensity into the window and are
    dropped; the responses keep their normalisation over the whole axis.
    Returns (k_energy, the weights cut on their last axis to n_k channels).
    """
    span = e_max - e_min
    keep = (energy >= -span) & (energy <= 1.5 * span)
    return energy[keep], zlp_unit[..., keep]


def _p_indirect(chi_direct, chi_indirect, distance, replica_deltas, dof):
    """Probability that a spectrum's data prefer b=1.5 over b=0.5 (equal prior odds).

    ``delta = chi_direct - chi_indirect`` of the replica median is, to first
    order in the noise, normal with mean ``+-D^2`` (``distance``: the weighted
    squared distance between the two fitted curves) under either hypothesis,
    and variance ``v``; the posterior log-odds are ``2 D^2 delta / v``. With
    replicas, ``v`` is the variance of the replicas' deltas (68% half-width
    squared), which carries the ZLP uncertainty and the actual noise; it is at
    least ``4 D^2 s^2``, the variance for the assumed sigma times ``s^2 = max(1,
    reduced chi^2)`` of the better fit (a model that does not describe the
    data is less conclusive).
    """
    if not (np.isfinite(chi_direct) and np.isfinite(chi_indirect) and distance > 0):
        return np.nan
    s2 = max(1.0, min(chi_direct, chi_indirect) / dof)
    v = 4.0 * distance * s2
    deltas = replica_deltas[np.isfinite(replica_deltas)]
    if deltas.size >= 4:
        lower, upper = replica_band(deltas)
        v = max(v, (0.5 * (upper - lower)) ** 2)
    return float(expit(2.0 * distance * (chi_direct - chi_indirect) / v))


class SpectrumRows:
    """One spectrum's rows for :func:`fit_windows` and what its statuses need.

    ``fit`` holds the replicas (and, where it shares their weights and
    response, the replica median as one more row: a fit of one or two rows
    costs about as much as one of a hundred), to be fitted with b free (or
    as given), 0.5 and 1.5; ``median_fit`` the replica median alone, with
    b = 0.5 and 1.5, where it could not join them (else None).
    """

    def __init__(self, energy, mask, y_all, sig_all, sig_median, median, j, options):
        self.e = energy[mask]
        self.y = y_all[:, mask]
        self.w = 1.0 / sig_all[:, mask]
        self.wm = (1.0 / sig_median)[None]
        start = int(np.argmax(mask))
        kernels = median_kernel = None
        if options["unit_zlp"] is not None:
            # this spectrum's responses only (cutting all of them is O(n_spectra))
            k_e, k_w = _zlp_kernels(
                energy, options["unit_zlp"][:, j], self.e[0], self.e[-1]
            )
            kernels, median_kernel = (k_e, k_w), (k_e, k_w.mean(axis=0, keepdims=True))
        self.joint = median_kernel is None and bool(np.all(self.w == self.wm))
        resolution = options["resolution"]
        self.fit = WindowRows(
            start,
            self.e.size,
            np.vstack([self.y, median[None]]) if self.joint else self.y,
            np.vstack([self.w, self.wm]) if self.joint else self.w,
            kernels,
            resolution,
        )
        self.median_fit = (
            None
            if self.joint
            else WindowRows(
                start, self.e.size, median[None], self.wm, median_kernel, resolution
            )
        )


def spectrum_result(rows, fits, median_fits, options):
    """Every replica's fit of one spectrum, its statuses and p_indirect.

    ``fits`` are the OnsetFits of ``rows.fit`` (b free or given, 0.5, 1.5) and
    ``median_fits`` those of ``rows.median_fit`` (0.5, 1.5), or None.
    """
    b, background = options["b"], options["background"]
    e, y, w, wm = rows.e, rows.y, rows.w, rows.wm
    free, direct, indirect = fits
    m = y.shape[0]
    if rows.joint:
        fits_d, fits_i = direct.take(slice(m, None)), indirect.take(slice(m, None))
        free, direct, indirect = (f.take(slice(0, m)) for f in (free, direct, indirect))
    else:
        fits_d, fits_i = median_fits
    de = e[1] - e[0] if e.size > 1 else 1.0
    e_lo = e[0]
    # not so close to the window's end that fewer than 3 channels rise above it
    e_hi = e[-1] - 2.5 * de if e.size > 4 else e[-1]
    n_onset = 3 if b is None else 2
    n_fit = n_parameters(b, background)
    dof = max(e.size - n_fit, 1)
    threshold = _chi2_crit(n_onset) * np.maximum(1.0, free.chi2 / dof)
    chi_zero, chi_constant, chi_line = null_chi2s(e, y, w)
    chi_null = {None: chi_zero, "constant": chi_constant, "linear": chi_line}[background]
    # a floor of counts is there: a line explains the window significantly better
    # than zero, with a positive weighted mean (a negative one is noise that the
    # counting sigma of near-zero counts weighs unevenly, not a pedestal)
    level = np.sum(w**2 * y, axis=1) / np.sum(w**2, axis=1)
    floor = ((chi_zero - chi_line) >= threshold) & (level > 0)
    tol_e = max(_BOUND_CHANNELS * de, _BOUND_SHARE * (e[-1] - e[0]))
    at_bound = (free.e_bg <= e_lo + tol_e) | (free.e_bg >= e_hi - tol_e)
    if b is None:
        at_bound |= (free.b <= B_BOUNDS[0] + _B_TOLERANCE) | (
            free.b >= B_BOUNDS[1] - _B_TOLERANCE
        )
    no_onset = ~(free.amplitude > 0) | ~((chi_null - free.chi2) >= threshold)
    # without a pedestal model: a line explains the window as well as the onset
    line_as_good = (background is None) & ~((chi_line - free.chi2) >= threshold)
    statuses = np.full(y.shape[0], OK, dtype=object)
    statuses[at_bound] = AT_BOUND
    statuses[_falling_below_gap(e, y, w, free)] = FALLING_BELOW_GAP
    statuses[line_as_good & floor] = PEDESTAL_DOMINATES
    statuses[no_onset] = np.where(floor[no_onset], PEDESTAL_DOMINATES, NO_ONSET)
    statuses[~(free.converged & np.isfinite(free.chi2))] = FIT_FAILED
    # direct or indirect: fixed-b fits of the replica median
    dof_fixed = max(e.size - (n_fit - n_onset + 2), 1)
    p = _p_indirect(
        fits_d.chi2[0],
        fits_i.chi2[0],
        np.sum(((fits_d.model[0] - fits_i.model[0]) * wm[0]) ** 2),
        direct.chi2 - indirect.chi2,
        dof_fixed,
    )
    return {
        "e_bg": free.e_bg,
        "b": free.b,
        "amplitude": free.amplitude,
        "chi2": free.chi2,
        "chi2_direct": direct.chi2,
        "chi2_indirect": indirect.chi2,
        "pedestal": free.pedestal,
        "replica_status": statuses,
        "p_indirect": p,
    }

"""The split-parabola vertex of many ZLPs at once.

ln I of an asymmetric peak is close to a parabola with different curvatures on
its two sides; fitting both sides and their shared vertex by least squares to
the channels above ``FIT_FRACTION`` of the maximum uses every channel near the
top, so the estimate is unbiased for asymmetric peaks and averages the noise of
many channels. For a given vertex the fit is linear, so its residual is a
function of the vertex alone, minimised by bounded Brent (scipy's
``minimize_scalar(method="bounded")``, which this module replaced one spectrum
at a time). Here both run on many spectra at once: the residual from the
3 x 3 normal equations of all rows in array operations, Brent's iteration with
its branches as masks, one call per fit width (so that no row is padded and a
row's vertex never depends on the others in the call). Measured against the former per-spectrum code on 2304
spectra of a synthetic image: 0.42 s against 0.019 s, positions equal within
6e-10 channel (ZLP FWHM 0.08-1.5 eV and the WS2 spectra within 7e-10).
"""

import numpy as np

__all__ = ["FIT_FRACTION", "split_parabola_vertices"]

# Channels above this fraction of the maximum enter the fit.
FIT_FRACTION = 0.6
_GOLDEN = 0.5 * (3.0 - np.sqrt(5.0))
_SQRT_EPS = np.sqrt(2.2e-16)
_MAX_EVALUATIONS = 500  # scipy's default


def _fit_ranges(spectra, peaks, lows, highs):
    """First and last channel of each row's fit: contiguous, above the level."""
    first = np.empty(peaks.size, dtype=int)
    last = np.empty(peaks.size, dtype=int)
    n = spectra.shape[1]
    for i, (s, p, lo, hi) in enumerate(zip(spectra, peaks, lows, highs, strict=True)):
        level = FIT_FRACTION * s[p]
        below = np.flatnonzero(s[lo:p] <= level)
        a = lo + below[-1] + 1 if below.size else lo
        above = np.flatnonzero(s[p + 1 : hi + 1] <= level)
        b = p + above[0] if above.size else hi
        # at least two channels per side, or three points fit any vertex exactly
        first[i], last[i] = max(min(a, p - 2), 0), min(max(b, p + 2), n - 1)
    return first, last


def split_parabola_vertices(energy, spectra, peaks, lows, highs):
    """Vertex (eV) of the split parabola fitted to ln I around each row's peak.

    ``peaks``, ``lows`` and ``highs`` (n,) are each row's peak channel and the
    minima that bound it (:func:`._peak.zlp_peaks`).
    """
    if peaks.size == 0:
        return np.empty(0)
    first, last = _fit_ranges(spectra, peaks, lows, highs)
    # Rows are fitted in groups of one fit width, each without padding: a row's
    # sums then never depend on which other rows share the call (zero padding
    # to the widest row moved numpy's pairwise summation, so a spectrum's
    # vertex, and its aligned counts, changed in the last bits with the stack).
    vertices = np.empty(peaks.size)
    widths = last - first
    for width in np.unique(widths):
        rows = np.flatnonzero(widths == width)
        vertices[rows] = _group_vertices(
            energy, spectra[rows], peaks[rows], first[rows], last[rows]
        )
    return vertices


def _group_vertices(energy, spectra, peaks, first, last):
    """:func:`split_parabola_vertices` of rows whose fits share one width."""
    m = peaks.size
    width = int(np.max(last - first)) + 1
    cols = first[:, None] + np.arange(width)[None, :]
    mask = cols <= last[:, None]
    cols = np.minimum(cols, spectra.shape[1] - 1)
    rows = np.arange(m)[:, None]
    top = spectra[np.arange(m), peaks]
    x = energy[cols]
    y = np.log(np.clip(spectra[rows, cols], (top * 1e-6)[:, None], None))
    y = np.where(mask, y, 0.0)
    n = mask.sum(axis=1)
    y = np.where(mask, y - (y.sum(axis=1) / n)[:, None], 0.0)  # centred: no pedestal sum
    yy = np.einsum("mk,mk->m", y, y)

    def residual(x0, idx):
        xs, ys, ms = x[idx], y[idx], mask[idx]
        d2 = (xs - x0[:, None]) ** 2
        left = ms & (xs < x0[:, None])
        right = ms & ~left
        sums = []
        for side in (left, right):
            d = np.where(side, d2, 0.0)
            sums.append((d.sum(axis=1), (d * d).sum(axis=1), (d * ys).sum(axis=1)))
        (a, aa, ay), (b, bb, by) = sums
        with np.errstate(divide="ignore", invalid="ignore"):
            ia = np.where(aa > 0, 1.0 / aa, 0.0)
            ib = np.where(bb > 0, 1.0 / bb, 0.0)
            den = n[idx] - a * a * ia - b * b * ib
            c0 = np.where(den > 0, -(a * ay * ia + b * by * ib) / den, 0.0)
        c1 = (ay - a * c0) * ia
        c2 = (by - b * c0) * ib
        return yy[idx] - c1 * ay - c2 * by

    step = 0.5 * (energy[peaks + 1] - energy[peaks - 1])
    xp = energy[peaks]
    lower = np.minimum(xp - step, 0.5 * (x[:, 0] + xp))
    upper = np.maximum(xp + step, 0.5 * (energy[last] + xp))
    return _bounded_brent(residual, lower, upper, 1e-4 * step)


def _bounded_brent(func, lower, upper, xatol):
    """scipy's bounded Brent minimisation of ``func(x, rows)`` on every row at once.

    The same iteration as ``scipy.optimize.minimize_scalar(method="bounded")``,
    row by row: parabolic steps where acceptable, golden-section steps
    otherwise, ended per row by the same tolerance.
    """
    a, b = lower.astype(float), upper.astype(float)
    m = a.size
    every = np.arange(m)
    fulc = a + _GOLDEN * (b - a)
    nfc, xf = fulc.copy(), fulc.copy()
    rat = np.zeros(m)
    e = np.zeros(m)
    fx = func(xf, every)
    ffulc, fnfc = fx.copy(), fx.copy()
    xm = 0.5 * (a + b)
    tol1 = _SQRT_EPS * np.abs(xf) + xatol / 3.0
    tol2 = 2.0 * tol1
    for _ in range(_MAX_EVALUATIONS - 1):
        act = np.flatnonzero(np.abs(xf - xm) > (tol2 - 0.5 * (b - a)))
        if act.size == 0:
            break
        A, B, X, FX = a[act], b[act], xf[act], fx[act]
        NFC, FNFC, FULC, FFULC = nfc[act], fnfc[act], fulc[act], ffulc[act]
        E, RAT, XM, T1, T2 = e[act], rat[act], xm[act], tol1[act], tol2[act]
        golden = np.ones(act.size, dtype=bool)
        try_parabola = np.abs(E) > T1
        r = (X - NFC) * (FX - FFULC)
        q = (X - FULC) * (FX - FNFC)
        p = (X - FULC) * q - (X - NFC) * r
        q = 2.0 * (q - r)
        p = np.where(q > 0.0, -p, p)
        q = np.abs(q)
        r_old = E
        E = np.where(try_parabola, RAT, E)
        accept = (
            try_parabola
            & (np.abs(p) < np.abs(0.5 * q * r_old))
            & (p > q * (A - X))
            & (p < q * (B - X))
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            parabolic = np.where(accept, (p + 0.0) / q, RAT)
        x_try = X + parabolic
        near_edge = accept & (((x_try - A) < T2) | ((B - x_try) < T2))
        si = np.sign(XM - X) + ((XM - X) == 0)
        RAT = np.where(near_edge, T1 * si, parabolic)
        golden = ~accept
        E = np.where(golden, np.where(X >= XM, A - X, B - X), E)
        RAT = np.where(golden, _GOLDEN * E, RAT)
        si = np.sign(RAT) + (RAT == 0)
        x = X + si * np.maximum(np.abs(RAT), T1)
        fu = func(x, act)
        better = fu <= FX
        # bracket and the three best points, as in scipy
        A = np.where(better, np.where(x >= X, X, A), np.where(x < X, x, A))
        B = np.where(better, np.where(x >= X, B, X), np.where(x < X, B, x))
        second = ~better & ((fu <= FNFC) | (NFC == X))
        third = ~better & ~second & ((fu <= FFULC) | (FULC == X) | (FULC == NFC))
        new_fulc = np.where(better | second, NFC, np.where(third, x, FULC))
        new_ffulc = np.where(better | second, FNFC, np.where(third, fu, FFULC))
        new_nfc = np.where(better, X, np.where(second, x, NFC))
        new_fnfc = np.where(better, FX, np.where(second, fu, FNFC))
        X, FX = np.where(better, x, X), np.where(better, fu, FX)
        a[act], b[act], xf[act], fx[act] = A, B, X, FX
        nfc[act], fnfc[act], fulc[act], ffulc[act] = new_nfc, new_fnfc, new_fulc, new_ffulc
        e[act], rat[act] = E, RAT
        xm[act] = 0.5 * (A + B)
        tol1[act] = _SQRT_EPS * np.abs(X) + xatol[act] / 3.0
        tol2[act] = 2.0 * tol1[act]
    return xf

"""The band-gap fit drawn on its spectrum: onset, E_bg with its interval, status."""

import numpy as np

from .._status import OK
from ._common import GAP, SUBTRACTED, get_ax, linear_limits, row, status_text

__all__ = ["onset_curve", "plot_band_gap"]


def _median_ok(values):
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else np.nan


def onset_curve(band_gap, index, energy):
    """The fitted ``A (E - E_bg)^b + pedestal`` of one spectrum on ``energy``.

    Evaluated with the median over the spectrum's ok replicas of each
    parameter (E_bg, b, A and the pedestal's two coefficients), without the
    energy resolution the fit may have convolved the onset with (``resolution``
    or ``zlp`` of :func:`~sklearn_zlp.physics.fit_band_gap`), so its foot is
    sharper than the fitted model's.

    Parameters
    ----------
    band_gap : BandGapResult
    index : int
        The spectrum.
    energy : array-like of shape (n_points,)
        Energies in eV, inside the fit window.

    Returns
    -------
    curve : ndarray of shape (n_points,)
        Counts; all NaN where the spectrum's status is not "ok".
    pedestal : ndarray of shape (n_points,)
        The pedestal alone.
    """
    energy = np.asarray(energy, dtype=float)
    if band_gap.status[index] != OK:
        nan = np.full(energy.shape, np.nan)
        return nan, nan
    good = band_gap.replica_status[:, index] == OK
    e_bg = float(band_gap.e_bg_median[index])
    b = _median_ok(band_gap.b[good, index])
    amplitude = _median_ok(band_gap.amplitude[good, index])
    c0 = _median_ok(band_gap.pedestal[good, index, 0])
    c1 = _median_ok(band_gap.pedestal[good, index, 1])
    e_min, e_max = band_gap.window[index]
    pedestal = c0 + c1 * (energy - e_min) / (e_max - e_min)
    onset = amplitude * np.clip(energy - e_bg, 0.0, None) ** b
    return pedestal + onset, pedestal


def plot_band_gap(
    energy, spectrum, band_gap, index=0, *, band=None, ax=None, xlim=None, title=None
):
    """A subtracted spectrum with its band-gap fit, E_bg, its interval and status.

    Where the spectrum's fit is ok, the onset ``A (E - E_bg)^b`` on its
    pedestal is drawn from E_bg to the end of the fit window (the pedestal
    alone, dashed, below E_bg), E_bg as a vertical line and its band shaded,
    and E_bg, b and ``p_indirect`` are written in the panel. Where it is not,
    no line is drawn: the panel says the status instead (the fit's window is
    still shaded when there is one).

    Parameters
    ----------
    energy : array-like of shape (n_channels,)
        Energy loss in eV.
    spectrum : array-like of shape (n_channels,) or (n_spectra, n_channels)
        The subtracted spectrum (its median over replicas) the gap was fitted
        on; with 2-D input, row ``index`` is drawn.
    band_gap : BandGapResult
        The fit, from :func:`~sklearn_zlp.physics.fit_band_gap`.
    index : int, default=0
        The spectrum of ``band_gap`` (and row of a 2-D ``spectrum``).
    band : array-like of shape (2, n_channels) or (2, n_spectra, n_channels), \
default=None
        The spectrum's band (lower, upper), drawn shaded.
    ax : matplotlib Axes, default=None
        Where to draw; None makes a new figure.
    xlim : tuple of float, default=None
        Energy range shown; None shows the fit window and 0.5 eV either side
        (0 to 6 eV without a window).
    title : str, default=None

    Returns
    -------
    ax : matplotlib Axes

    Notes
    -----
    The curve uses each parameter's median over the ok replicas and leaves out
    any energy resolution the fit convolved the onset with (see
    :func:`onset_curve`): it shows where the fitted gap lies, not the fit's
    residuals.
    """
    ax = get_ax(ax)
    energy = np.asarray(energy, dtype=float)
    spectrum = row(spectrum, index, 1)
    window = np.asarray(band_gap.window[index], dtype=float)
    has_window = bool(np.all(np.isfinite(window)))
    if xlim is None:
        xlim = (max(window[0] - 0.5, energy[0]), window[1] + 0.5) if has_window else (0, 6)
    shown = (energy >= xlim[0]) & (energy <= xlim[1])
    arrays = [spectrum[shown]]
    if band is not None:
        low, high = row(band, index, 2)
        ax.fill_between(energy, low, high, color=SUBTRACTED, alpha=0.25, lw=0, gid="band")
        arrays += [low[shown], high[shown]]
    ax.plot(energy, spectrum, color=SUBTRACTED, lw=0.9, label="subtracted (median)")
    if has_window:
        ax.axvspan(*window, color="0.5", alpha=0.08, lw=0, gid="window")
    status = str(band_gap.status[index])
    if status == OK:
        e_bg = float(band_gap.e_bg_median[index])
        lo, hi = (float(v) for v in band_gap.e_bg_band[:, index])
        ax.axvspan(lo, hi, color=GAP, alpha=0.3, lw=0, gid="e_bg_band", label="E_bg 68%")
        ax.axvline(e_bg, color=GAP, lw=1.2, gid="e_bg")
        above = np.linspace(e_bg, window[1], 200)
        curve, _ = onset_curve(band_gap, index, above)
        ax.plot(above, curve, color="k", lw=1.5, gid="onset", label="A (E - E_bg)^b fit")
        below = np.linspace(window[0], e_bg, 50)
        _, pedestal = onset_curve(band_gap, index, below)
        ax.plot(below, pedestal, color="k", lw=1.0, ls="--", gid="pedestal")
        arrays.append(curve)
        p = band_gap.p_indirect
        p_text = "" if p is None or not np.isfinite(p[index]) else f", p_ind {p[index]:.2f}"
        text = (
            f"E_bg = {e_bg:.2f} [{lo:.2f}, {hi:.2f}] eV\n"
            f"b = {band_gap.b_median[index]:.2f}{p_text}; status ok"
        )
        ax.text(
            0.03,
            0.97,
            text,
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            bbox={"fc": "white", "ec": "0.7", "alpha": 0.9},
            gid="status",
        )
        ax.legend(fontsize=7, loc="lower right")
    else:
        status_text(ax, f"no band gap: {status}")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set(xlim=xlim, ylim=linear_limits(*arrays), xlabel="Energy loss (eV)")
    ax.set_ylabel("Counts")
    if title:
        ax.set_title(title, fontsize=10)
    return ax

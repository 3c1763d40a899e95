"""Spectra with their ZLP model, subtracted spectra, and the regions of the fit."""

import numpy as np

from ._common import (
    DATA,
    SUBTRACTED,
    ZLP,
    get_ax,
    linear_limits,
    log_limits,
    mark_edges,
)

__all__ = ["plot_regions", "plot_subtracted", "plot_zlp_fit"]


def plot_zlp_fit(
    energy,
    spectrum,
    zlp_median,
    zlp_band=None,
    *,
    de0=None,
    de1=None,
    de2=None,
    xlim=(-1.0, 10.0),
    ax=None,
    title=None,
):
    """A spectrum on a log axis with the ZLP model's median and band.

    Parameters
    ----------
    energy : array-like of shape (n_channels,)
        Energy loss in eV.
    spectrum : array-like of shape (n_channels,)
        Recorded counts.
    zlp_median : array-like of shape (n_channels,)
        Median ZLP over the replicas (e.g. ``result.zlp_model_median[i]``, the
        model before matching, or ``result.zlp_median[i]``, matched).
    zlp_band : array-like of shape (2, n_channels), default=None
        Its band, (lower, upper); drawn shaded.
    de0, de1, de2 : float, default=None
        Matching start, dE_I and dE_II in eV, marked by vertical lines.
    xlim : tuple of float, default=(-1.0, 10.0)
        Energy range shown.
    ax : matplotlib Axes, default=None
        Where to draw; None makes a new figure.
    title : str, default=None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.plotting import plot_zlp_fit
    >>> E = np.linspace(-1, 5, 200)
    >>> zlp = 1e5 * np.exp(-0.5 * (E / 0.2) ** 2) + 1
    >>> ax = plot_zlp_fit(E, zlp + 50, zlp, de1=1.0, de2=3.0)
    >>> ax.get_yscale()
    'log'
    >>> import matplotlib.pyplot as plt; plt.close(ax.figure)
    """
    ax = get_ax(ax)
    energy = np.asarray(energy, dtype=float)
    spectrum = np.asarray(spectrum, dtype=float)
    ax.plot(energy, np.clip(spectrum, 1.0, None), color=DATA, lw=0.8, label="data")
    if zlp_band is not None:
        low, high = np.asarray(zlp_band, dtype=float)
        ax.fill_between(
            energy, low, high, color=ZLP, alpha=0.35, lw=0, label="ZLP 68% band", gid="band"
        )
    ax.plot(energy, zlp_median, color=ZLP, lw=1.0, label="ZLP median", gid="zlp_median")
    ax.set_yscale("log")
    shown = (energy >= xlim[0]) & (energy <= xlim[1])
    ax.set(xlim=xlim, ylim=log_limits(spectrum[shown]), xlabel="Energy loss (eV)")
    ax.set_ylabel("Counts (log)")
    mark_edges(ax, de0, de1, de2)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_subtracted(
    energy,
    subtracted_median,
    subtracted_band=None,
    *,
    de0=None,
    de1=None,
    de2=None,
    xlim=(0.0, 6.0),
    ax=None,
    title=None,
):
    """A ZLP-subtracted spectrum, its median over the replicas and its band.

    The vertical range fits the band above ``max(dE_0, xlim[0])``: below dE_0
    the subtracted spectrum is zero by construction and the ZLP's residue
    would hide the signal.

    Parameters
    ----------
    energy : array-like of shape (n_channels,)
        Energy loss in eV.
    subtracted_median : array-like of shape (n_channels,)
        Median subtracted spectrum in counts (``result.subtracted_median[i]``).
    subtracted_band : array-like of shape (2, n_channels), default=None
        Its band, (lower, upper) (``result.subtracted_band[:, i]``).
    de0, de1, de2 : float, default=None
        Matching start, dE_I and dE_II in eV, marked by vertical lines.
    xlim : tuple of float, default=(0.0, 6.0)
        Energy range shown.
    ax : matplotlib Axes, default=None
        Where to draw; None makes a new figure.
    title : str, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = get_ax(ax)
    energy = np.asarray(energy, dtype=float)
    median = np.asarray(subtracted_median, dtype=float)
    start = xlim[0] if de0 is None or not np.isfinite(de0) else max(xlim[0], de0)
    shown = (energy >= start) & (energy <= xlim[1])
    arrays = [median[shown]]
    if subtracted_band is not None:
        low, high = np.asarray(subtracted_band, dtype=float)
        ax.fill_between(
            energy,
            low,
            high,
            color=SUBTRACTED,
            alpha=0.3,
            lw=0,
            label="68% band",
            gid="band",
        )
        arrays += [low[shown], high[shown]]
    ax.plot(energy, median, color=SUBTRACTED, lw=1.0, label="median", gid="median")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set(xlim=xlim, ylim=linear_limits(*arrays), xlabel="Energy loss (eV)")
    ax.set_ylabel("Counts")
    mark_edges(ax, de0, de1, de2)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_regions(de0, de1, de2, *, names=None, energy_range=None, status=None, ax=None):
    """Each spectrum's training regions as a bar: region I, II and III.

    Region I (``|E| < dE_I``) is where the networks learn from the data,
    region II (dE_I to dE_II) is masked (the inelastic signal starts there and
    only a monotonic penalty applies), region III (from dE_II) holds the ZLP
    tail's pseudo-data; subtraction matches data and model from dE_0 to dE_I.

    Parameters
    ----------
    de0, de1, de2 : array-like of shape (n_spectra,)
        Matching start, dE_I and dE_II of every spectrum in eV (NaN: shown as
        missing, with the spectrum's status).
    names : list of str, default=None
        Spectrum names (default ``spectrum_0``, ...).
    energy_range : tuple of float, default=None
        The energy axis' range (lowest, highest) in eV; region III is drawn up
        to its end (None: to ``2 * max(dE_II)``).
    status : array-like of str, default=None
        Each spectrum's status, written beside bars that are not "ok".
    ax : matplotlib Axes, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    ax : matplotlib Axes
    """
    de0, de1, de2 = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (de0, de1, de2))
    n = de1.size
    names = [f"spectrum_{i}" for i in range(n)] if names is None else list(names)
    ax = get_ax(ax, figsize=(7.0, 0.9 + 0.3 * n))
    finite = np.concatenate([de1[np.isfinite(de1)], de2[np.isfinite(de2)]])
    top = finite.max() if finite.size else 1.0
    axis_low, axis_high = (-top, 2 * top) if energy_range is None else energy_range
    # region III runs to the axis' end, often far beyond dE_II: show its start
    low, high = max(axis_low, -1.5 * top), min(axis_high, 1.6 * top)
    y = np.arange(n)
    pieces = (
        ("region I", -de1, 2 * de1, ZLP),
        ("region II (masked)", de1, de2 - de1, "0.75"),
        ("region III (pseudo-data)", de2, axis_high - de2, "tab:orange"),
    )
    for label, left, width, colour in pieces:
        ax.barh(y, width, left=left, height=0.6, color=colour, alpha=0.6, label=label)
    ax.plot(de0, y, "|", color="k", ms=12, mew=1.5, label="dE_0 (matching start)")
    at_right = ax.get_yaxis_transform()  # x in axes fraction, y in data
    for i in range(n):
        if not np.isfinite(de1[i]):
            ax.text(0.0, i, "no region I", va="center", ha="center", fontsize=8, color="r")
        elif status is not None and status[i] != "ok":
            ax.text(
                0.99,
                i,
                str(status[i]),
                transform=at_right,
                ha="right",
                va="center",
                fontsize=7,
                color="tab:red",
                bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1},
            )
    ax.set_yticks(y, names, fontsize=8 if n < 30 else 5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set(
        xlim=(low, high),
        xlabel=f"Energy loss (eV); region III continues to {axis_high:.3g} eV",
    )
    ax.legend(
        fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False
    )
    ax.set_title("Training and matching regions per spectrum", fontsize=10, pad=22)
    return ax

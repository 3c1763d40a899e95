"""How well the ensemble trained and fits: training curves, chi^2, statuses, maps."""

import numpy as np

from .._status import OK
from ._common import FLAGGED, OK_COLOUR, ZLP, get_ax, import_pyplot

__all__ = ["plot_maps", "plot_quality", "plot_training_curves"]

# region_i_chi2 above this flags a spectrum poor_fit_in_region_i
# (sklearn_zlp/subtraction/_checks.py)
_POOR_FIT_CHI2 = 4.0
# spectra named (and their statuses written) on the quality figure's axis
_MAX_LABELLED = 60


def _regressor(estimator):
    """The fitted ensemble of a ZLPSubtractor, or the ensemble itself."""
    regressor = getattr(estimator, "regressor_", estimator)
    if not hasattr(regressor, "replica_status_"):
        raise TypeError(
            f"expected a fitted ZLPSubtractor or ZLPEnsembleRegressor, got "
            f"{type(estimator).__name__}; fit it first."
        )
    return regressor


def plot_training_curves(estimator, *, ax=None):
    """Validation chi^2 per epoch of the ensemble, and where each replica stopped.

    Lines: each chunk's mean validation (solid) and training (dotted) chi^2
    per point over its replicas, epoch by epoch (skorch's ``history_`` of the
    first round of training; restarts are not drawn). Dots: each replica's
    kept weights, at the epoch look-back stopping chose, with the validation
    chi^2 there (``replica_best_epoch_``, ``replica_valid_chi2_``); crosses:
    replicas that were dropped (``replica_status_``), at their last fit.
    Networks loaded from a checkpoint carry no history: only their dots.

    Parameters
    ----------
    estimator : ZLPSubtractor or ZLPEnsembleRegressor
        Fitted.
    ax : matplotlib Axes, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    ax : matplotlib Axes
    """
    regressor = _regressor(estimator)
    ax = get_ax(ax)
    per_chunk = regressor.replicas_per_chunk
    status = np.asarray(regressor.replica_status_, dtype=str)
    drawn = 0
    for c, net in enumerate(regressor.estimators_):
        history = getattr(net, "history_", None)
        if history is None or len(history) == 0:
            continue
        n = min(per_chunk, status.size - c * per_chunk)
        epochs = np.asarray(history[:, "epoch"])
        label = "chunk mean" if drawn == 0 else None
        if "valid_loss" in history[-1]:
            valid = np.asarray(history[:, "valid_loss"], dtype=float) / n
            ax.plot(
                epochs,
                valid,
                color=ZLP,
                lw=1.0,
                label=f"{label}, validation" if label else None,
                gid="valid_curve",
            )
        train = np.asarray(history[:, "train_loss"], dtype=float) / n
        ax.plot(
            epochs,
            train,
            color=ZLP,
            lw=0.8,
            ls=":",
            label=f"{label}, training" if label else None,
            gid="train_curve",
        )
        drawn += 1
    kept = np.asarray(regressor.kept_, dtype=bool)
    best = np.asarray(regressor.replica_best_epoch_, dtype=float)
    chi2 = np.asarray(regressor.replica_valid_chi2_, dtype=float)
    ax.plot(
        best[kept],
        chi2[kept],
        "o",
        ms=3,
        color="k",
        label="replica kept (best epoch)",
        gid="kept",
    )
    if (~kept).any():
        ax.plot(
            best[~kept],
            chi2[~kept],
            "x",
            ms=5,
            color=FLAGGED,
            label="replica dropped",
            gid="dropped",
        )
    if drawn == 0:
        ax.text(
            0.5,
            0.95,
            "no training history (networks loaded from a checkpoint)",
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=8,
        )
    ax.set_yscale("log")
    ax.set(xlabel="Epoch", ylabel="chi^2 per point")
    ax.set_title(
        f"Training: {regressor.n_replicas_} of {status.size} replicas kept", fontsize=10
    )
    ax.legend(fontsize=7)
    return ax


def plot_quality(result, subtractor=None, *, names=None, fig=None):
    """Quality figures: region-I chi^2 and status per spectrum, training chi^2.

    Left: each subtracted spectrum's ``region_i_chi2`` (the median model's
    mean squared standardised residual where data and model are matched; above
    4 the spectrum is ``poor_fit_in_region_i``), coloured by its status, with
    every status other than "ok" written on its bar. Right (with
    ``subtractor``): each training spectrum's chi^2 per point of every kept
    replica (dots), of the median model (bar) and held out (diamond: each
    point predicted by the replicas that did not train on it).

    Parameters
    ----------
    result : ZLPSubtractionResult
    subtractor : ZLPSubtractor, default=None
        The fitted subtractor, for the right panel.
    names : list of str, default=None
        Names of the result's spectra.
    fig : matplotlib Figure, default=None
        Where to draw; None makes a new pyplot figure.

    Returns
    -------
    fig : matplotlib Figure
    """
    n_panels = 1 if subtractor is None else 2
    if fig is None:
        plt = import_pyplot()
        fig = plt.figure(figsize=(6 * n_panels, 4), layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    status = np.asarray(result.status, dtype=str)
    n = status.size
    names = [f"spectrum_{i}" for i in range(n)] if names is None else list(names)
    chi2 = np.asarray(
        result.diagnostics.get("region_i_chi2", np.full(n, np.nan)), dtype=float
    )
    ax = axes[0]
    x = np.arange(n)
    colours = [OK_COLOUR if s == OK else FLAGGED for s in status]
    heights = np.where(np.isfinite(chi2), chi2, 0.0)
    ax.bar(x, heights, color=colours, alpha=0.7, gid="region_i_chi2")
    ax.axhline(_POOR_FIT_CHI2, color="k", ls="--", lw=0.8)
    ax.text(
        0.0,
        _POOR_FIT_CHI2,
        " poor-fit threshold",
        fontsize=7,
        va="bottom",
        transform=ax.get_yaxis_transform(),
    )
    ax.set_yscale("log")
    low, high = np.nanmin(np.r_[heights[heights > 0], 1.0]), np.nanmax(np.r_[heights, 10.0])
    ax.set_ylim(low / 3, high * 30)
    if n <= _MAX_LABELLED:
        for i, s in enumerate(status):
            if s != OK:
                ax.text(
                    i,
                    max(heights[i], low),
                    f" {s}",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color=FLAGGED,
                )
        ax.set_xticks(
            x,
            names,
            rotation=90 if n > 6 else 30,
            fontsize=7,
            ha="right" if n <= 6 else "center",
        )
    else:  # too many to name: the colours say which are flagged
        ax.set_xlabel("spectrum index")
    ax.set_ylabel("region-I chi^2 (median model)")
    n_ok = int((status == OK).sum())
    ax.set_title(f"Subtraction: {n_ok} of {n} spectra ok", fontsize=10)
    if subtractor is not None:
        ax = axes[1]
        training = np.asarray(subtractor.training_chi2_, dtype=float)  # (replicas, spectra)
        m = training.shape[1]
        xs = np.arange(m)
        rng = np.random.default_rng(0)  # jitter only, fixed so the figure is reproducible
        for j in range(m):
            jitter = rng.uniform(-0.2, 0.2, training.shape[0])
            ax.plot(
                j + jitter,
                training[:, j],
                ".",
                ms=3,
                color="0.4",
                label="replicas" if j == 0 else None,
            )
        ax.bar(xs, subtractor.spectrum_chi2_, color=ZLP, alpha=0.35, label="median model")
        held = np.asarray(subtractor.heldout_chi2_, dtype=float)
        if np.isfinite(held).any():
            ax.plot(xs, held, "D", ms=5, color="tab:purple", label="held out")
        ax.axhline(1.0, color="k", ls=":", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(xs, [f"{j}" for j in xs], fontsize=7)
        ax.set(xlabel="training spectrum (or cluster)", ylabel="chi^2 per point")
        ax.set_title("Training fit (1 is a fit to the noise)", fontsize=10)
        ax.legend(fontsize=7)
    return fig


def plot_maps(maps, fields=("t_over_lambda", "e_bg", "b", "cluster"), *, figsize=None):
    """The maps of a spectrum image with the width of their bands.

    :meth:`SpectralMaps.plot <sklearn_zlp.maps.SpectralMaps.plot>` on computed
    maps: pixels whose status is not "ok" are grey.

    Parameters
    ----------
    maps : SpectralMaps
        From :func:`~sklearn_zlp.maps.spectral_maps` (lazy maps are computed).
    fields : tuple of str, default=("t_over_lambda", "e_bg", "b", "cluster")
    figsize : tuple of float, default=None

    Returns
    -------
    fig : matplotlib Figure
    """
    import_pyplot()
    return maps.compute().plot(fields, figsize=figsize)

"""What every plotting function shares: the matplotlib import and the Axes to draw on."""

import importlib

import numpy as np

_PLOT_HINT = 'pip install "sklearn-zlp[plot]"'

# one colour per quantity, the same in every figure of the package
DATA = "k"
ZLP = "tab:blue"
SUBTRACTED = "tab:red"
GAP = "tab:orange"
FLAGGED = "tab:red"
OK_COLOUR = "tab:green"


def import_pyplot():
    """``matplotlib.pyplot``, or an ImportError that says what to install."""
    try:
        return importlib.import_module("matplotlib.pyplot")
    except ImportError as exc:
        raise ImportError(
            "Plotting needs matplotlib, which is not installed; install it with: "
            f"{_PLOT_HINT}"
        ) from exc


def require_matplotlib():
    """Raise the ImportError of :func:`import_pyplot` now if matplotlib is missing."""
    try:
        importlib.import_module("matplotlib")
    except ImportError as exc:
        raise ImportError(
            "Plotting needs matplotlib, which is not installed; install it with: "
            f"{_PLOT_HINT}"
        ) from exc


def get_ax(ax, figsize=(6.0, 4.0)):
    """``ax``, or the Axes of a new pyplot figure when it is None."""
    if ax is not None:
        return ax
    plt = import_pyplot()
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def row(values, index, ndim):
    """Row ``index`` of ``values`` when it has one axis more than ``ndim``."""
    values = np.asarray(values, dtype=float)
    if values.ndim == ndim + 1:
        return values[index] if ndim == 1 else values[:, index]
    return values


def log_limits(values, top_factor=2.0):
    """Limits of a log axis that show ``values`` (positive finite ones)."""
    values = np.asarray(values, dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return 0.5, 10.0
    return max(np.percentile(positive, 1) / 2, 0.5), positive.max() * top_factor


def linear_limits(*arrays, margin=0.1):
    """Limits of a linear axis that show every finite value of ``arrays`` and zero."""
    finite = np.concatenate([np.ravel(a)[np.isfinite(np.ravel(a))] for a in arrays])
    if finite.size == 0:
        return -1.0, 1.0
    low, high = min(finite.min(), 0.0), max(finite.max(), 0.0)
    span = (high - low) or 1.0
    return low - margin * span, high + margin * span


def mark_edges(ax, de0=None, de1=None, de2=None, *, labels=True):
    """Dashed lines at dE_0 (-.), dE_I (--) and dE_II (:), labelled at the top."""
    # dE_0 sits just below dE_I: its label goes lower so that the two stay legible
    for value, style, name, height in (
        (de0, "-.", "dE_0", 0.88),
        (de1, "--", "dE_I", 0.98),
        (de2, ":", "dE_II", 0.98),
    ):
        if value is None or not np.isfinite(value):
            continue
        ax.axvline(value, color="0.4", ls=style, lw=0.8, gid=name)
        if labels:
            ax.text(
                value,
                height,
                f" {name}",
                transform=ax.get_xaxis_transform(),
                va="top",
                fontsize=7,
                color="0.3",
                clip_on=True,  # an edge beyond the x range keeps its label out too
            )


def status_text(ax, message, *, y=0.5, colour=FLAGGED, size=9):
    """A boxed status message in the middle of ``ax``."""
    return ax.text(
        0.5,
        y,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=size,
        color=colour,
        wrap=True,
        bbox={"boxstyle": "round", "fc": "white", "ec": colour, "alpha": 0.9},
        gid="status",
    )

"""The report's figures: grids of the plotting functions' panels, as PNG bytes."""

import io

import numpy as np

from ..plotting import (
    plot_band_gap,
    plot_maps,
    plot_quality,
    plot_regions,
    plot_subtracted,
    plot_training_curves,
    plot_zlp_fit,
)

__all__ = ["report_figures"]

# Spectra drawn one panel each; the tables and arrays hold every spectrum.
MAX_PANELS = 12
_DPI = 100


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _grid(n, title):
    from matplotlib.figure import Figure

    cols = min(n, 3)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.6 * cols, 3.3 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=12)
    return fig, axes[:n]


def _shown(n):
    shown = min(n, MAX_PANELS)
    note = (
        "" if shown == n else f" (first {shown} of {n} spectra; every one is in the tables)"
    )
    return shown, note


def report_figures(subtractor, result, names, band_gap, maps):
    """Every figure of the report as ``{name: (png bytes, caption)}``."""
    from matplotlib.figure import Figure

    energy = result.energy
    n = result.spectra.shape[0]
    shown, note = _shown(n)
    out = {}
    level = f"{result.confidence_level:.0%}"

    fig, axes = _grid(shown, "Spectra and the ZLP model (log axis)")
    for i, ax in enumerate(axes):
        plot_zlp_fit(
            energy,
            result.spectra[i],
            result.zlp_model_median[i],
            result.zlp_model_band[:, i],
            de0=result.de0[i],
            de1=result.de1[i],
            de2=result.de2[i],
            ax=ax,
            title=f"{names[i]} ({result.status[i]})",
        )
    axes[0].legend(fontsize=7, loc="upper right")
    out["zlp_fit"] = (
        _png(fig),
        f"Recorded spectra (black) and the ZLP model before matching: median (line) "
        f"and {level} band (shaded) over the replicas; dE_0 (-.), dE_I (--) and "
        f"dE_II (:) marked{note}.",
    )

    fig, axes = _grid(shown, f"ZLP-subtracted spectra with {level} bands")
    for i, ax in enumerate(axes):
        plot_subtracted(
            energy,
            result.subtracted_median[i],
            result.subtracted_band[:, i],
            de0=result.de0[i],
            de1=result.de1[i],
            de2=result.de2[i],
            ax=ax,
            title=f"{names[i]} ({result.status[i]})",
        )
    axes[0].legend(fontsize=7, loc="upper left")
    out["subtracted"] = (
        _png(fig),
        f"Subtracted spectra: median (line) and {level} band (shaded) over the "
        f"replicas{note}.",
    )

    if band_gap is not None:
        fig, axes = _grid(shown, "Band-gap fits A (E - E_bg)^b on the subtracted spectra")
        for i, ax in enumerate(axes):
            plot_band_gap(
                energy,
                result.subtracted_median,
                band_gap,
                i,
                band=result.subtracted_band,
                ax=ax,
                title=names[i],
            )
        out["band_gap"] = (
            _png(fig),
            "Band-gap fits: the onset A (E - E_bg)^b on its pedestal with the medians "
            "of the ok replicas' parameters (black; dashed: the pedestal below E_bg), "
            "E_bg (orange line) and its 68% band (orange shading), the fit window "
            "(grey shading). A fit that failed draws no line; its panel says its "
            f"status{note}.",
        )

    fig = Figure(figsize=(9, 1.2 + 0.32 * min(n, 60)), layout="constrained")
    ax = fig.subplots()
    keep = slice(0, min(n, 60))
    plot_regions(
        result.de0[keep],
        result.de1[keep],
        result.de2[keep],
        names=names[keep],
        energy_range=(float(energy[0]), float(energy[-1])),
        status=np.asarray(result.status, dtype=str)[keep],
        ax=ax,
    )
    more = "" if n <= 60 else f" (first 60 of {n} spectra)"
    out["regions"] = (
        _png(fig),
        "Regions of every spectrum: region I (|E| < dE_I, trained on the data), "
        "region II (masked), region III (the ZLP tail's pseudo-data) and the start "
        f"of the matching interval dE_0{more}.",
    )

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    plot_training_curves(subtractor, ax=fig.subplots())
    out["training_curves"] = (
        _png(fig),
        "Training: each chunk's mean chi^2 per point over its replicas, epoch by "
        "epoch (validation solid, training dotted), and the epoch and validation "
        "chi^2 at which every replica's weights were kept.",
    )

    fig = Figure(figsize=(12, 4.4), layout="constrained")
    plot_quality(result, subtractor, names=names, fig=fig)
    out["quality"] = (
        _png(fig),
        "Quality: region-I chi^2 of every subtracted spectrum coloured by its "
        "status (green ok, red flagged, the status written on the bar); chi^2 per "
        "point of every replica, the median model and the held-out predictions on "
        "each training spectrum.",
    )

    if maps is not None:
        import matplotlib.pyplot as plt

        fig = plot_maps(maps)
        try:
            out["maps"] = (
                _png(fig),
                "Maps of the spectrum image: t/lambda, E_bg, b and the thickness "
                f"clusters, with the width of their {maps.confidence_level:.0%} "
                "bands below; pixels whose status is not ok are grey.",
            )
        finally:
            plt.close(fig)
    return out

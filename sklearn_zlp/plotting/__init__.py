"""The matplotlib figures behind the report, each usable on its own.

Every function draws on a given matplotlib ``ax`` (or ``fig``) or makes a new
figure, and returns it. matplotlib is optional: ``pip install
"sklearn-zlp[plot]"``.
"""

from ._bandgap import onset_curve, plot_band_gap
from ._quality import plot_maps, plot_quality, plot_training_curves
from ._spectra import plot_regions, plot_subtracted, plot_zlp_fit

__all__ = [
    "onset_curve",
    "plot_band_gap",
    "plot_maps",
    "plot_quality",
    "plot_regions",
    "plot_subtracted",
    "plot_training_curves",
    "plot_zlp_fit",
]

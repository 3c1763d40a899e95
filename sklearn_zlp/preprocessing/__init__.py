"""Before the model: align spectra, find the training regions, mask or crop channels.

The first steps of the pipeline (spectra -> aligned -> regions): no torch here.
"""

from ._align import ZeroLossAligner, find_zlp_position, zlp_fwhm
from ._clusters import ThicknessClusterer, log_total
from ._edges import estimate_de1, estimate_de2
from ._mask import ZLPRegionMask
from ._window import EnergyWindow

__all__ = [
    "EnergyWindow",
    "ThicknessClusterer",
    "ZLPRegionMask",
    "ZeroLossAligner",
    "estimate_de1",
    "estimate_de2",
    "find_zlp_position",
    "log_total",
    "zlp_fwhm",
]

"""sklearn-zlp: zero-loss peak subtraction for EEL spectra with replica ensembles.

Removes the zero-loss peak (ZLP) from electron energy-loss spectra with an
ensemble of neural networks trained on Monte Carlo replicas, following
Roest et al., Ultramicroscopy 222 (2021) 113202, as scikit-learn estimators.
"""

from . import datasets, io, physics
from ._align import ZeroLossAligner
from ._ensemble import ZLPEnsembleRegressor
from ._noise import estimate_read_noise
from ._regions import EnergyWindow, ZLPRegionMask
from ._subtract import ZLPSubtractionResult, ZLPSubtractor

__version__ = "0.1.0.dev0"

__all__ = [
    "EnergyWindow",
    "ZLPEnsembleRegressor",
    "ZLPRegionMask",
    "ZLPSubtractionResult",
    "ZLPSubtractor",
    "ZeroLossAligner",
    "__version__",
    "datasets",
    "estimate_read_noise",
    "io",
    "physics",
]

"""sklearn-zlp: zero-loss peak subtraction for EEL spectra with replica ensembles.

Removes the zero-loss peak (ZLP) from electron energy-loss spectra with an
ensemble of neural networks trained on Monte Carlo replicas, following
Roest et al., Ultramicroscopy 222 (2021) 113202, as scikit-learn estimators.

The subpackages follow the data's way through the package::

    preprocessing  align spectra, find the training regions (dE_I, dE_II), crop
    nn             torch modules and the compiled training step (no sklearn)
    ensemble       ZLPEnsembleRegressor: replicas, training, predictions
    subtraction    ZLPSubtractor: point table, matching, result
    physics        band gap, thickness, Fourier-log, Kramers-Kronig
    maps           spectrum images: per-pixel t/lambda, E_bg and b maps
    io             files in and out, HyperSpy bridge
    hyperspy       remove_zlp: a HyperSpy signal in, HyperSpy signals out
    datasets       the bundled WS2 spectra and a seeded synthetic generator
    plotting       the report's matplotlib figures, each usable on its own
    report         write_report: HTML page, PNGs, CSV, npz and JSON of a job

Names are imported on first use, so ``import sklearn_zlp`` does not import torch.
"""

import importlib

__version__ = "0.1.0.dev0"

# public name -> submodule that defines it
_NAMES = {
    "ZeroLossAligner": "preprocessing",
    "ZLPRegionMask": "preprocessing",
    "EnergyWindow": "preprocessing",
    "ThicknessClusterer": "preprocessing",
    "ZLPEnsembleRegressor": "ensemble",
    "ZLPSubtractor": "subtraction",
    "ZLPSubtractionResult": "subtraction",
    "estimate_read_noise": "_noise",
    "describe_status": "_status",
    "load_model": "io",
    "statuses": "_status",
}
_SUBMODULES = (
    "datasets",
    "ensemble",
    "hyperspy",
    "io",
    "maps",
    "nn",
    "physics",
    "plotting",
    "preprocessing",
    "report",
    "subtraction",
)

__all__ = sorted([*_NAMES, *_SUBMODULES, "__version__"])


def __getattr__(name):
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

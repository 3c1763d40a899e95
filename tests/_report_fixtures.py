"""A tiny fitted subtractor on the WS2 spectra and hand-made band-gap results.

Shared by tests/test_plotting.py and tests/test_report.py (imported, not a
conftest fixture, so that other test modules do not pay for it).
"""

import numpy as np

from sklearn_zlp import ZeroLossAligner, ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp.datasets import load_ws2
from sklearn_zlp.physics import BandGapResult


def tiny_fit():
    """(subtractor, result, energy, names) of 4 replicas x 200 epochs on WS2 (~1 s)."""
    ws2 = load_ws2()
    aligner = ZeroLossAligner(energy_axis=ws2.energy).fit(ws2.sample)
    sample = aligner.transform(ws2.sample)
    energy = aligner.energy_axis_
    vacuum = ZeroLossAligner(energy_axis=ws2.energy).fit(ws2.vacuum).transform(ws2.vacuum)
    regressor = ZLPEnsembleRegressor(n_replicas=4, max_epochs=200, lr=0.1, random_state=0)
    subtractor = ZLPSubtractor(
        energy_axis=energy,
        regressor=regressor,
        regions=ZLPRegionMask(vacuum=vacuum),
        random_state=0,
    ).fit(sample)
    result = subtractor.subtract(sample, keep_replicas=True)
    return subtractor, result, energy, list(ws2.names["sample"])


def hand_band_gap(n_spectra, failed=(1,), n_replicas=5, seed=0):
    """A BandGapResult whose spectra in ``failed`` failed (NaN, status fit_failed).

    The others have E_bg near 1.6 eV, b near 1.5, A = 400 counts and a
    constant pedestal of 20 counts, in the window (1.0, 3.0) eV.
    """
    rng = np.random.default_rng(seed)
    shape = (n_replicas, n_spectra)
    e_bg = 1.6 + 0.05 * rng.standard_normal(shape)
    e_bg[:, list(failed)] = np.nan
    pedestal = np.zeros(shape + (2,))
    pedestal[..., 0] = 20.0
    return BandGapResult(
        e_bg=e_bg,
        b=1.5 + 0.1 * rng.standard_normal(shape),
        amplitude=np.full(shape, 400.0),
        chi2=np.ones(shape),
        dof=np.full(n_spectra, 50),
        chi2_direct=np.full(shape, 2.0),
        chi2_indirect=np.ones(shape),
        window=np.tile([1.0, 3.0], (n_spectra, 1)),
        pedestal=pedestal,
        background="constant",
    )

"""The band-gap fit weighs a subtracted spectrum by the noise of the counts it was recorded with.

A subtracted spectrum keeps the counting noise of the ZLP counts it lost. Weighting
its channels by the subtracted counts alone makes the onset's foot, where the ZLP's
tail still holds most of the counts, look many times more precise than it is: the
fit then follows the noise there, E_bg comes out high and spectra get flagged.
Here the true ZLP is subtracted (an oracle subtraction), so that only the band-gap
fit's own noise model is tested.
"""

import numpy as np
import pytest

from sklearn_zlp._noise import counting_variance
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.physics import fit_band_gap
from sklearn_zlp.subtraction._result import ZLPSubtractionResult

E_BG = 1.6


def _oracle_result(seed, n_replicas=30, total_counts=1e6):
    """A subtraction result of the true ZLP, replicas with their own counting noise."""
    d = make_synthetic_eels(
        6,
        fwhm=0.3,
        t_over_lambda=(0.3, 0.7),
        e_bg=E_BG,
        b=1.5,
        total_counts=total_counts,
        read_noise=0.0,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(counting_variance(d.spectra))
    draws = d.spectra[None] + sigma[None] * rng.normal(size=(n_replicas,) + d.spectra.shape)
    zlp = np.broadcast_to(d.zlp, draws.shape)
    n = d.spectra.shape[0]
    result = ZLPSubtractionResult(
        energy=d.energy,
        spectra=d.spectra,
        de0=np.full(n, -1.0),
        de1=np.full(n, 1.0),
        de2=np.full(n, 3.0),
        n_replicas=n_replicas,
        rows=slice(None),
        replicas={"zlp_model": zlp, "zlp": zlp, "subtracted": draws - zlp},
    )
    return d, result


def test_result_input_weighs_by_the_recorded_counts():
    d, result = _oracle_result(7, n_replicas=8)
    by_result = fit_band_gap(d.energy, result, resolution=0.3)
    sigma = np.sqrt(counting_variance(d.spectra))
    by_hand = fit_band_gap(
        d.energy, result.subtracted, replica_axis=0, sigma=sigma, resolution=0.3
    )
    np.testing.assert_array_equal(by_result.e_bg, by_hand.e_bg)
    np.testing.assert_array_equal(by_result.status, by_hand.status)
    np.testing.assert_array_equal(by_result.window, by_hand.window)


@pytest.mark.slow
def test_low_count_gap_is_not_flagged_with_the_recorded_noise():
    # Measured (seeds 100-107, 100 replicas): weighted by the recorded counts 2 of
    # 48 spectra are flagged and a fit of the data alone is +0.01 eV off in median;
    # weighted by the subtracted counts (before) 22 of 48 flagged, +0.11 eV (the
    # spread, +-0.2 eV, makes a median of 18 too loose to test here). The
    # replicas' median stays ~0.1 eV high either way: each replica adds a second
    # draw of the noise, and the fit of a noisier onset leans to a higher, steeper
    # one (see benchmarks/README.md).
    flagged = 0
    for seed in (100, 101, 102):
        d, result = _oracle_result(seed)
        res = fit_band_gap(d.energy, result, resolution=0.3)
        ok = res.status == "ok"
        flagged += int((~ok).sum())
    assert flagged <= 4, flagged

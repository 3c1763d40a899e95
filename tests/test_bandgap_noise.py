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
from sklearn import config_context
from sklearn.pipeline import make_pipeline

from sklearn_zlp._noise import counting_variance
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.physics import BandGapFitter, fit_band_gap
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


# -- BandGapFitter: arrays of subtracted spectra take the recorded noise as sigma --


def _oracle_arrays(seed):
    d, _ = _oracle_result(seed, n_replicas=2)
    return d, d.spectra - d.zlp, np.sqrt(counting_variance(d.spectra))


def test_fitter_takes_sigma_and_matches_fit_band_gap():
    d, X, sigma = _oracle_arrays(7)
    fitter = BandGapFitter(energy_axis=d.energy, resolution=0.3).fit(X, sigma=sigma)
    got = fitter.transform_result(X, sigma=sigma)
    want = fit_band_gap(
        d.energy, X, sigma=sigma, window=tuple(fitter.window_), resolution=0.3
    )
    np.testing.assert_array_equal(got.e_bg, want.e_bg)
    np.testing.assert_array_equal(got.status, want.status)
    # the weights change the fit: the default weighs by X's own counts
    default = fitter.transform_result(X)
    assert not np.array_equal(default.e_bg, got.e_bg, equal_nan=True)
    np.testing.assert_array_equal(
        fitter.transform(X, sigma=sigma)[:, 0], np.asarray(got.e_bg[0])
    )
    np.testing.assert_array_equal(
        BandGapFitter(energy_axis=d.energy, resolution=0.3).fit_transform(X, sigma=sigma),
        fitter.transform(X, sigma=sigma),
    )


def test_fitter_sigma_is_routed_through_a_pipeline():
    d, X, sigma = _oracle_arrays(8)
    direct = BandGapFitter(energy_axis=d.energy, window=(1.0, 3.0)).fit(X)
    with config_context(enable_metadata_routing=True):
        fitter = (
            BandGapFitter(energy_axis=d.energy, window=(1.0, 3.0))
            .set_fit_request(sigma=True)
            .set_transform_request(sigma=True)
        )
        pipe = make_pipeline(fitter).fit(X, sigma=sigma)
        np.testing.assert_array_equal(
            pipe.transform(X, sigma=sigma), direct.transform(X, sigma=sigma)
        )


@pytest.mark.parametrize(
    "sigma, match",
    [(-1.0, "finite and positive"), (np.ones(7), "does not broadcast")],
)
def test_fitter_refuses_a_bad_sigma(sigma, match):
    d, X, _ = _oracle_arrays(9)
    fitter = BandGapFitter(energy_axis=d.energy, window=(1.0, 3.0)).fit(X)
    with pytest.raises(ValueError, match=match):
        fitter.transform(X, sigma=sigma)


def test_fitter_with_the_recorded_noise_flags_few_low_count_gaps():
    # Measured (seeds 100-107, 48 spectra, true ZLP subtracted, 1e6 counts,
    # automatic window, resolution 0.3 eV): with the recorded counts' noise 45 ok
    # and a median error of +0.02 eV; weighted by the subtracted counts (the
    # default for arrays) 27 ok, +0.06 eV. Seeds 100-102: 16 and 9 of 18.
    ok = {True: 0, False: 0}
    for seed in (100, 101, 102):
        d, X, sigma = _oracle_arrays(seed)
        for given in (True, False):
            s = sigma if given else None
            fitter = BandGapFitter(energy_axis=d.energy, resolution=0.3)
            res = fitter.fit(X, sigma=s).transform_result(X, sigma=s)
            ok[given] += int((res.status == "ok").sum())
    assert ok[True] >= 15, ok
    assert ok[True] > ok[False], ok

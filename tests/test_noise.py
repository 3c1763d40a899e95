"""Read noise measured from the spectra, and ZLPSubtractor's read_noise="auto"."""

import numpy as np
import pytest

from sklearn_zlp import (
    ZeroLossAligner,
    ZLPEnsembleRegressor,
    ZLPRegionMask,
    ZLPSubtractor,
    estimate_read_noise,
)
from sklearn_zlp.datasets import load_ws2, make_synthetic_eels


@pytest.mark.parametrize(
    "true, tolerance", [(0.0, 1.0), (5.0, 1.0), (20.0, 1.5), (40.0, 2.0)]
)
@pytest.mark.parametrize("fwhm, counts", [(0.3, 1e7), (0.15, 1e6)])
def test_read_noise_of_synthetic_spectra(true, tolerance, fwhm, counts):
    for seed in range(3):
        data = make_synthetic_eels(
            6, fwhm=fwhm, total_counts=counts, read_noise=true, random_state=seed
        )
        assert abs(estimate_read_noise(data.spectra, data.energy) - true) < tolerance


def test_read_noise_of_the_ws2_detector():
    # Measured: 42 counts from the vacuum spectra, 55 from the specimen ones,
    # far above zero: the WS2 scatter at ~1000 counts per channel is about twice
    # the Poisson one.
    ws2 = load_ws2()
    assert 30 < estimate_read_noise(ws2.vacuum, ws2.energy) < 55
    assert 40 < estimate_read_noise(ws2.sample, ws2.energy) < 70


def test_alignment_lowers_the_noise_per_channel():
    data = make_synthetic_eels(6, read_noise=40.0, shift_std=0.05, random_state=0)
    aligner = ZeroLossAligner(energy_axis=data.energy).fit(data.spectra)
    aligned = estimate_read_noise(aligner.transform(data.spectra), aligner.energy_axis_)
    raw = estimate_read_noise(data.spectra, data.energy)
    assert 0.6 * raw < aligned < 0.9 * raw  # measured 30 against 40


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(spectra=np.ones((2, 8))), "at least 12"),
        (dict(spectra=np.ones((2, 100)), energy=np.arange(99.0)), "one energy per channel"),
        (
            dict(spectra=np.ones((1, 100)), energy=np.linspace(-1, 1, 100)),
            "smaller exclude",
        ),
    ],
)
def test_bad_input_says_what_to_do(kwargs, match):
    with pytest.raises(ValueError, match=match):
        estimate_read_noise(**kwargs)


def _fast(n_replicas=4, max_epochs=30):
    return ZLPEnsembleRegressor(
        n_replicas=n_replicas, max_epochs=max_epochs, lr=0.1, random_state=0
    )


def test_subtractor_measures_read_noise_by_default():
    data = make_synthetic_eels(6, read_noise=40.0, random_state=0)
    sub = ZLPSubtractor(
        energy_axis=data.energy, regressor=_fast(), regions=ZLPRegionMask(de1=1.3, de2=5)
    ).fit(data.spectra)
    assert abs(sub.read_noise_ - 40.0) < 2.0
    given = ZLPSubtractor(
        energy_axis=data.energy,
        regressor=_fast(),
        regions=ZLPRegionMask(de1=1.3, de2=5),
        read_noise=7.0,
    ).fit(data.spectra)
    assert given.read_noise_ == 7.0


def test_subtractor_warns_where_read_noise_cannot_be_measured():
    energy = np.linspace(-0.5, 1.2, 40)
    spectra = 1e5 * np.exp(-0.5 * (energy / 0.1) ** 2)[None] + np.arange(1, 4)[:, None]
    with pytest.warns(UserWarning, match="read_noise='auto' cannot be measured"):
        sub = ZLPSubtractor(
            energy_axis=energy, regressor=_fast(), regions=ZLPRegionMask(de1=0.6, de2=1.0)
        ).fit(spectra)
    assert sub.read_noise_ == 0.0


@pytest.mark.slow
def test_bands_honest_on_a_noisy_detector_only_with_its_read_noise():
    # A WS2-like detector (40 counts of read noise) under 1e6-count spectra:
    # measured coverage of the true inelastic signal by the 68% band over
    # [E_bg - 0.3, 4] eV: 0.14-0.16 assuming no read noise, 0.63-0.65 with the
    # measured one (the same as with the true one), seeds 1 and 2.
    data = make_synthetic_eels(
        6,
        fwhm=0.15,
        t_over_lambda=(0.2, 0.4),
        total_counts=1e6,
        e_bg=1.6,
        n_vacuum=3,
        read_noise=40.0,
        random_state=1,
    )
    energy = data.energy
    window = (energy >= data.e_bg - 0.3) & (energy <= 4.0)
    coverage = {}
    for read_noise in (0.0, "auto"):
        sub = ZLPSubtractor(
            energy_axis=energy,
            regressor=ZLPEnsembleRegressor(
                n_replicas=16, max_epochs=2000, lr=0.1, n_jobs=2, random_state=0
            ),
            regions=ZLPRegionMask(vacuum=data.vacuum),
            read_noise=read_noise,
            random_state=0,
        ).fit(data.spectra)
        low, high = sub.subtract(data.spectra).subtracted_band
        truth = data.inelastic[:, window]
        inside = (truth >= low[:, window]) & (truth <= high[:, window])
        coverage[read_noise] = inside.mean()
    print(f"68% coverage: read_noise=0 {coverage[0.0]:.2f}, auto {coverage['auto']:.2f}")
    assert coverage[0.0] < 0.3
    assert coverage["auto"] >= 0.55


# -- one noise model -------------------------------------------------------------


def test_read_noise_estimate_inverts_the_counting_variance():
    # Smooth counts from 0.2 to 5000 per channel with exactly the variance the
    # package assumes, counting_variance(I, r): the estimate returns r.
    from sklearn_zlp._noise import counting_variance

    rng = np.random.default_rng(0)
    energy = np.linspace(-2, 20, 2000)
    level = 0.2 + 5000 * np.exp(-np.abs(energy) / 2.0)
    for true in (0.0, 3.0, 40.0):
        noisy = level + rng.normal(size=(6, level.size)) * np.sqrt(
            counting_variance(level, true)
        )
        estimate = estimate_read_noise(noisy, energy)
        assert abs(estimate - true) < 0.05 * true + 0.8, (true, estimate)


@pytest.fixture(scope="module")
def noisy_fit():
    data = make_synthetic_eels(4, read_noise=20.0, random_state=1)
    sub = ZLPSubtractor(
        energy_axis=data.energy,
        regressor=_fast(n_replicas=12, max_epochs=30),
        regions=ZLPRegionMask(de1=1.3, de2=5),
        random_state=0,
    ).fit(data.spectra)
    return sub, data.spectra


def test_data_noise_draws_have_the_counting_variance(noisy_fit):
    from sklearn_zlp._noise import counting_variance

    sub, X = noisy_fit
    result = sub.subtract(X, keep_replicas=True)
    draws = result.subtracted + result.zlp - X[None]  # each replica's noise draw
    pulls = draws / np.sqrt(counting_variance(X, sub.read_noise_))[None]
    # 12 x 4 x 2001 standard normal pulls: std 1 within 1%, no bias
    assert abs(pulls.std() - 1) < 0.01
    assert abs(pulls.mean()) < 0.01


def test_score_is_the_chi2_of_the_counting_variance(noisy_fit):
    from sklearn_zlp._noise import counting_variance

    sub, X = noisy_fit
    median = sub.predict_zlp(X, quantiles=0.5)[0]
    used = (np.abs(sub.energy_axis_)[None] < sub.regions_.de1_all_) & (X > 0)
    chi2 = (X - median) ** 2 / counting_variance(X, sub.read_noise_)
    np.testing.assert_allclose(sub.score(X), -chi2[used].mean(), rtol=1e-12)


def test_chi2_weights_are_the_counting_variance():
    from sklearn_zlp._noise import counting_variance
    from sklearn_zlp.subtraction._uncertainty import training_variance

    X = np.abs(np.random.default_rng(0).normal(100, 50, size=(4, 60)))
    norm = X.sum(axis=1)
    acq = np.empty((4, 0))
    energy = np.linspace(-1, 2, 60)
    variance = training_variance(
        X, norm, energy, acq, read_noise=7.0, relative=0.0, sigma="counting"
    )
    np.testing.assert_array_equal(variance, counting_variance(X, 7.0))
    relative = training_variance(
        X, norm, energy, acq, read_noise=7.0, relative=0.1, sigma="counting"
    )
    np.testing.assert_allclose(relative, counting_variance(X, 7.0) + (0.1 * X) ** 2)

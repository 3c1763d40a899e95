"""Band recalibration (band_scale, band_coverage, calibrate_band_scale) and the
power-law continuation of the model ZLP with the training spectra's tail powers.

Fails at 2fe5d0a: there was no band_scale, no calibration and no tail_powers_;
beyond the trained energies the model was the networks' flat extrapolation.
"""

import copy

import numpy as np
import pytest

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp._replicas import replica_median
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.subtraction import band_coverage, calibrate_band_scale
from sklearn_zlp.subtraction._extrapolation import anchor_energies
from sklearn_zlp.subtraction._point_table import tail_law, tail_powers
from sklearn_zlp.subtraction._streaming import rescale_replicas


def fast_regressor(**kwargs):
    params = dict(n_replicas=8, max_epochs=600, lr=0.1, random_state=0)
    params.update(kwargs)
    return ZLPEnsembleRegressor(**params)


def vacuum_set(seed, n=6, fwhm=0.3):
    """Synthetic vacuum spectra (noisy) and their true ZLPs."""
    d = make_synthetic_eels(1, fwhm=fwhm, n_vacuum=n, random_state=seed)
    return d.energy, d.vacuum, d.vacuum_zlp


@pytest.fixture(scope="module")
def vacuum_fit():
    energy, spectra, _ = vacuum_set(0, n=4)
    sub = ZLPSubtractor(
        mode="vacuum", energy_axis=energy, regressor=fast_regressor(), random_state=0
    ).fit(spectra)
    return sub, energy


# -- tail powers and the continuation beyond the trained energies -------------------


def test_tail_powers_are_the_median_tail_laws_of_the_training_spectra():
    energy, spectra, zlp = vacuum_set(0, n=4)
    gain, loss = np.array([3.0] * 4), np.array([6.0] * 4)
    powers = tail_powers(spectra, energy, gain, loss, "vacuum")
    loss_laws = [tail_law(s, energy, 6.0)[2] for s in spectra]
    gain_laws = [tail_law(s[::-1], -energy[::-1], 3.0)[2] for s in spectra]
    np.testing.assert_allclose(powers, [np.median(gain_laws), np.median(loss_laws)])
    # the synthetic ZLP's tails fall as |E|^-2.6; the fits over [E/2, E) find it
    assert -3.2 < powers[1] < -2.0 and -3.2 < powers[0] < -1.5
    # no channel with counts: no law, NaN
    assert np.all(np.isnan(tail_powers(0 * spectra, energy, gain, loss, "vacuum")))


def test_vacuum_model_beyond_the_trained_range_follows_the_tail_powers(vacuum_fit):
    sub, energy = vacuum_fit
    assert sub.tail_powers_.shape == (2,) and np.all(np.isfinite(sub.tail_powers_))
    _, spectra, _ = vacuum_set(1, n=1)
    # the continuation itself: without the residual correction and scatter draws
    sub = copy.copy(sub).set_params(vacuum_residuals=False)
    model = sub.subtract(spectra, keep_replicas=True).zlp_model[:, 0]
    # in vacuum mode the continuation starts halfway to the trained edges
    low, high = anchor_energies(sub.trained_range_, "vacuum")
    assert low == pytest.approx(0.5 * sub.trained_range_[0])
    for side, beyond in ((0, energy < low - 1e-9), (1, energy > high + 1e-9)):
        if beyond.sum() < 3:
            continue
        e = np.abs(energy[beyond])
        slopes = np.diff(np.log(model[:, beyond]), axis=1) / np.diff(np.log(e))
        np.testing.assert_allclose(slopes, min(sub.tail_powers_[side], -1.0), rtol=1e-6)


def test_vacuum_model_far_beyond_the_peak_is_not_a_flat_floor(vacuum_fit):
    # 2fe5d0a: beyond ~1.5 eV a vacuum-mode prediction was 2-4x the data, and
    # beyond the trained energies it stayed flat: measured on this fit at
    # 2fe5d0a, model / truth 1.05-1.07 at 1.5-3 eV, 2.2 at 3-6 eV and 158-160
    # at 10-40 eV. Continued from the edge of the trained range (where the
    # networks flatten on counts at the noise): 4.3 at 10-40 eV; from halfway
    # (now) 1.03-1.04, 1.14-1.16 and 1.43-1.45.
    sub, energy = vacuum_fit
    _, spectra, zlp = vacuum_set(1, n=2)
    median = sub.subtract(spectra).zlp_model_median
    far = (energy > 10) & (energy < 40)
    ratio = np.median(median[:, far] / zlp[:, far], axis=1)
    assert np.all((ratio > 0.67) & (ratio < 1.8)), ratio
    for low, high in ((1.5, 3.0), (3.0, 6.0)):
        near = (energy > low) & (energy < high)
        ratio = np.median(median[:, near] / zlp[:, near], axis=1)
        assert np.all((ratio > 0.7) & (ratio < 1.4)), (low, ratio)


# -- band_scale ------------------------------------------------------------------------


def test_rescale_replicas_scales_ln_deviations_from_the_median():
    rng = np.random.default_rng(0)
    model = np.exp(rng.normal(3.0, 0.2, size=(7, 2, 5)))  # odd: the median is a replica
    model[0, 0, 0] = -1.0  # not positive: scaled linearly
    original = model.copy()
    median = replica_median(original)
    rescale_replicas(model, 2.0)
    np.testing.assert_allclose(replica_median(model), median, rtol=1e-12)
    ok = original > 0
    ln = np.log(np.where(ok, original, 1.0))
    expected = np.log(median)[None] + 2.0 * (ln - np.log(median)[None])
    np.testing.assert_allclose(np.log(model[ok]), np.broadcast_to(expected, ok.shape)[ok])
    assert model[0, 0, 0] == pytest.approx(median[0, 0] + 2.0 * (-1.0 - median[0, 0]))


def test_band_scale_widens_every_band_and_keeps_the_median(vacuum_fit):
    sub, energy = vacuum_fit
    _, spectra, _ = vacuum_set(1, n=2)
    plain = sub.subtract(spectra)
    wide = copy.copy(sub).set_params(band_scale=3.0)
    scaled = wide.subtract(spectra)
    core = np.abs(energy) < 1.0
    ln_plain = np.log(plain.zlp_model_band[1] / plain.zlp_model_band[0])[:, core]
    ln_wide = np.log(scaled.zlp_model_band[1] / scaled.zlp_model_band[0])[:, core]
    # 8 replicas: the median is the mean of two, so the factor is ~3, not exactly
    np.testing.assert_allclose(np.median(ln_wide / ln_plain), 3.0, rtol=0.15)
    np.testing.assert_allclose(
        scaled.zlp_model_median[:, core], plain.zlp_model_median[:, core], rtol=0.02
    )
    assert sub.band_scale == 1.0  # the copy's parameter, not the original's
    assert "band_scale 3" in wide.summary()
    assert "recalibrated" not in sub.summary()
    low, high = anchor_energies(sub.trained_range_, "vacuum")
    assert f"continuation beyond {low:.3g} and {high:.3g} eV" in sub.summary()


def test_band_scale_must_be_positive(vacuum_fit):
    energy = vacuum_fit[1]
    _, spectra, _ = vacuum_set(0, n=3)
    with pytest.raises(ValueError, match="band_scale"):
        ZLPSubtractor(mode="vacuum", energy_axis=energy, band_scale=0.0).fit(spectra)


# -- band_coverage and calibrate_band_scale ---------------------------------------------


def test_band_coverage_counts_the_truth_inside_the_band(vacuum_fit):
    sub, energy = vacuum_fit
    _, spectra, zlp = vacuum_set(1, n=2)
    result = sub.subtract(spectra)
    low, high = result.zlp_model_band
    truth = zlp.copy()
    truth[:, energy > 2] = np.nan  # not counted
    inside = ((zlp >= low) & (zlp <= high))[:, energy <= 2]
    assert band_coverage(sub, spectra, truth, kind="zlp_model") == pytest.approx(
        inside.mean()
    )


def test_band_coverage_refuses_bad_truth(vacuum_fit):
    sub, energy = vacuum_fit
    _, spectra, zlp = vacuum_set(1, n=2)
    with pytest.raises(ValueError, match="truth has shape"):
        band_coverage(sub, spectra, zlp[:1], kind="zlp_model")
    with pytest.raises(ValueError, match="NaN everywhere"):
        band_coverage(sub, spectra, np.full_like(zlp, np.nan), kind="zlp_model")
    with pytest.raises(ValueError, match="kind must be one of"):
        band_coverage(sub, spectra, zlp, kind="zlp_models")


def test_calibrate_band_scale_warns_at_a_bound(vacuum_fit):
    sub, energy = vacuum_fit
    _, spectra, zlp = vacuum_set(1, n=2)
    with pytest.warns(UserWarning, match="too narrow"):
        truth = np.where(np.abs(energy) < 1.0, 3.0 * zlp, np.nan)
        scale = calibrate_band_scale(
            sub, spectra, truth, kind="zlp_model", bounds=(0.5, 1.5)
        )
    assert scale == 1.5
    with pytest.raises(ValueError, match="bounds"):
        calibrate_band_scale(sub, spectra, zlp, bounds=(2.0, 3.0))


def test_calibrated_band_holds_68_percent_on_spectra_it_was_not_calibrated_on(
    vacuum_fit,
):
    """Recalibration of the model ZLP's band on held-out synthetic vacuum spectra.

    Fit on 4 vacuum spectra (seed 0), calibrate on 6 others (seed 1), check on
    6 more (seeds 2 and 3), counting channels within the trained range where
    the ZLP holds at least 10 counts. The band of the replicas alone
    (``vacuum_residuals=False``): 0.27-0.29 before, 0.68 after (scale 1.59).
    """
    sub, energy = vacuum_fit
    sub = copy.copy(sub).set_params(vacuum_residuals=False)
    low, high = sub.trained_range_

    def truth_of(seed):
        _, spectra, zlp = vacuum_set(seed, n=6 if seed == 1 else 3)
        truth = zlp.copy()
        truth[:, (energy < low) | (energy > high)] = np.nan
        truth[zlp < 10] = np.nan
        return spectra, truth

    calib = truth_of(1)
    before = band_coverage(sub, *calib, kind="zlp_model")
    scale = calibrate_band_scale(sub, *calib, kind="zlp_model")
    assert before < 0.6  # 8 tiny replicas: too narrow before
    assert scale > 1.0
    sub_cal = copy.copy(sub).set_params(band_scale=scale)
    assert band_coverage(sub_cal, *calib, kind="zlp_model") == pytest.approx(0.68, abs=0.01)
    for seed in (2, 3):
        spectra, truth = truth_of(seed)
        covered = band_coverage(sub_cal, spectra, truth, kind="zlp_model")
        assert 0.63 <= covered <= 0.73, (seed, covered, scale)


def test_vacuum_band_holds_68_percent_on_unseen_spectra_without_calibration(vacuum_fit):
    """The default vacuum-mode band of a new spectrum's ZLP, not recalibrated.

    Same fit and channels as above. Measured with ``vacuum_residuals`` (the
    training spectra's shared residual corrects every replica, their scatter
    is drawn into it, the replicas are brought within the data's precision):
    0.69-0.73 on seeds 1-7 (6 spectra each; 0.66-0.75 with 3 each); the
    replicas alone (main before it): 0.27-0.29.
    """
    sub, energy = vacuum_fit
    low, high = sub.trained_range_
    for seed in (2, 3, 4):
        _, spectra, zlp = vacuum_set(seed, n=6)
        truth = zlp.copy()
        truth[:, (energy < low) | (energy > high)] = np.nan
        truth[zlp < 10] = np.nan
        covered = band_coverage(sub, spectra, truth, kind="zlp_model")
        assert 0.63 <= covered <= 0.73, (seed, covered)


@pytest.mark.parametrize(
    "fwhm, n_replicas, max_epochs, raw",
    [(0.15, 8, 600, (0.0, 0.6)), (0.3, 16, 1500, (0.74, 1.0))],
)
def test_calibrated_subtracted_band_holds_68_percent_on_unseen_spectra(
    fwhm, n_replicas, max_epochs, raw
):
    """The subtracted spectra's band just above dE_I, widened or narrowed.

    Measured: FWHM 0.15 eV (8 x 600) covers the true inelastic signal in
    (dE_I, dE_I + 1 eV) on 0.33 of the channels, calibrated (band_scale 1.41)
    0.65-0.70 on four other seeds (pooled 0.68); FWHM 0.3 eV (16 x 1500) 0.78,
    calibrated (0.67) 0.68-0.72 (pooled 0.70). (Region III pseudo-data only,
    before the vacuum's tail ran through region II: 0.14, band_scale 2.2,
    0.67-0.71; 0.85-0.86, 0.72, 0.68-0.70.) The 6 spectra of one seed share
    their fit, so single seeds scatter by a few hundredths: the pooled coverage
    must land in 0.63-0.73, each seed in 0.6-0.76.
    """
    data = make_synthetic_eels(
        6, fwhm=fwhm, t_over_lambda=(0.3, 0.7), n_vacuum=3, random_state=0
    )
    energy = data.energy
    sub = ZLPSubtractor(
        energy_axis=energy,
        regressor=fast_regressor(n_replicas=n_replicas, max_epochs=max_epochs),
        regions=ZLPRegionMask(vacuum=data.vacuum),
        random_state=0,
    ).fit(data.spectra)
    de1 = sub.de1_.min()

    def case(seed):
        c = make_synthetic_eels(6, fwhm=fwhm, t_over_lambda=(0.3, 0.7), random_state=seed)
        near = (energy > de1) & (energy < de1 + 1.0)
        return c.spectra, np.where(near, c.inelastic, np.nan)

    calibration = case(1)
    before = band_coverage(sub, *calibration)
    assert raw[0] <= before <= raw[1]
    scale = calibrate_band_scale(sub, *calibration)
    calibrated = copy.copy(sub).set_params(band_scale=scale)
    assert sub.band_scale == 1.0
    covered = [band_coverage(calibrated, *case(seed)) for seed in (2, 3, 4, 5)]
    assert 0.63 <= np.mean(covered) <= 0.73, (covered, scale)
    assert all(0.6 <= c <= 0.76 for c in covered), (covered, scale)

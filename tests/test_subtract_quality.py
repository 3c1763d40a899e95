"""ZLPSubtractor's quality figures, summary() and per-spectrum statuses.

Fails at 2fe5d0a: none of these attributes, methods or statuses existed, and
the model ZLP beyond the trained energies was the networks' flat extrapolation.
"""

import numpy as np
import pytest

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor
from sklearn_zlp._replicas import replica_median
from sklearn_zlp._status import describe_status, statuses
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.ensemble._draws import draw_replica
from sklearn_zlp.physics import summarize, t_over_lambda
from sklearn_zlp.subtraction import _streaming, band_coverage
from sklearn_zlp.subtraction._hidden import hidden_inelastic, hidden_level
from sklearn_zlp.subtraction._inputs import validate_input
from sklearn_zlp.subtraction._matching import model_weight
from sklearn_zlp.subtraction._point_table import training_table
from sklearn_zlp.subtraction._uncertainty import noise_generator

STATUSES = (
    "no_region_i",
    "poor_fit_in_region_i",
    "zlp_exceeds_data",
    "region_i_too_short",
    "extrapolated",
)


def fast_regressor(**kwargs):
    params = dict(n_replicas=8, max_epochs=600, lr=0.1, random_state=0)
    params.update(kwargs)
    return ZLPEnsembleRegressor(**params)


@pytest.fixture(scope="module")
def data():
    return make_synthetic_eels(
        5, fwhm=0.3, t_over_lambda=(0.3, 0.7), e_bg=1.6, n_vacuum=3, random_state=3
    )


@pytest.fixture(scope="module")
def fitted(data):
    return ZLPSubtractor(
        energy_axis=data.energy,
        regressor=fast_regressor(),
        regions=ZLPRegionMask(de1=1.3, de2=5.0),
        random_state=0,
    ).fit(data.spectra)


# -- quality figures ----------------------------------------------------------------


def test_quality_figures_per_replica_and_spectrum(fitted, data):
    n_kept = fitted.regressor_.n_replicas_
    assert fitted.training_chi2_.shape == (n_kept, 5)
    assert fitted.spectrum_chi2_.shape == fitted.heldout_chi2_.shape == (5,)
    for figure in (fitted.training_chi2_, fitted.spectrum_chi2_, fitted.heldout_chi2_):
        assert np.all(np.isfinite(figure)) and np.all(figure > 0)
    # spectrum_chi2_ recomputed: the median model on each spectrum's region I,
    # standardised by the training uncertainties
    table = training_table(
        fitted, validate_input(data.spectra, ("log_total",), data.energy)
    )
    rows = table.is_data
    model = replica_median(fitted.regressor_.transform(table.points[rows]), axis=1)
    z2 = (model - table.target[rows]) ** 2 * table.weight[rows]
    expected = [z2[table.spectrum[rows] == i].mean() for i in range(5)]
    np.testing.assert_allclose(fitted.spectrum_chi2_, expected, rtol=1e-10)
    # the median model fits no worse than a typical single replica
    assert np.all(fitted.spectrum_chi2_ <= np.median(fitted.training_chi2_, axis=0) * 1.01)
    low, mid, high = fitted.heldout_residual_quantiles_
    assert low < mid < high


def test_oob_prediction_uses_only_the_replicas_that_held_the_point_out():
    energy = np.linspace(-0.5, 1.5, 80)
    X = energy[:, None]
    y = 1e5 * (np.exp(-0.5 * (energy / 0.15) ** 2) + 1e-3 / (1 + energy**2))
    y = np.random.default_rng(0).poisson(y).astype(float)
    reg = fast_regressor(n_replicas=6, max_epochs=200).fit(X, y)
    replicas = reg.transform(X)  # (points, kept replicas)
    sigma = np.sqrt(np.maximum(y, 1.0)) / y / reg._target_scale_
    target = (np.log(y) - reg._target_mean_) / reg._target_scale_
    active = np.ones(y.size, dtype=bool)
    held = np.stack(
        [
            draw_replica(s, target, sigma, active, "gaussian", 0.2)[2] > 0
            for s in reg.random_seeds_
        ]
    )[reg.kept_]
    for j in range(y.size):
        if held[:, j].any():
            assert reg.oob_prediction_[j] == pytest.approx(
                np.median(replicas[j, held[:, j]])
            )
        else:
            assert np.isnan(reg.oob_prediction_[j])
    assert np.isfinite(reg.oob_prediction_).mean() > 0.6


def test_oob_prediction_is_nan_without_validation_points():
    X = np.linspace(-1, 1, 50)[:, None]
    y = 1e4 * np.exp(-0.5 * (X[:, 0] / 0.3) ** 2) + 10
    reg = fast_regressor(n_replicas=3, max_epochs=50, validation_fraction=0.0).fit(X, y)
    assert np.all(np.isnan(reg.oob_prediction_))


# -- summaries ------------------------------------------------------------------------


def test_subtractor_summary_says_what_was_fitted_and_how_well(fitted):
    text = fitted.summary()
    n_kept, n_all = fitted.regressor_.n_replicas_, fitted.regressor_.replica_status_.size
    for expected in (
        "specimen mode",
        "5 spectra",
        "dE_I = 1.3 eV",
        "dE_II = 5 eV",
        "covariate log_total",
        f"read noise {fitted.read_noise_:.3g}",
        f"replicas: {n_kept} of {n_all} kept",
        "per replica",
        "per spectrum",
        "held out",
        "training spectra: all ok",
    ):
        assert expected in text, (expected, text)


def test_summary_lists_statuses_of_training_spectra_with_their_meaning(data):
    sub = ZLPSubtractor(
        energy_axis=data.energy,
        regressor=fast_regressor(),
        regions=ZLPRegionMask(de1=0.45, de2=5.0),  # 1.5 FWHM
        random_state=0,
    ).fit(data.spectra)
    assert list(sub.training_status_) == ["region_i_too_short"] * 5
    text = sub.summary()
    assert "region_i_too_short: 5 training spectra [0, 1, 2, 3, 4]" in text
    assert describe_status("region_i_too_short") in text


def test_regressor_summary_reports_kept_and_dropped_replicas():
    energy = np.linspace(-0.5, 1.5, 80)
    y = 1e5 * (np.exp(-0.5 * (energy / 0.15) ** 2) + 1e-3 / (1 + energy**2))
    reg = fast_regressor(n_replicas=8, max_epochs=150, reject_outliers=0.5).fit(
        energy[:, None], y
    )
    text = reg.summary()
    assert f"replicas kept: {reg.n_replicas_} of 8" in text
    assert reg.n_rejected_ > 0 and "rejected as chi^2 outliers" in text
    assert "validation (held-out points)" in text
    assert "epoch of the kept weights" in text


# -- statuses ------------------------------------------------------------------------


def test_statuses_are_registered_with_a_meaning():
    known = statuses()
    for name in STATUSES:
        assert name in known and len(known[name]) > 20


def test_de1_at_two_and_a_half_fwhm_is_too_short_and_says_so():
    # Issue 11: without a vacuum reference dE_I came out at 0.75 eV for FWHM
    # 0.3 eV (2.5 FWHM, band gap 2.1 eV); the subtracted spectra rose from dE_I
    # on, their band held the truth on 0.04 of the channels between 1.5 and 2
    # eV, and every spectrum was "ok" (also at the first threshold of 2 FWHM).
    data = make_synthetic_eels(
        4, fwhm=0.3, t_over_lambda=(0.3, 0.7), e_bg=2.1, random_state=0
    )
    sub = ZLPSubtractor(
        energy_axis=data.energy,
        regressor=fast_regressor(),
        regions=ZLPRegionMask(de1=0.75, de2=5.0),
        random_state=0,
    ).fit(data.spectra)
    result = sub.subtract(data.spectra)
    assert np.all(result.diagnostics["de1_over_fwhm"] < 2.75)
    assert list(result.status) == ["region_i_too_short"] * 4
    assert list(sub.training_status_) == ["region_i_too_short"] * 4
    below_gap = (data.energy > 1.5) & (data.energy < 2.0)
    low, high = result.subtracted_band
    truth = data.inelastic
    inside = (truth >= low) & (truth <= high)
    # why the status is there: measured 0.53 of the channels inside the band,
    # the subtracted spectrum 0.66-0.71 of the true ZLP's counts too high
    # (dE_I = 1.5 eV: 0.84 and 0.10-0.14, "ok")
    assert inside[:, below_gap].mean() < 0.6
    excess = (result.subtracted_median - truth)[:, below_gap].sum(axis=1)
    assert np.all(excess > 0.4 * data.zlp[:, below_gap].sum(axis=1))


def test_training_spectra_are_ok_and_results_carry_statuses(fitted, data):
    result = fitted.subtract(data.spectra)
    assert list(fitted.training_status_) == ["ok"] * 5
    assert list(result.status) == ["ok"] * 5
    assert set(result.diagnostics) == {
        "region_i_chi2",
        "region_i_model_chi2",
        "region_i_relative_misfit",
        "de1_over_fwhm",
        "zlp_excess_fraction",
        "covariate_outside",
        "fwhm_outside",
        "gain_side_floor",
        "gain_side_floor_error",
        "floor_t_over_lambda",
        "hidden_t_over_lambda",
    }
    assert np.all(result.diagnostics["region_i_chi2"] < 4)
    assert np.all(result.diagnostics["region_i_model_chi2"] < 25)
    # no floor under these spectra: t/lambda's status is the spectrum's
    assert list(result.t_over_lambda_status) == ["ok"] * 5


def test_spectrum_with_covariate_outside_the_training_range_is_extrapolated(fitted, data):
    # ln N_tot of the training spectra spans 0.06; 1.2 times the counts is
    # ln 1.2 = 0.18 beyond it: the model extrapolates, the value stays. (At 1.5
    # times and more its median misses region I by a fifth of the counts and
    # poor_fit_in_region_i, first in PRECEDENCE, takes over.)
    X = np.vstack([data.spectra[:1], 1.2 * data.spectra[:1], 1.02 * data.spectra[:1]])
    result = fitted.subtract(X)
    assert list(result.status) == ["ok", "extrapolated", "ok"]
    assert np.all(np.isfinite(result.subtracted_median))
    assert list(result.diagnostics["covariate_outside"]) == [False, True, False]


def test_spectrum_with_a_zlp_width_outside_the_training_range_is_extrapolated(fitted, data):
    # Trained at FWHM 0.3 eV: 7% narrower or broader is an extrapolation, 2%
    # is not (measured with 16 x 1500 replicas, where the poor-fit check did
    # not notice it: band coverage of the true inelastic signal above dE_I
    # 0.75-0.92 at the training width, 0.32-0.62 at 10% narrower).
    assert np.all(np.abs(fitted.fwhm_ / 0.3 - 1) < 0.01)
    X = np.vstack(
        [
            make_synthetic_eels(
                1, fwhm=w, t_over_lambda=0.5, e_bg=1.6, random_state=9
            ).spectra
            for w in (0.28, 0.294, 0.3, 0.32)
        ]
    )
    result = fitted.subtract(X)
    assert list(result.diagnostics["fwhm_outside"]) == [True, False, False, True]
    assert list(result.diagnostics["covariate_outside"]) == [False] * 4
    # a poor fit, where there is one, takes precedence (PRECEDENCE)
    assert "extrapolated" in list(result.status)
    assert list(result.status[1:3]) == ["ok", "ok"]
    for i in (0, 3):
        expected = "extrapolated"
        if result.diagnostics["region_i_chi2"][i] > 4:
            expected = "poor_fit_in_region_i"
        assert result.status[i] == expected
    assert np.all(np.isfinite(result.subtracted_median))


def test_poor_fit_in_the_matching_interval_is_flagged(fitted, data):
    energy = data.energy
    X = data.spectra[:2].copy()
    match = (energy >= 0.8) & (energy < 1.3)  # [dE_0, dE_I)
    X[1, match] *= 1.5
    result = fitted.subtract(X)
    assert result.status[0] == "ok"
    assert result.status[1] == "poor_fit_in_region_i"
    assert (
        result.diagnostics["region_i_chi2"][1] > 10 * result.diagnostics["region_i_chi2"][0]
    )


def test_model_above_the_data_in_region_ii_is_flagged(fitted, data):
    energy = data.energy
    X = data.spectra[:2].copy()
    region = (energy > 1.3) & (energy <= 5.0)
    X[1, region] = data.zlp[1, region] * 0.3  # less than the ZLP alone
    result = fitted.subtract(X)
    assert result.status[0] == "ok"
    assert result.status[1] == "zlp_exceeds_data"
    assert result.diagnostics["zlp_excess_fraction"][1] > 0.5


def test_spectrum_without_region_i_is_nan_with_its_status(fitted, data, monkeypatch):
    edges = _streaming.region_edges

    def losing_the_second(*args):
        de1, de2 = edges(*args)
        de1 = de1.copy()
        de1[1 % de1.size] = np.nan if de1.size > 1 else de1[0]
        return de1, de2

    monkeypatch.setattr(_streaming, "region_edges", losing_the_second)
    result = fitted.subtract(data.spectra[:3])
    assert list(result.status) == ["ok", "no_region_i", "ok"]
    assert np.all(np.isnan(result.subtracted_median[1, data.energy > 0]))
    assert np.isnan(result.t_over_lambda[1])
    assert np.all(np.isfinite(result.subtracted_median[[0, 2]]))


# -- t/lambda and the continuation beyond the trained energies -----------------------


def test_result_t_over_lambda_is_the_log_ratio_of_the_replicas(fitted, data):
    # Each replica: ln(its total counts, with its draw of the data's noise, over
    # its matched ZLP, whose data part below dE_0 carries the same draw, less
    # its draw of the losses below dE_I that the matched ZLP holds).
    X = data.spectra
    result = fitted.subtract(X, keep_replicas=True)
    noisy = result.subtracted + result.zlp
    data_part = 1.0 - model_weight(data.energy, result.de0, result.de1, mirror=False)
    zlp = result.zlp.sum(axis=-1) + ((noisy - X[None]) * data_part[None]).sum(axis=-1)
    acquisition = validate_input(X, fitted.covariates, data.energy).acquisition
    streams = [
        noise_generator(fitted._noise_seed_ + 3, s, a)
        for s, a in zip(X, acquisition, strict=True)
    ]
    hidden = hidden_inelastic(result.subtracted, data.energy, result.de1, streams)
    level = hidden_level(result.subtracted, data.energy, result.de1)
    assert np.all((hidden >= 0) & (hidden <= np.clip(level, 0, None) * result.de1))
    assert np.any(hidden > 0)
    median, band = summarize(np.log(noisy.sum(axis=-1) / (zlp - hidden)))
    # the diagnostic: what the draw adds, median over replicas
    np.testing.assert_allclose(
        result.diagnostics["hidden_t_over_lambda"],
        replica_median(np.log(zlp / (zlp - hidden))),
        rtol=1e-9,
    )
    np.testing.assert_allclose(result.t_over_lambda, median, rtol=1e-9)
    np.testing.assert_allclose(result.t_over_lambda_band, band, rtol=1e-9)
    # the noise-free estimate (data as measured, ZLP replicas) lies within the band
    plain = summarize(t_over_lambda(X, result.zlp))[0]
    assert np.all((plain > band[0]) & (plain < band[1]))


def test_model_beyond_the_trained_energies_falls_as_a_power_law(fitted, data):
    energy = data.energy
    low, high = fitted.trained_range_
    assert low == pytest.approx(-1.3, abs=0.03) and high == pytest.approx(7.5, abs=1e-9)
    model = fitted.subtract(data.spectra[:1], keep_replicas=True).zlp_model[:, 0]
    beyond = energy > high
    slopes = np.diff(np.log(model[:, beyond]), axis=1) / np.diff(np.log(energy[beyond]))
    # one slope per replica, at most -1 (the tail falls at least as 1/E)
    np.testing.assert_allclose(slopes, slopes[:, :1] * np.ones_like(slopes), rtol=1e-6)
    assert np.all(slopes <= -1 + 1e-9)
    # continuous at the edge: the first channel beyond is within a channel's fall
    edge = np.flatnonzero(beyond)[0]
    np.testing.assert_allclose(model[:, edge] / model[:, edge - 1], 1.0, atol=0.05)
    # no flat floor: far out it has fallen by the power law
    assert np.all(
        model[:, -1] < model[:, edge] * (energy[-1] / energy[edge]) ** -1 * 1.0001
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_t_over_lambda_band_holds_the_truth_on_thick_specimens(seed):
    # 2fe5d0a (the same fits, t/lambda of the subtract result's ZLP replicas):
    # bias -0.011 to -0.014 with a band of +-0.001, 0 of 12 spectra covered.
    # Now (ZLP continued as a power law beyond the trained energies, the
    # data's noise draw in the matched ZLP too): bias -0.0012 to +0.0025,
    # 4 of 6 and 6 of 6 covered.
    energy = np.linspace(-4, 96, 2001)
    data = make_synthetic_eels(
        6,
        energy=energy,
        fwhm=0.5,
        t_over_lambda=(1.0, 2.5),
        n_vacuum=3,
        random_state=seed,
    )
    sub = ZLPSubtractor(
        energy_axis=energy,
        regressor=fast_regressor(n_replicas=24, max_epochs=2000),
        regions=ZLPRegionMask(vacuum=data.vacuum),
        random_state=0,
    ).fit(data.spectra)
    result = sub.subtract(data.spectra)
    truth = np.log(data.noise_free.sum(axis=1) / data.zlp.sum(axis=1))
    assert list(result.status) == ["ok"] * 6
    np.testing.assert_allclose(result.t_over_lambda, truth, atol=0.005)
    covered = band_coverage(sub, data.spectra, truth, kind="t_over_lambda")
    low, high = result.t_over_lambda_band
    assert covered == np.mean((truth >= low) & (truth <= high))
    assert covered >= 0.5


def test_an_unconverged_ensemble_is_flagged_whatever_its_band(data):
    # 8 replicas x 100 epochs: the median model misses the matching interval by
    # 400-600 noise standard deviations (chi^2 2e5-3.5e5 per point), and the
    # replicas spread as wide as that, so the band-standardised figure (0.27-0.32)
    # passed it as "ok", as it did the demo's WS2 fit at 6 x 300 (chi^2 1e5 per
    # point over region I). Converged (8 x 600, the module's fixture): 2.4-5.7.
    sub = ZLPSubtractor(
        energy_axis=data.energy,
        regressor=fast_regressor(n_replicas=8, max_epochs=100),
        regions=ZLPRegionMask(de1=1.3, de2=5.0),
        random_state=0,
    ).fit(data.spectra)
    result = sub.subtract(data.spectra)
    assert np.all(result.diagnostics["region_i_chi2"] < 4)
    assert np.all(result.diagnostics["region_i_model_chi2"] > 25)
    assert np.all(result.diagnostics["region_i_relative_misfit"] > 0.2)
    assert list(result.status) == ["poor_fit_in_region_i"] * 5
    assert list(sub.training_status_) == ["poor_fit_in_region_i"] * 5

"""Every bad input tried on the estimators and functions, and the error it gets.

One case per row of ``docs/bad_inputs.rst`` (with the file-format cases of
``test_io_bad_input.py``): each case function's docstring says what the bad
input is, ``CASES`` says where it goes in, which error it gets and (part of)
the message. Each case returns the call that must fail; ``ctx`` holds small
fitted estimators and valid data to spoil. ``test_docs_table_is_current``
checks that the table in the docs is exactly what these calls print today.
"""

from functools import cached_property

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sklearn_zlp import (
    EnergyWindow,
    ZeroLossAligner,
    ZLPEnsembleRegressor,
    ZLPRegionMask,
    ZLPSubtractor,
    estimate_read_noise,
)
from sklearn_zlp.datasets import make_synthetic_eels, zlp_shape
from sklearn_zlp.physics import (
    BandGapFitter,
    absolute_thickness,
    check_cherenkov,
    fit_band_gap,
    fourier_log_deconvolution,
    kramers_kronig,
    mean_free_path_iakoubovskii,
    mean_free_path_malis,
    summarize,
    t_over_lambda,
)
from sklearn_zlp.preprocessing import estimate_de1, estimate_de2, find_zlp_position

FAST = {"n_replicas": 3, "max_epochs": 30, "random_state": 0}


class Context:
    """Valid data and small fitted estimators, built on first use."""

    @cached_property
    def data(self):
        return make_synthetic_eels(4, fwhm=0.3, e_bg=1.6, n_vacuum=2, random_state=0)

    @property
    def spectra(self):
        return self.data.spectra

    @property
    def energy(self):
        return self.data.energy

    @cached_property
    def points(self):
        E = np.linspace(-1.0, 1.0, 40)
        X = np.column_stack([E, np.ones_like(E)])
        return X, 1e4 * np.exp(-0.5 * (E / 0.2) ** 2) + 10.0

    @cached_property
    def regressor(self):
        return ZLPEnsembleRegressor(**FAST).fit(*self.points)

    @cached_property
    def subtractor(self):
        reg = ZLPEnsembleRegressor(**FAST)
        sub = ZLPSubtractor(
            energy_axis=self.energy,
            regressor=reg,
            regions=ZLPRegionMask(de1=1.0, de2=4.0),
            random_state=0,
        )
        return sub.fit(self.spectra)

    @cached_property
    def aligner(self):
        return ZeroLossAligner(energy_axis=self.energy).fit(self.spectra)

    @cached_property
    def mask(self):
        return ZLPRegionMask(energy_axis=self.energy, de1=1.0, de2=4.0).fit(self.spectra)

    @cached_property
    def window(self):
        return EnergyWindow(energy_axis=self.energy, e_min=0.5, e_max=4.0).fit(self.spectra)

    @property
    def subtracted(self):
        """Inelastic replicas of the synthetic spectra, (3, n_spectra, n_channels)."""
        rng = np.random.default_rng(0)
        inelastic = self.spectra - self.data.zlp
        return inelastic[None] + rng.normal(0, 5.0, (3, *inelastic.shape))


def _shifted(ctx, shift):
    """The synthetic spectra moved by ``shift`` eV (ZLP no longer at 0 eV)."""
    return np.array([np.interp(ctx.energy - shift, ctx.energy, s) for s in ctx.spectra])


# ------------------------------------------------------------- ZLPEnsembleRegressor


def ensemble_zero_replicas(ctx):
    """n_replicas=0"""
    return lambda: ZLPEnsembleRegressor(n_replicas=0).fit(*ctx.points)


def ensemble_negative_lr(ctx):
    """lr=-0.1"""
    return lambda: ZLPEnsembleRegressor(**FAST, lr=-0.1).fit(*ctx.points)


def ensemble_unknown_activation(ctx):
    """activations=("swish", "sigmoid", "relu")"""
    reg = ZLPEnsembleRegressor(**FAST, activations=("swish", "sigmoid", "relu"))
    return lambda: reg.fit(*ctx.points)


def ensemble_activations_do_not_match_layers(ctx):
    """two hidden layers, three activations"""
    reg = ZLPEnsembleRegressor(
        **FAST, hidden_layer_sizes=(5, 5), activations=("relu", "relu", "relu")
    )
    return lambda: reg.fit(*ctx.points)


def ensemble_validation_fraction_above_one(ctx):
    """validation_fraction=1.5"""
    return lambda: ZLPEnsembleRegressor(**FAST, validation_fraction=1.5).fit(*ctx.points)


def ensemble_unknown_replica_method(ctx):
    """replica_method="jackknife" """
    return lambda: ZLPEnsembleRegressor(**FAST, replica_method="jackknife").fit(*ctx.points)


def ensemble_input_ranges_wrong_shape(ctx):
    """input_ranges with one row for two features"""
    return lambda: ZLPEnsembleRegressor(**FAST, input_ranges=[[0, 1]]).fit(*ctx.points)


def ensemble_input_ranges_reversed(ctx):
    """input_ranges with low > high"""
    reg = ZLPEnsembleRegressor(**FAST, input_ranges=[[1, 0], [0, 2]])
    return lambda: reg.fit(*ctx.points)


def ensemble_nonpositive_target_with_log(ctx):
    """y <= 0 with log_target=True"""
    X, y = ctx.points
    return lambda: ZLPEnsembleRegressor(**FAST).fit(X, y - 1e6)


def ensemble_negative_sample_weight(ctx):
    """negative sample_weight"""
    X, y = ctx.points
    return lambda: ZLPEnsembleRegressor(**FAST).fit(X, y, sample_weight=-np.ones_like(y))


def ensemble_all_zero_sample_weight(ctx):
    """sample_weight 0 everywhere"""
    X, y = ctx.points
    return lambda: ZLPEnsembleRegressor(**FAST).fit(X, y, sample_weight=np.zeros_like(y))


def ensemble_nan_in_X(ctx):
    """NaN in X"""
    X, y = ctx.points
    X = X.copy()
    X[3, 0] = np.nan
    return lambda: ZLPEnsembleRegressor(**FAST).fit(X, y)


def ensemble_infinite_y(ctx):
    """infinite target"""
    X, y = ctx.points
    y = y.copy()
    y[2] = np.inf
    return lambda: ZLPEnsembleRegressor(**FAST).fit(X, y)


def ensemble_y_of_other_length(ctx):
    """y shorter than X"""
    X, y = ctx.points
    return lambda: ZLPEnsembleRegressor(**FAST).fit(X, y[:-1])


def ensemble_complex_X(ctx):
    """complex X"""
    X, y = ctx.points
    return lambda: ZLPEnsembleRegressor(**FAST).fit(X.astype(complex), y)


def ensemble_text_X(ctx):
    """X of strings"""
    X, y = ctx.points
    return lambda: ZLPEnsembleRegressor(**FAST).fit(X.astype(str).astype(object) + "eV", y)


def ensemble_one_dimensional_X(ctx):
    """X as a 1-D array"""
    X, y = ctx.points
    return lambda: ZLPEnsembleRegressor(**FAST).fit(X[:, 0], y)


def ensemble_predict_before_fit(ctx):
    """predict before fit"""
    return lambda: ZLPEnsembleRegressor(**FAST).predict(ctx.points[0])


def ensemble_predict_other_features(ctx):
    """predict with 3 features after fitting 2"""
    X = np.column_stack([ctx.points[0], np.ones(len(ctx.points[0]))])
    return lambda: ctx.regressor.predict(X)


def ensemble_quantile_above_one(ctx):
    """predict_quantiles with quantile 1.5"""
    return lambda: ctx.regressor.predict_quantiles(ctx.points[0], quantiles=[0.5, 1.5])


def ensemble_confidence_level_one(ctx):
    """predict_interval with confidence_level=1"""
    return lambda: ctx.regressor.predict_interval(ctx.points[0], confidence_level=1.0)


def ensemble_cuda_without_gpu(ctx):
    """device="cuda" on a machine without a GPU"""
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    return lambda: ZLPEnsembleRegressor(**FAST, device="cuda").fit(*ctx.points)


# ------------------------------------------------------------------ ZLPSubtractor


def subtractor_without_energy_axis(ctx):
    """energy_axis=None"""
    return lambda: ZLPSubtractor(regressor=ZLPEnsembleRegressor(**FAST)).fit(ctx.spectra)


def subtractor_decreasing_axis(ctx):
    """energy axis in decreasing order"""
    sub = ZLPSubtractor(
        energy_axis=ctx.energy[::-1], regressor=ZLPEnsembleRegressor(**FAST)
    )
    return lambda: sub.fit(ctx.spectra)


def subtractor_axis_of_other_length(ctx):
    """energy axis one channel short"""
    sub = ZLPSubtractor(energy_axis=ctx.energy[:-1], regressor=ZLPEnsembleRegressor(**FAST))
    return lambda: sub.fit(ctx.spectra)


def subtractor_axis_with_nan(ctx):
    """NaN in the energy axis"""
    energy = ctx.energy.copy()
    energy[5] = np.nan
    sub = ZLPSubtractor(energy_axis=energy, regressor=ZLPEnsembleRegressor(**FAST))
    return lambda: sub.fit(ctx.spectra)


def subtractor_axis_without_zero(ctx):
    """energy axis that does not include 0 eV"""
    sub = ZLPSubtractor(
        energy_axis=ctx.energy + 10.0, regressor=ZLPEnsembleRegressor(**FAST)
    )
    return lambda: sub.fit(ctx.spectra)


def subtractor_unaligned_spectra(ctx):
    """spectra whose ZLP sits at 2 eV"""
    sub = ZLPSubtractor(energy_axis=ctx.energy, regressor=ZLPEnsembleRegressor(**FAST))
    return lambda: sub.fit(_shifted(ctx, 2.0))


def subtractor_one_dimensional_spectrum(ctx):
    """a single spectrum as a 1-D array"""
    sub = ZLPSubtractor(energy_axis=ctx.energy, regressor=ZLPEnsembleRegressor(**FAST))
    return lambda: sub.fit(ctx.spectra[0])


def subtractor_nan_in_spectra(ctx):
    """NaN in the spectra"""
    X = ctx.spectra.copy()
    X[1, 100] = np.nan
    sub = ZLPSubtractor(energy_axis=ctx.energy, regressor=ZLPEnsembleRegressor(**FAST))
    return lambda: sub.fit(X)


def subtractor_complex_spectra(ctx):
    """complex spectra"""
    sub = ZLPSubtractor(energy_axis=ctx.energy, regressor=ZLPEnsembleRegressor(**FAST))
    return lambda: sub.fit(ctx.spectra.astype(complex))


def subtractor_boolean_spectra(ctx):
    """boolean spectra"""
    sub = ZLPSubtractor(energy_axis=ctx.energy, regressor=ZLPEnsembleRegressor(**FAST))
    return lambda: sub.fit(ctx.spectra > 100)


def subtractor_empty_spectrum(ctx):
    """an all-zero spectrum (ln N_tot undefined)"""
    X = ctx.spectra.copy()
    X[0] = 0.0
    sub = ZLPSubtractor(energy_axis=ctx.energy, regressor=ZLPEnsembleRegressor(**FAST))
    return lambda: sub.fit(X)


def subtractor_missing_acquisition_columns(ctx):
    """covariates naming an acquisition parameter that X does not carry"""
    sub = ZLPSubtractor(
        energy_axis=ctx.energy,
        regressor=ZLPEnsembleRegressor(**FAST),
        covariates=("log_total", "exposure_time"),
    )
    return lambda: sub.fit(ctx.spectra)


def subtractor_unknown_mode(ctx):
    """mode="sample" """
    sub = ZLPSubtractor(energy_axis=ctx.energy, mode="sample")
    return lambda: sub.fit(ctx.spectra)


def subtractor_negative_read_noise(ctx):
    """read_noise=-5"""
    sub = ZLPSubtractor(energy_axis=ctx.energy, read_noise=-5.0)
    return lambda: sub.fit(ctx.spectra)


def subtractor_region_edges_reversed(ctx):
    """dE_I above dE_II"""
    sub = ZLPSubtractor(
        energy_axis=ctx.energy,
        regressor=ZLPEnsembleRegressor(**FAST),
        regions=ZLPRegionMask(de1=4.0, de2=2.0),
    )
    return lambda: sub.fit(ctx.spectra)


def subtractor_region_three_beyond_axis(ctx):
    """dE_II at the end of the axis (no region III)"""
    sub = ZLPSubtractor(
        energy_axis=ctx.energy,
        regressor=ZLPEnsembleRegressor(**FAST),
        regions=ZLPRegionMask(de1=1.0, de2=float(ctx.energy[-1])),
    )
    return lambda: sub.fit(ctx.spectra)


def subtractor_transform_before_fit(ctx):
    """transform before fit"""
    return lambda: ZLPSubtractor(energy_axis=ctx.energy).transform(ctx.spectra)


def subtractor_subtract_before_fit(ctx):
    """subtract before fit"""
    return lambda: ZLPSubtractor(energy_axis=ctx.energy).subtract(ctx.spectra)


def subtractor_transform_other_channels(ctx):
    """transform spectra with fewer channels than the fit"""
    return lambda: ctx.subtractor.transform(ctx.spectra[:, :-10])


def subtractor_nested_params_without_regressor(ctx):
    """set_params(regressor__n_jobs=1) with the default regressor=None"""
    return lambda: ZLPSubtractor(energy_axis=ctx.energy).set_params(regressor__n_jobs=1)


# ------------------------------------------------------------- preprocessing


def aligner_decreasing_axis(ctx):
    """ZeroLossAligner with a decreasing energy axis"""
    return lambda: ZeroLossAligner(energy_axis=ctx.energy[::-1]).fit(ctx.spectra)


def aligner_axis_of_other_length(ctx):
    """ZeroLossAligner with an axis one channel short"""
    return lambda: ZeroLossAligner(energy_axis=ctx.energy[:-1]).fit(ctx.spectra)


def aligner_nan_in_spectra(ctx):
    """NaN in the spectra"""
    X = ctx.spectra.copy()
    X[0, 10] = np.nan
    return lambda: ZeroLossAligner(energy_axis=ctx.energy).fit(X)


def aligner_complex_spectra(ctx):
    """complex spectra"""
    return lambda: ZeroLossAligner(energy_axis=ctx.energy).fit(ctx.spectra.astype(complex))


def aligner_search_range_reversed(ctx):
    """search_range=(1, -1)"""
    aligner = ZeroLossAligner(energy_axis=ctx.energy, search_range=(1.0, -1.0))
    return lambda: aligner.fit(ctx.spectra)


def aligner_transform_other_channels(ctx):
    """transform spectra with fewer channels than the fit"""
    return lambda: ctx.aligner.transform(ctx.spectra[:, :-10])


def aligner_transform_before_fit(ctx):
    """transform before fit"""
    return lambda: ZeroLossAligner(energy_axis=ctx.energy).transform(ctx.spectra)


def find_zlp_unknown_method(ctx):
    """find_zlp_position(method="centroid")"""
    return lambda: find_zlp_position(ctx.spectra, ctx.energy, method="centroid")


def mask_negative_de1(ctx):
    """ZLPRegionMask(de1=-1)"""
    return lambda: ZLPRegionMask(energy_axis=ctx.energy, de1=-1.0).fit(ctx.spectra)


def mask_unknown_de1_method(ctx):
    """de1_method="second-derivative" """
    mask = ZLPRegionMask(energy_axis=ctx.energy, de1_method="second-derivative")
    return lambda: mask.fit(ctx.spectra)


def mask_de1_above_de2(ctx):
    """de1=4 eV, de2=2 eV"""
    return lambda: ZLPRegionMask(energy_axis=ctx.energy, de1=4.0, de2=2.0).fit(ctx.spectra)


def mask_vacuum_of_other_length(ctx):
    """vacuum spectra with fewer channels than the specimen spectra"""
    mask = ZLPRegionMask(energy_axis=ctx.energy, vacuum=ctx.data.vacuum[:, :-5])
    return lambda: mask.fit(ctx.spectra)


def mask_unaligned_spectra(ctx):
    """spectra whose ZLP sits at 2 eV"""
    return lambda: ZLPRegionMask(energy_axis=ctx.energy).fit(_shifted(ctx, 2.0))


def mask_transform_other_channels(ctx):
    """transform spectra with fewer channels than the fit"""
    return lambda: ctx.mask.transform(ctx.spectra[:, :-10])


def estimate_de1_unknown_method(ctx):
    """estimate_de1(method="fft")"""
    return lambda: estimate_de1(ctx.spectra, ctx.energy, method="fft")


def estimate_de2_factor_below_one(ctx):
    """estimate_de2(factor=0.5)"""
    return lambda: estimate_de2(ctx.spectra, ctx.energy, factor=0.5)


def window_min_above_max(ctx):
    """EnergyWindow(e_min=4, e_max=1)"""
    win = EnergyWindow(energy_axis=ctx.energy, e_min=4.0, e_max=1.0)
    return lambda: win.fit(ctx.spectra)


def window_outside_axis(ctx):
    """EnergyWindow beyond the end of the axis"""
    win = EnergyWindow(energy_axis=ctx.energy, e_min=500.0, e_max=600.0)
    return lambda: win.fit(ctx.spectra)


def window_transform_other_channels(ctx):
    """transform spectra with fewer channels than the fit"""
    return lambda: ctx.window.transform(ctx.spectra[:, :-10])


# ----------------------------------------------------------------------- noise


def read_noise_too_few_channels(ctx):
    """estimate_read_noise on 8-channel spectra"""
    return lambda: estimate_read_noise(ctx.spectra[:, :8])


def read_noise_energy_of_other_length(ctx):
    """estimate_read_noise with an axis one channel short"""
    return lambda: estimate_read_noise(ctx.spectra, ctx.energy[:-1])


# --------------------------------------------------------------------- physics


def band_gap_window_reversed(ctx):
    """fit_band_gap(window=(3, 1))"""
    return lambda: fit_band_gap(
        ctx.energy, ctx.subtracted, replica_axis=0, window=(3.0, 1.0)
    )


def band_gap_window_outside_axis(ctx):
    """fit_band_gap window beyond the axis"""
    return lambda: fit_band_gap(
        ctx.energy, ctx.subtracted, replica_axis=0, window=(500.0, 600.0)
    )


def band_gap_negative_read_noise(ctx):
    """fit_band_gap(read_noise=-1)"""
    return lambda: fit_band_gap(
        ctx.energy, ctx.subtracted, replica_axis=0, window=(1, 3), read_noise=-1.0
    )


def band_gap_negative_smooth(ctx):
    """fit_band_gap(smooth=(0.2, -0.4))"""
    return lambda: fit_band_gap(
        ctx.energy, ctx.subtracted, replica_axis=0, smooth=(0.2, -0.4)
    )


def band_gap_energy_of_other_length(ctx):
    """fit_band_gap with an axis one channel short"""
    return lambda: fit_band_gap(
        ctx.energy[:-1], ctx.subtracted, replica_axis=0, window=(1.0, 3.0)
    )


def band_gap_complex_spectra(ctx):
    """fit_band_gap on complex spectra"""
    return lambda: fit_band_gap(
        ctx.energy, ctx.subtracted.astype(complex), replica_axis=0, window=(1, 3)
    )


def band_gap_image_shaped(ctx):
    """fit_band_gap on a spectrum image (ny, nx, n_channels)"""
    return lambda: fit_band_gap(
        ctx.energy, ctx.spectra.reshape(1, -1, ctx.energy.size), window=(1, 3)
    )


def band_gap_fitter_transform_before_fit(ctx):
    """BandGapFitter.transform before fit"""
    return lambda: BandGapFitter(energy_axis=ctx.energy).transform(ctx.spectra)


def cherenkov_refractive_index_zero(ctx):
    """check_cherenkov(refractive_index=0)"""
    return lambda: check_cherenkov(200.0, 0.0)


def thickness_zlp_of_other_shape(ctx):
    """t_over_lambda with a ZLP of another shape"""
    return lambda: t_over_lambda(ctx.spectra, ctx.data.zlp[:, :-1])


def summarize_confidence_level_above_one(ctx):
    """summarize(confidence_level=1.5)"""
    return lambda: summarize(np.ones((3, 2)), confidence_level=1.5)


def mean_free_path_negative_density(ctx):
    """mean_free_path_iakoubovskii(density_g_cm3=-1)"""
    return lambda: mean_free_path_iakoubovskii(-1.0, 200.0)


def mean_free_path_malis_zero_angle(ctx):
    """mean_free_path_malis(collection_mrad=0)"""
    return lambda: mean_free_path_malis(20.0, 200.0, 0.0)


def absolute_thickness_negative_path(ctx):
    """absolute_thickness with a negative mean free path"""
    return lambda: absolute_thickness(0.5, -100.0)


def deconvolution_zlp_of_other_shape(ctx):
    """fourier_log_deconvolution with a ZLP of another shape"""
    return lambda: fourier_log_deconvolution(ctx.energy, ctx.spectra, ctx.data.zlp[:2])


def deconvolution_unknown_tail(ctx):
    """fourier_log_deconvolution(tail="exponential")"""
    return lambda: fourier_log_deconvolution(
        ctx.energy, ctx.spectra, ctx.data.zlp, tail="exponential"
    )


def kramers_kronig_negative_beam_energy(ctx):
    """kramers_kronig(beam_energy=-200)"""
    ssd = np.clip(ctx.spectra - ctx.data.zlp, 0, None)
    return lambda: kramers_kronig(
        ctx.energy, ssd, 1e7, beam_energy=-200.0, collection_angle=10.0, refractive_index=2
    )


def kramers_kronig_without_normalisation(ctx):
    """kramers_kronig with neither refractive_index nor thickness"""
    ssd = np.clip(ctx.spectra - ctx.data.zlp, 0, None)
    return lambda: kramers_kronig(
        ctx.energy, ssd, 1e7, beam_energy=200.0, collection_angle=10.0
    )


# -------------------------------------------------------------------- datasets


def synthetic_zero_spectra(ctx):
    """make_synthetic_eels(0)"""
    return lambda: make_synthetic_eels(0)


def synthetic_negative_fwhm(ctx):
    """make_synthetic_eels(fwhm=-0.3)"""
    return lambda: make_synthetic_eels(2, fwhm=-0.3)


def synthetic_negative_thickness(ctx):
    """make_synthetic_eels(t_over_lambda=-1)"""
    return lambda: make_synthetic_eels(2, t_over_lambda=-1.0)


def zlp_shape_zero_fwhm(ctx):
    """zlp_shape(fwhm=0)"""
    return lambda: zlp_shape(ctx.energy, fwhm=0.0)


# (where, error, message pattern): where names the public entry point
CASES = {
    ensemble_zero_replicas: ("ZLPEnsembleRegressor.fit", ValueError, r"n_replicas"),
    ensemble_negative_lr: ("ZLPEnsembleRegressor.fit", ValueError, r"'lr' parameter"),
    ensemble_unknown_activation: (
        "ZLPEnsembleRegressor.fit",
        ValueError,
        r"unknown activations \['swish'\]",
    ),
    ensemble_activations_do_not_match_layers: (
        "ZLPEnsembleRegressor.fit",
        ValueError,
        r"one positive size and one activation per hidden layer",
    ),
    ensemble_validation_fraction_above_one: (
        "ZLPEnsembleRegressor.fit",
        ValueError,
        r"validation_fraction",
    ),
    ensemble_unknown_replica_method: (
        "ZLPEnsembleRegressor.fit",
        ValueError,
        r"replica_method",
    ),
    ensemble_input_ranges_wrong_shape: (
        "ZLPEnsembleRegressor.fit",
        ValueError,
        r"input_ranges must have shape \(2, 2\)",
    ),
    ensemble_input_ranges_reversed: (
        "ZLPEnsembleRegressor.fit",
        ValueError,
        r"input_ranges must have shape \(2, 2\) with low <= high",
    ),
    ensemble_nonpositive_target_with_log: (
        "ZLPEnsembleRegressor.fit",
        ValueError,
        r"values <= 0.*log_target",
    ),
    ensemble_negative_sample_weight: (
        "ZLPEnsembleRegressor.fit",
        ValueError,
        r"sample_weight.*must be >= 0",
    ),
    ensemble_all_zero_sample_weight: (
        "ZLPEnsembleRegressor.fit",
        ValueError,
        r"sample_weight is zero for every point",
    ),
    ensemble_nan_in_X: ("ZLPEnsembleRegressor.fit", ValueError, r"NaN"),
    ensemble_infinite_y: ("ZLPEnsembleRegressor.fit", ValueError, r"infinity|infinite"),
    ensemble_y_of_other_length: (
        "ZLPEnsembleRegressor.fit",
        ValueError,
        r"inconsistent numbers of samples",
    ),
    ensemble_complex_X: ("ZLPEnsembleRegressor.fit", ValueError, r"[Cc]omplex"),
    ensemble_text_X: ("ZLPEnsembleRegressor.fit", ValueError, r"string|number"),
    ensemble_one_dimensional_X: ("ZLPEnsembleRegressor.fit", ValueError, r"2D array"),
    ensemble_predict_before_fit: (
        "ZLPEnsembleRegressor.predict",
        NotFittedError,
        r"not fitted yet",
    ),
    ensemble_predict_other_features: (
        "ZLPEnsembleRegressor.predict",
        ValueError,
        r"3 features.*expecting 2",
    ),
    ensemble_quantile_above_one: (
        "ZLPEnsembleRegressor.predict_quantiles",
        ValueError,
        r"quantiles must be .* in \[0, 1\], got \[0\.5, 1\.5\]",
    ),
    ensemble_confidence_level_one: (
        "ZLPEnsembleRegressor.predict_interval",
        ValueError,
        r"confidence_level must lie in \(0, 1\)",
    ),
    ensemble_cuda_without_gpu: ("ZLPEnsembleRegressor.fit", ValueError, r"no CUDA GPU"),
    subtractor_without_energy_axis: (
        "ZLPSubtractor.fit",
        ValueError,
        r"energy_axis is None",
    ),
    subtractor_decreasing_axis: (
        "ZLPSubtractor.fit",
        ValueError,
        r"energy_axis must be strictly increasing",
    ),
    subtractor_axis_of_other_length: (
        "ZLPSubtractor.fit",
        ValueError,
        r"energy_axis has \d+ channels but the spectra have \d+",
    ),
    subtractor_axis_with_nan: (
        "ZLPSubtractor.fit",
        ValueError,
        r"energy_axis contains NaN",
    ),
    subtractor_axis_without_zero: (
        "ZLPSubtractor.fit",
        ValueError,
        r"does not include 0 eV",
    ),
    subtractor_unaligned_spectra: ("ZLPSubtractor.fit", ValueError, r"not at 0 eV"),
    subtractor_one_dimensional_spectrum: (
        "ZLPSubtractor.fit",
        ValueError,
        r"reshape\(1, -1\)",
    ),
    subtractor_nan_in_spectra: ("ZLPSubtractor.fit", ValueError, r"NaN or infinite"),
    subtractor_complex_spectra: ("ZLPSubtractor.fit", ValueError, r"complex"),
    subtractor_boolean_spectra: ("ZLPSubtractor.fit", ValueError, r"boolean"),
    subtractor_empty_spectrum: (
        "ZLPSubtractor.fit",
        ValueError,
        r"<= 0 counts|no positive",
    ),
    subtractor_missing_acquisition_columns: (
        "ZLPSubtractor.fit",
        ValueError,
        r"'exposure_time'.*acquisition parameters are missing",
    ),
    subtractor_unknown_mode: ("ZLPSubtractor.fit", ValueError, r"'mode' parameter"),
    subtractor_negative_read_noise: ("ZLPSubtractor.fit", ValueError, r"'read_noise'"),
    subtractor_region_edges_reversed: ("ZLPSubtractor.fit", ValueError, r"dE_I"),
    subtractor_region_three_beyond_axis: ("ZLPSubtractor.fit", ValueError, r"region III"),
    subtractor_transform_before_fit: (
        "ZLPSubtractor.transform",
        NotFittedError,
        r"not fitted yet",
    ),
    subtractor_subtract_before_fit: (
        "ZLPSubtractor.subtract",
        NotFittedError,
        r"not fitted yet",
    ),
    subtractor_transform_other_channels: (
        "ZLPSubtractor.transform",
        ValueError,
        r"columns but this ZLPSubtractor was fitted on",
    ),
    subtractor_nested_params_without_regressor: (
        "ZLPSubtractor.set_params",
        ValueError,
        r"regressor",
    ),
    aligner_decreasing_axis: (
        "ZeroLossAligner.fit",
        ValueError,
        r"strictly increasing",
    ),
    aligner_axis_of_other_length: ("ZeroLossAligner.fit", ValueError, r"channels"),
    aligner_nan_in_spectra: ("ZeroLossAligner.fit", ValueError, r"NaN"),
    aligner_complex_spectra: ("ZeroLossAligner.fit", ValueError, r"[Cc]omplex"),
    aligner_search_range_reversed: ("ZeroLossAligner.fit", ValueError, r"search_range"),
    aligner_transform_other_channels: (
        "ZeroLossAligner.transform",
        ValueError,
        r"features",
    ),
    aligner_transform_before_fit: (
        "ZeroLossAligner.transform",
        NotFittedError,
        r"not fitted yet",
    ),
    find_zlp_unknown_method: ("find_zlp_position", ValueError, r"method"),
    mask_negative_de1: ("ZLPRegionMask.fit", ValueError, r"'de1' parameter"),
    mask_unknown_de1_method: ("ZLPRegionMask.fit", ValueError, r"'de1_method' parameter"),
    mask_de1_above_de2: ("ZLPRegionMask.fit", ValueError, r"dE_I|de1"),
    mask_vacuum_of_other_length: ("ZLPRegionMask.fit", ValueError, r"vacuum"),
    mask_unaligned_spectra: ("ZLPRegionMask.fit", ValueError, r"not at 0 eV"),
    mask_transform_other_channels: ("ZLPRegionMask.transform", ValueError, r"features"),
    estimate_de1_unknown_method: ("estimate_de1", ValueError, r"method"),
    estimate_de2_factor_below_one: ("estimate_de2", ValueError, r"factor"),
    window_min_above_max: ("EnergyWindow.fit", ValueError, r"e_min"),
    window_outside_axis: ("EnergyWindow.fit", ValueError, r"channel|axis"),
    window_transform_other_channels: ("EnergyWindow.transform", ValueError, r"features"),
    read_noise_too_few_channels: ("estimate_read_noise", ValueError, r"at least 12"),
    read_noise_energy_of_other_length: (
        "estimate_read_noise",
        ValueError,
        r"one energy per channel|channels",
    ),
    band_gap_window_reversed: ("fit_band_gap", ValueError, r"window"),
    band_gap_window_outside_axis: ("fit_band_gap", ValueError, r"window"),
    band_gap_negative_read_noise: ("fit_band_gap", ValueError, r"read_noise"),
    band_gap_negative_smooth: ("fit_band_gap", ValueError, r"smooth must be a positive"),
    band_gap_energy_of_other_length: ("fit_band_gap", ValueError, r"channels"),
    band_gap_complex_spectra: ("fit_band_gap", ValueError, r"[Cc]omplex"),
    band_gap_image_shaped: ("fit_band_gap", ValueError, r"replica_axis=0.*reshape"),
    band_gap_fitter_transform_before_fit: (
        "BandGapFitter.transform",
        NotFittedError,
        r"not fitted yet",
    ),
    cherenkov_refractive_index_zero: (
        "check_cherenkov",
        ValueError,
        r"refractive_index must be positive",
    ),
    thickness_zlp_of_other_shape: ("t_over_lambda", ValueError, r"shape"),
    summarize_confidence_level_above_one: ("summarize", ValueError, r"confidence_level"),
    mean_free_path_negative_density: (
        "mean_free_path_iakoubovskii",
        ValueError,
        r"density",
    ),
    mean_free_path_malis_zero_angle: ("mean_free_path_malis", ValueError, r"collection"),
    absolute_thickness_negative_path: ("absolute_thickness", ValueError, r"mean_free_path"),
    deconvolution_zlp_of_other_shape: (
        "fourier_log_deconvolution",
        ValueError,
        r"do not broadcast",
    ),
    deconvolution_unknown_tail: ("fourier_log_deconvolution", ValueError, r"tail"),
    kramers_kronig_negative_beam_energy: ("kramers_kronig", ValueError, r"beam_energy"),
    kramers_kronig_without_normalisation: (
        "kramers_kronig",
        ValueError,
        r"refractive_index|thickness",
    ),
    synthetic_zero_spectra: ("make_synthetic_eels", ValueError, r"n_spectra"),
    synthetic_negative_fwhm: ("make_synthetic_eels", ValueError, r"fwhm"),
    synthetic_negative_thickness: ("make_synthetic_eels", ValueError, r"t_over_lambda"),
    zlp_shape_zero_fwhm: ("zlp_shape", ValueError, r"fwhm"),
}


@pytest.fixture(scope="module")
def ctx():
    return Context()


@pytest.mark.parametrize(
    ("case", "where", "error", "match"),
    [pytest.param(case, *expected, id=case.__name__) for case, expected in CASES.items()],
)
def test_bad_input_gets_a_clear_error(ctx, case, where, error, match):
    call = case(ctx)
    with pytest.raises(error, match=match) as info:
        call()
    message = str(info.value)
    # clear: says what was wrong (and, for our own messages, how to fix it)
    assert len(message) >= 25, message
    assert "Unable to avoid copy" not in message


def test_every_case_is_in_the_table():
    defined = {
        name
        for name, value in globals().items()
        if callable(value)
        and getattr(value, "__module__", None) == __name__
        and not name.startswith(("_", "test_", "ctx"))
        and value not in (Context, cached_property)
    }
    assert defined - {case.__name__ for case in CASES} == set()
    for case in CASES:
        assert case.__doc__, f"{case.__name__} needs a one-line description"


def test_docs_table_is_current(tmp_path):
    from _bad_input_table import render_table

    expected = render_table(tmp_path)
    from pathlib import Path

    current = (Path(__file__).parents[1] / "docs" / "bad_inputs.rst").read_text()
    assert current == expected, "regenerate it: make bad-inputs-table"

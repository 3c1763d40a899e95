"""Per-spectrum checks of a subtraction: the statuses its results carry.

Every check uses the fitted subtractor and that spectrum alone (with the
spectrum's model ZLP median and band), so a spectrum's status never depends on
the other spectra of a call. Which values a status leaves standing and which
it turns into NaN is decided per check (ZLPSubtractor's Notes):

- ``no_region_i``: no dE_I for the spectrum, so there is nothing to match: its
  matched ZLP and subtracted spectrum (and t/lambda) are NaN.
- ``poor_fit_in_region_i``, ``zlp_exceeds_data``, ``region_i_too_short``,
  ``extrapolated``: the values stay (they are still the method's best answer),
  the status says that their bands may not cover the truth.

When several apply, the status is the first of :data:`PRECEDENCE`.
"""

import numpy as np
from scipy import ndimage

from .._noise import counting_variance
from .._replicas import replica_band, replica_median, replica_quantiles
from .._status import register_status, status_array
from ._inputs import LOG_TOTAL

__all__ = [
    "EXTRAPOLATED",
    "FWHM_MARGIN",
    "NO_REGION_I",
    "POOR_FIT",
    "PRECEDENCE",
    "REGION_I_TOO_SHORT",
    "ZLP_EXCEEDS_DATA",
    "covariate_extrapolation",
    "fwhm_extrapolation",
    "spectrum_checks",
]

NO_REGION_I = register_status(
    "no_region_i",
    "no dE_I could be determined for the spectrum, so its ZLP cannot be matched: "
    "the matched ZLP, the subtracted spectrum and t/lambda are NaN.",
)
POOR_FIT = register_status(
    "poor_fit_in_region_i",
    "the model ZLP misses the spectrum's data in the matching interval "
    "[dE_0, dE_I) by more than its band and the counting noise allow, or its "
    "median misses them by more than 5 noise standard deviations and by a "
    "fifth of the counts (e.g. an ensemble that has not converged); the "
    "subtracted spectrum is kept, but its band may not hold the truth.",
)
ZLP_EXCEEDS_DATA = register_status(
    "zlp_exceeds_data",
    "the model ZLP's lower band edge lies above the data in region II (between "
    "dE_I and dE_II) on a tenth of the channels or more: there the matched ZLP is "
    "cut to the data, and the subtracted spectrum is too low.",
)
REGION_I_TOO_SHORT = register_status(
    "region_i_too_short",
    "dE_I is less than 2.75 ZLP widths (FWHM): region I holds the peak's core "
    "but little of its tail, so the model's tail beyond dE_I is extrapolated "
    "from the core and the subtracted spectrum above dE_I is too high (e.g. "
    "dE_I estimated without a vacuum reference; give ZLPRegionMask a vacuum "
    "spectrum or a larger de1).",
)
EXTRAPOLATED = register_status(
    "extrapolated",
    "a covariate of the spectrum (e.g. ln N_tot) lies outside the range of the "
    "training spectra (widened by a tenth of it; ln N_tot also by 0.05), or its "
    "ZLP's FWHM lies more than 5% outside theirs: the model extrapolates.",
)

PRECEDENCE = (NO_REGION_I, POOR_FIT, ZLP_EXCEEDS_DATA, REGION_I_TOO_SHORT, EXTRAPOLATED)

# A spectrum's region I must reach this many FWHM, so that the channels before
# dE_I sample the tail the model continues. Measured (synthetic, 16 x 1500,
# ZLPRegionMask(de1=k FWHM), six spectra, t/lambda 0.3-0.7, band gap at 7 FWHM):
# 68% coverage of the true inelastic signal between dE_I and the gap, and bias
# of the subtracted spectrum over the true ZLP there, at k = 2 / 2.5 / 3 / 3.5 /
# 4 / 5: FWHM 0.3 eV 0.00 / 0.63 / 0.83 / 0.86 / 0.83 / 0.78, bias +0.49 /
# +0.09 / +0.01 / 0.00 / +0.02 / +0.04; FWHM 0.6 eV 0.00 / 0.00 / 0.73 / 0.84 /
# 0.84 / 0.79, bias +0.64 / +0.47 / +0.10 / +0.02 / +0.01 / -0.02. Without a
# vacuum reference (issue 11: dE_I 0.75 eV at FWHM 0.3 eV, 2.5 FWHM) coverage
# between 1.5 and 2 eV was 0.04 with every spectrum "ok" at a threshold of 2.
# WS2 with its vacuum reference: 3.8. The threshold lies midway between 2.5
# (bands fail) and 3 (bands hold), clear of 3 itself, which ZLPRegionMask with
# a vacuum reference gives on synthetic FWHM 0.5 eV spectra with a gap at 1.6 eV
# (2.99-3.01, bands holding: coverage 0.75 above dE_I).
MIN_DE1_FWHM = 2.75
# Covariates within a tenth of the training range beyond its ends (ln N_tot
# also within 0.05, a 5% difference in counts) are not an extrapolation.
COVARIATE_MARGIN = 0.1
LOG_TOTAL_MARGIN = 0.05
# zlp_exceeds_data: fraction of region-II channels, and how far above the data.
EXCESS_FRACTION = 0.1
EXCESS_SIGMA = 3.0
# poor_fit_in_region_i: threshold of the mean squared standardised residual in
# [dE_0, dE_I). Measured on clean synthetic spectra (FWHM 0.15, 0.3 and 0.6 eV,
# t/lambda 0.1-1, two seeds each, 16 replicas x 1500 epochs, 96 spectra of
# which 24 not trained on): median 0.26, 99th percentile 1.65, largest 1.78;
# 4 is twice that. Flagged: an onset at 0.8 eV below dE_0 = 1.04 eV (chi^2
# 2-14 rising with t/lambda, 3 of 4 spectra), 1.5 times the counts in the
# interval with 8 replicas x 600 epochs (over 10).
POOR_FIT_CHI2 = 4.0
# ... or the median model alone, without its band, misses the data there by more
# than 5 noise standard deviations in rms AND by a fifth of the counts in median:
# an ensemble that has not converged hides behind a band as wide as its misfit.
# Measured (model chi^2, relative misfit): synthetic spectra of
# tests/test_subtract_quality.py, 8 replicas x 100 epochs 2e5-3.5e5 and 14-16
# (band figure 0.27-0.32: "ok" before), 8 x 600 3.2-5.5 and 0.04-0.05, dE_I at
# 2.5 FWHM 89-163 and 0.06-0.08 (a bright core: chi^2 alone would flag a 7%
# miss); 1.2 / 1.5 / 3 times a training spectrum's counts (ln N_tot outside the
# training range) 34 / 110 / 2.3e4 and 0.13 / 0.24 / 0.30; WS2, 6 x 300 (the
# demo's smallest) 620-950 and 0.24-0.33 ("ok" before, ZLP 38-45% off over 0-1
# eV), 6 x 3000 3.5-17 and 0.016-0.031. Low counts cannot reach both: a 20%
# scatter is the noise itself at 25 counts, where chi^2 is about 1.
POOR_FIT_MODEL_CHI2 = 25.0
POOR_FIT_RELATIVE = 0.2
# zlp_exceeds_data: clean spectra above gave a largest excess fraction of 0.022
# (median and 99th percentile 0); region II at half its inelastic signal minus a
# quarter of the ZLP gave 0-0.11, at 0.3 and minus 0.35 of the ZLP 0.08-0.2.
# extrapolated: FWHM estimates of spectra with one true FWHM scatter by 0.5%
# (20 synthetic spectra each at 0.05, 0.15, 0.3 and 0.6 eV; WS2 specimen spectra
# 0.9%, its vacuum spectra are 4.6% narrower). A model trained at FWHM 0.3 eV
# (16 x 1500) covered the true inelastic signal in [dE_I, dE_I + 1 eV) on
# 0.75-0.92 of the channels at 0.3 eV, 0.62-0.82 at 0.29 eV (-3%) and
# 0.32-0.62 at 0.27 eV (-10%) without any other check noticing.
FWHM_MARGIN = 0.05


def covariate_extrapolation(covariates, training, names):
    """Which spectra have a covariate outside the (widened) training range.

    ``covariates`` (n_spectra, n_covariates) of the spectra, ``training`` of
    the training spectra.
    """
    if covariates.shape[1] == 0:
        return np.zeros(covariates.shape[0], dtype=bool)
    low, high = training.min(axis=0), training.max(axis=0)
    margin = COVARIATE_MARGIN * (high - low)
    margin = margin + np.array([LOG_TOTAL_MARGIN if n == LOG_TOTAL else 0.0 for n in names])
    # a relative floor, so that rounding in equal acquisition parameters never counts
    margin = np.maximum(margin, 1e-9 * np.maximum(np.abs(low), np.abs(high)))
    outside = (covariates < low - margin) | (covariates > high + margin)
    return outside.any(axis=1)


def fwhm_extrapolation(fwhm, training):
    """Which spectra have a ZLP width more than FWHM_MARGIN outside the training range.

    NaN widths (of a spectrum or of all training spectra) never count.
    """
    fwhm = np.asarray(fwhm, dtype=float)
    training = np.asarray(training, dtype=float)
    training = training[np.isfinite(training)]
    if training.size == 0:
        return np.zeros(fwhm.shape, dtype=bool)
    low = training.min() * (1.0 - FWHM_MARGIN)
    high = training.max() * (1.0 + FWHM_MARGIN)
    with np.errstate(invalid="ignore"):
        return (fwhm < low) | (fwhm > high)


def checked_statistics(model, energy, edges, confidence_level):
    """Median and band of the model ZLP on the channels :func:`spectrum_checks` reads.

    Region I of every spectrum (from the lowest dE_0 to the highest dE_I)
    gets the median and the band; the channels beyond, up to the highest
    dE_II, the lower edge of the band only (the excess test reads nothing
    else there); the rest is NaN. ``subtract_batches`` computes the
    whole-axis statistics only when they are read.
    """
    de0, de1, de2 = edges
    median = np.full(model.shape[1:], np.nan)
    band = np.full((2, *model.shape[1:]), np.nan)
    finite = np.isfinite(de0) & np.isfinite(de1)
    if finite.any():
        lo = int(np.searchsorted(energy, np.min(de0[finite]), side="left"))
        mid = int(np.searchsorted(energy, np.max(de1[finite]), side="right"))
        top = np.max(np.fmax(de1, de2)[finite])  # dE_I where there is no dE_II
        hi = max(mid, int(np.searchsorted(energy, top, side="right")))
        median[:, lo:mid] = replica_median(model[:, :, lo:mid])
        band[:, :, lo:mid] = replica_band(model[:, :, lo:mid], confidence_level)
        if hi > mid:
            band[0, :, mid:hi] = replica_quantiles(
                model[:, :, mid:hi], 0.5 * (1.0 - confidence_level)
            )
    return median, band


def spectrum_checks(
    est, spectra, energy, covariates, model_median, model_band, edges, fwhm
):
    """Status and diagnostic numbers of every spectrum of one batch.

    Parameters
    ----------
    est : ZLPSubtractor
        Fitted.
    spectra : ndarray of shape (b, n_channels)
    energy : ndarray of shape (n_channels,)
    covariates : ndarray of shape (b, n_covariates)
    model_median, model_band : ndarray of shape (b, n_channels), (2, b, n_channels)
        Median and band of the model ZLP (before matching), in counts.
    edges : tuple of ndarray of shape (b,)
        dE_0, dE_I, dE_II of each spectrum.
    fwhm : ndarray of shape (b,)
        ZLP width of each spectrum.

    Returns
    -------
    status : ndarray of shape (b,) of object
    diagnostics : dict of ndarray of shape (b,)
        ``region_i_chi2`` (the poor-fit statistic), ``region_i_model_chi2``
        (the same without the model's band), ``region_i_relative_misfit``
        (median of |data - model| / data there), ``de1_over_fwhm``,
        ``zlp_excess_fraction``, ``covariate_outside`` and ``fwhm_outside``.
    """
    de0, de1, de2 = edges
    n = spectra.shape[0]
    outside = covariate_extrapolation(covariates, est.training_covariates_, est.covariates)
    width_outside = fwhm_extrapolation(fwhm, est.fwhm_)
    specimen = est.mode == "specimen"
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = de1 / fwhm if specimen else np.full(n, np.nan)
    chi2 = np.full(n, np.nan)
    model_chi2 = np.full(n, np.nan)
    relative_misfit = np.full(n, np.nan)
    excess = np.full(n, np.nan)
    half = 0.5 * (model_band[1] - model_band[0])
    smooth = ndimage.uniform_filter1d(spectra, 5, axis=1, mode="nearest")
    relative = getattr(est, "relative_sigma_", 0.0)
    for i in range(n):
        if not np.isfinite(de1[i]):
            continue
        s = spectra[i]
        match = (energy >= de0[i]) & (energy < de1[i]) & (s > 0)
        if match.any():
            noise = (
                counting_variance(s[match], est.read_noise_) + (relative * s[match]) ** 2
            )
            misfit = (s[match] - model_median[i, match]) ** 2
            chi2[i] = np.mean(misfit / (noise + half[i, match] ** 2))
            model_chi2[i] = np.mean(misfit / noise)
            relative_misfit[i] = np.median(np.sqrt(misfit) / s[match])
        if specimen:
            region = (energy > de1[i]) & (energy <= de2[i])
            if region.sum() >= 3:
                noise = np.sqrt(counting_variance(smooth[i, region], est.read_noise_) / 5.0)
                above = model_band[0, i, region] > smooth[i, region] + EXCESS_SIGMA * noise
                excess[i] = np.mean(above)
    status = status_array(n)
    flags = {
        NO_REGION_I: ~np.isfinite(de1),
        POOR_FIT: (chi2 > POOR_FIT_CHI2)
        | ((model_chi2 > POOR_FIT_MODEL_CHI2) & (relative_misfit > POOR_FIT_RELATIVE)),
        ZLP_EXCEEDS_DATA: excess >= EXCESS_FRACTION,
        REGION_I_TOO_SHORT: ratio < MIN_DE1_FWHM,
        EXTRAPOLATED: outside | width_outside,
    }
    for name in reversed(PRECEDENCE):  # the first in PRECEDENCE wins
        status[flags[name]] = name
    diagnostics = {
        "region_i_chi2": chi2,
        "region_i_model_chi2": model_chi2,
        "region_i_relative_misfit": relative_misfit,
        "de1_over_fwhm": ratio,
        "zlp_excess_fraction": excess,
        "covariate_outside": outside,
        "fwhm_outside": width_outside,
    }
    return status, diagnostics

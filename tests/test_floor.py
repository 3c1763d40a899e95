"""A floor of counts under the spectrum (dark offset) is t/lambda's status, not silence.

Zoo case pedestal_linear at defaults (before): t/lambda 0.014 high with 68%
bands of +-0.001, none of 30 holding the truth, every status "ok".
"""

import numpy as np
import pytest

from sklearn_zlp import ZLPEnsembleRegressor, ZLPRegionMask, ZLPSubtractor, describe_status
from sklearn_zlp.datasets import load_ws2, make_synthetic_eels
from sklearn_zlp.preprocessing._align import fwhm_of_validated
from sklearn_zlp.subtraction._floor import floor_shift, gain_side_floor


@pytest.mark.parametrize("pedestal", [0.0, 30.0])
def test_gain_side_floor_measures_a_dark_offset(pedestal):
    d = make_synthetic_eels(6, fwhm=0.3, pedestal=pedestal, read_noise=5.0, random_state=1)
    fwhm = fwhm_of_validated(d.spectra, d.energy)
    floor, error = gain_side_floor(d.spectra, d.energy, fwhm, 5.0)
    assert np.all(error > 0) and np.all(error < 3.0)
    # within 5 of its errors of the offset (the generator's gain tail is no
    # pure power law at 3 FWHM: without an offset the floor comes out -0.4 to
    # -4.4 errors, never above)
    assert np.all(np.abs(floor - pedestal) < 5.0 * error)
    # the shift of t/lambda it makes is the offset's share of the counts
    shift = floor_shift(d.noise_free, np.full(6, pedestal))
    truth = np.log(d.noise_free.sum(1) / (d.noise_free.sum(1) - d.pedestal.sum()))
    np.testing.assert_allclose(shift, truth, rtol=1e-12)


def _floor_by_lstsq(distance, y, read_noise):
    """The floor fit of _floor.py done the slow way: one QR least squares per power."""
    from sklearn_zlp._noise import counting_variance
    from sklearn_zlp.subtraction._floor import _POWERS

    root_w = 1.0 / np.sqrt(counting_variance(y, read_noise))
    fits = []
    for p in _POWERS:
        design = np.column_stack([np.ones_like(distance), distance**-p]) * root_w[:, None]
        coef = np.linalg.lstsq(design, y * root_w, rcond=None)[0]
        chi2 = float(np.sum((y * root_w - design @ coef) ** 2))
        fits.append((chi2, coef[0], np.sqrt(np.linalg.inv(design.T @ design)[0, 0])))
    chi2s, floors, errors = np.array(fits).T
    k = int(np.argmin(chi2s))
    scale = max(1.0, chi2s[k] / max(y.size - 3, 1))
    near = chi2s <= chi2s[k] + scale
    return floors[k], max(errors[k] * np.sqrt(scale), 0.5 * np.ptp(floors[near]))


@pytest.mark.parametrize("fwhm, pedestal", [(0.1, 0.0), (0.3, 30.0), (1.0, 0.0)])
def test_all_powers_at_once_equal_one_least_squares_per_power(fwhm, pedestal):
    d = make_synthetic_eels(5, fwhm=fwhm, pedestal=pedestal, random_state=2)
    width = fwhm_of_validated(d.spectra, d.energy)
    floor, error = gain_side_floor(d.spectra, d.energy, width, 5.0)
    for i in range(5):
        use = d.energy < -3.0 * width[i]
        expected = _floor_by_lstsq(-d.energy[use], d.spectra[i, use], 5.0)
        np.testing.assert_allclose(
            [floor[i], error[i]], expected, rtol=1e-9, atol=1e-9 * error[i]
        )


def test_no_gain_side_no_floor():
    d = make_synthetic_eels(2, energy=np.linspace(-0.5, 10.0, 421), random_state=0)
    fwhm = fwhm_of_validated(d.spectra, d.energy)
    floor, error = gain_side_floor(d.spectra, d.energy, fwhm, 0.0)
    assert np.isnan(floor).all() and np.isnan(error).all()  # 3 FWHM = 0.9 eV beyond -0.5


def _subtract(pedestal):
    d = make_synthetic_eels(
        5, fwhm=0.3, t_over_lambda=(0.3, 0.7), e_bg=1.6, pedestal=pedestal, random_state=3
    )
    sub = ZLPSubtractor(
        energy_axis=d.energy,
        regressor=ZLPEnsembleRegressor(
            n_replicas=8, max_epochs=1500, lr=0.1, random_state=0
        ),
        regions=ZLPRegionMask(de1=1.3, de2=5.0),
        random_state=0,
    ).fit(d.spectra)
    return d, sub.subtract(d.spectra)


def test_dark_offset_gives_t_over_lambda_its_status():
    d, result = _subtract(100.0)
    # the subtraction itself is fine; t/lambda includes the offset
    assert list(result.status) == ["ok"] * 5
    assert list(result.t_over_lambda_status) == ["gain_side_floor"] * 5
    truth = np.log((d.noise_free - d.pedestal).sum(1) / d.zlp.sum(1))
    low, high = result.t_over_lambda_band
    assert not np.any((low <= truth) & (truth <= high))  # what the status warns of
    # the shift it reports is the offset's share: t/lambda less it is the truth
    # within the (small ensemble's) band
    np.testing.assert_allclose(
        result.t_over_lambda - result.diagnostics["floor_t_over_lambda"], truth, atol=0.01
    )
    np.testing.assert_allclose(result.diagnostics["gain_side_floor"], 100.0, atol=5.0)
    assert "dark offset" in describe_status("gain_side_floor")


def test_no_offset_leaves_t_over_lambda_ok():
    _, result = _subtract(0.0)
    assert list(result.t_over_lambda_status) == ["ok"] * 5


def test_ws2_spectra_sit_on_a_floor():
    # the bundled WS2 specimen spectra level off at 260-380 counts per channel
    # on the gain side: 0.009-0.013 of their t/lambda (~0.12)
    ws2 = load_ws2()
    X = ws2.sample
    energy = ws2.energy - ws2.energy[np.argmax(X[0])]
    floor, error = gain_side_floor(X, energy, fwhm_of_validated(X, energy), 0.0)
    assert np.all(floor > 5 * error)
    shift = floor_shift(X, floor)
    assert np.all((shift > 0.005) & (shift < 0.02))

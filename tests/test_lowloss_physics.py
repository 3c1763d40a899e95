"""Thickness, Fourier-log deconvolution and Kramers-Kronig analysis against ground truth.

Replicas are (spectrum, ZLP) pairs: the true ZLP times (1 + a small per-replica
perturbation), the way a fitted ZLP ensemble would pair with one measured
spectrum.
"""

import numpy as np
import pytest

from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.physics._thickness import (
    absolute_thickness,
    mean_free_path_iakoubovskii,
    mean_free_path_malis,
    summarize,
    t_over_lambda,
)

# The axis reaches ~9 plasmon energies so that the log-ratio misses < 0.1% of
# the inelastic intensity (make_synthetic_eels docstring).
ENERGY = np.linspace(-4.0, 200.0, 2041)
N_REPLICAS = 25


@pytest.fixture(scope="module")
def metal():
    return make_synthetic_eels(
        3,
        t_over_lambda=0.3,
        e_bg=None,
        plasmon_energy=22.0,
        plasmon_width=5.0,
        beam_energy=200.0,
        collection_angle=10.0,
        energy=ENERGY,
        random_state=0,
    )


@pytest.fixture(scope="module")
def semiconductor():
    return make_synthetic_eels(
        3, t_over_lambda=0.3, e_bg=1.6, energy=ENERGY, random_state=1
    )


def _zlp_replicas(zlp, n_replicas=N_REPLICAS, scale=0.005, seed=0):
    """Ensemble (n_replicas, n_spectra, n_channels): the true ZLP times 1 + delta."""
    rng = np.random.default_rng(seed)
    delta = rng.normal(0.0, scale, size=(n_replicas,) + zlp.shape[:-1] + (1,))
    return zlp[None] * (1.0 + delta)


# --------------------------------------------------------------------------- thickness


@pytest.mark.parametrize("name", ["metal", "semiconductor"])
def test_log_ratio_recovers_t_over_lambda_within_2_percent(name, request):
    data = request.getfixturevalue(name)
    values = t_over_lambda(data.spectra, data.zlp)
    np.testing.assert_allclose(values, data.t_over_lambda, rtol=0.02)
    # Measured: worst relative error 0.2% (noisy spectra, true ZLP).
    assert np.max(np.abs(values / data.t_over_lambda - 1)) < 0.005


def test_log_ratio_per_replica_and_interval(metal):
    zlps = _zlp_replicas(metal.zlp)
    values = t_over_lambda(metal.spectra, zlps)
    assert values.shape == (N_REPLICAS, 3)
    median, low, high = summarize(values)
    assert median.shape == (3,)
    assert np.all(low < median) and np.all(median < high)
    # A ZLP scaled by 1 + delta shifts t/lambda by -ln(1 + delta) ~ -delta:
    # the 68% interval spans ~2 x 0.005 around the truth.
    np.testing.assert_allclose(high - low, 0.01, rtol=0.4)
    np.testing.assert_allclose(median, metal.t_over_lambda, rtol=0.02)


def test_log_ratio_subtracted_input_and_energy_range(metal):
    full = t_over_lambda(metal.spectra, metal.zlp)
    subtracted = t_over_lambda(metal.spectra - metal.zlp, metal.zlp, zlp_subtracted=True)
    np.testing.assert_allclose(subtracted, full)
    short = t_over_lambda(
        metal.spectra, metal.zlp, energy=metal.energy, energy_range=(-4.0, 50.0)
    )
    assert np.all(short < full)
    with pytest.raises(ValueError, match="no channel"):
        t_over_lambda(
            metal.spectra, metal.zlp, energy=metal.energy, energy_range=(300, 400)
        )


def test_iakoubovskii_reference_values():
    lam = mean_free_path_iakoubovskii(3.6, 200.0)
    assert lam == pytest.approx(133.6, abs=0.05)
    corrected = mean_free_path_iakoubovskii(3.6, 200.0, 10.0, 20.0)
    assert corrected / lam == pytest.approx(1.0645, abs=5e-4)
    with pytest.raises(ValueError, match="both"):
        mean_free_path_iakoubovskii(3.6, 200.0, 10.0)


def test_malis_and_absolute_thickness():
    # Em = 7.6 Z^0.36 = 19.65 eV for Z = 14; 106 F E0 / (Em ln(2 beta E0 / Em)).
    lam = mean_free_path_malis(14.0, 200.0, 10.0)
    assert lam == pytest.approx(125.33, abs=0.01)
    # Longer at higher beam energy, shorter for heavier elements.
    assert (
        mean_free_path_malis(14.0, 300.0, 10.0)
        > lam
        > mean_free_path_malis(30.0, 200.0, 10.0)
    )
    t = absolute_thickness(np.array([0.2, 0.3]), lam)
    np.testing.assert_allclose(t, [0.2 * lam, 0.3 * lam])


def test_summarize_percentiles():
    values = np.arange(101.0)[:, None] * np.ones((1, 2))
    median, low, high = summarize(values)
    np.testing.assert_allclose([median, low, high], [[50, 50], [16, 16], [84, 84]])
    _, low95, high95 = summarize(values, confidence_level=0.95)
    np.testing.assert_allclose([low95[0], high95[0]], [2.5, 97.5])
    with pytest.raises(ValueError, match="confidence_level"):
        summarize(values, confidence_level=1.5)

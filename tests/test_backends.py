"""Replica training on dask and ray through joblib's backends: bitwise equal to loky.

Seeds are drawn up front and each chunk's result depends on its own replicas and
seeds alone, so which joblib backend (and which worker process) trains a chunk
must not change a single bit of the fit.
"""

import logging

import joblib
import numpy as np
import pytest

from sklearn_zlp import ZLPEnsembleRegressor, ZLPSubtractor
from sklearn_zlp.datasets import make_synthetic_eels
from sklearn_zlp.preprocessing import ZLPRegionMask

TINY = {
    "n_replicas": 4,
    "replicas_per_chunk": 2,
    "hidden_layer_sizes": (5,),
    "activations": ("sigmoid",),
    "max_epochs": 30,
    "n_jobs": 2,
    "random_state": 0,
}

# The fitted arrays that must match bit for bit, besides transform(X).
REPLICA_ARRAYS = (
    "random_seeds_",
    "replica_chi2_",
    "replica_valid_chi2_",
    "replica_best_epoch_",
    "replica_status_",
    "n_epochs_",
)


def _peak_points(n_points=100, seed=0):
    """Points (E,) and counts of a 1-D Gaussian-core ZLP with a weak tail."""
    energy = np.linspace(-0.5, 1.5, n_points)
    truth = 1e5 * (np.exp(-0.5 * (energy / 0.15) ** 2) + 1e-3 / (1 + energy**2))
    counts = np.random.default_rng(seed).poisson(truth).astype(float)
    return energy[:, None], counts


def _fit_regressor(X, y, backend):
    with joblib.parallel_config(backend=backend):
        return ZLPEnsembleRegressor(**TINY).fit(X, y)


def _fit_subtractor(data, backend):
    subtractor = ZLPSubtractor(
        energy_axis=data.energy,
        regressor=ZLPEnsembleRegressor(**TINY),
        regions=ZLPRegionMask(de1_method="derivative"),
        random_state=0,
    )
    with joblib.parallel_config(backend=backend):
        return subtractor.fit(data.spectra)


def _assert_same_replicas(fit, reference):
    for name in REPLICA_ARRAYS:
        assert np.array_equal(getattr(fit, name), getattr(reference, name)), name


@pytest.fixture(scope="module")
def points():
    return _peak_points()


@pytest.fixture(scope="module")
def loky_fit(points):
    return _fit_regressor(*points, "loky")


@pytest.fixture(scope="module")
def spectra():
    return make_synthetic_eels(n_spectra=4, random_state=0)


@pytest.fixture(scope="module")
def loky_subtractor(spectra):
    return _fit_subtractor(spectra, "loky")


@pytest.fixture(scope="module")
def ray_backend():
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    register_ray()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    yield "ray"
    ray.shutdown()


def test_dask_backend_trains_on_the_cluster_and_equals_loky_bitwise(
    points, loky_fit, dask_client
):
    from distributed import get_task_stream

    X, y = points
    with get_task_stream(dask_client) as stream:
        fit = _fit_regressor(X, y, "dask")
    # The chunks really ran on the cluster's workers, not in this process.
    # (each chunk's fit_group runs inside run_with_engine_settings, which names the task)
    chunks = [task for task in stream.data if "run_with_engine_settings" in task["key"]]
    assert len(chunks) >= 2, [task["key"] for task in stream.data]
    _assert_same_replicas(fit, loky_fit)
    assert np.array_equal(fit.transform(X), loky_fit.transform(X))


def test_subtractor_fitted_through_dask_equals_loky_bitwise(
    spectra, loky_subtractor, dask_client
):
    fit = _fit_subtractor(spectra, "dask")
    _assert_same_replicas(fit.regressor_, loky_subtractor.regressor_)
    assert np.array_equal(
        fit.transform(spectra.spectra), loky_subtractor.transform(spectra.spectra)
    )


def test_ray_backend_equals_loky_bitwise(points, loky_fit, ray_backend):
    X, y = points
    fit = _fit_regressor(X, y, ray_backend)
    _assert_same_replicas(fit, loky_fit)
    assert np.array_equal(fit.transform(X), loky_fit.transform(X))

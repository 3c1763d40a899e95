"""Shared fixtures: the bundled WS2 spectra, aligned once per session; a dask cluster."""

import logging

import numpy as np
import pytest

from sklearn_zlp.datasets import load_ws2
from sklearn_zlp.preprocessing import ZeroLossAligner


@pytest.fixture(scope="session")
def ws2():
    """The raw WS2 data set (``load_ws2()``)."""
    return load_ws2()


@pytest.fixture(scope="session")
def ws2_aligned(ws2):
    """(specimen spectra, vacuum spectra, energy axis), each aligned at 0 eV."""
    aligner = ZeroLossAligner(energy_axis=ws2.energy).fit(ws2.sample)
    vacuum = ZeroLossAligner(energy_axis=ws2.energy).fit(ws2.vacuum)
    assert np.allclose(aligner.energy_axis_, vacuum.energy_axis_)
    return aligner.transform(ws2.sample), vacuum.transform(ws2.vacuum), aligner.energy_axis_


@pytest.fixture(scope="module")
def dask_client():
    """A ``dask.distributed`` client on a LocalCluster of 2 worker processes.

    Module-scoped: while it lives it is dask's default scheduler, which no test
    of another module should meet.
    """
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,  # no port to clash with a parallel test run
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()

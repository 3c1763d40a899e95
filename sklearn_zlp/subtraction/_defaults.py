"""The ensemble ZLPSubtractor fits by default, and how its regressor is prepared."""

import numpy as np
from sklearn.base import clone

from ..ensemble import ZLPEnsembleRegressor
from ._point_table import robust_ranges

__all__ = ["attach_table", "default_regressor", "fresh_regressor"]


def default_regressor(random_state=None, n_jobs=None):
    """The ensemble :class:`ZLPSubtractor` fits when ``regressor=None``.

    The paper's architecture and 100 replicas, with a learning rate and epoch
    budget measured to fit the WS2 spectra's zero-loss peaks within a few per
    cent (benchmarks/README.md), and replicas with outlying chi^2 dropped.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        The ensemble's ``random_state``.
    n_jobs : int, default=None
        The ensemble's ``n_jobs``: parallel training jobs, -1 for all cores,
        None for one (unless in a :func:`joblib.parallel_backend` context).

    Returns
    -------
    regressor : ZLPEnsembleRegressor
        Unfitted.
    """
    return ZLPEnsembleRegressor(
        n_replicas=100,
        max_epochs=3000,
        lr=0.1,
        reject_outliers=3.0,
        n_jobs=n_jobs,
        random_state=random_state,
    )


def fresh_regressor(est, rng):
    """An unfitted clone of ``est.regressor`` (or the default), seeded from ``rng``.

    A regressor with ``random_state=None`` gets a seed drawn from ``rng``.
    """
    if est.regressor is None:
        regressor = default_regressor(n_jobs=est.n_jobs)
    else:
        regressor = clone(est.regressor)
    params = regressor.get_params()
    if "random_state" in params and params["random_state"] is None:
        regressor.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
    return regressor


def attach_table(regressor, table, names):
    """Give an ensemble its robust input ranges (unless set) and the monotonic grid."""
    if not isinstance(regressor, ZLPEnsembleRegressor):
        return
    monotonic = table.monotonic
    if regressor.get_params().get("input_ranges") is None:
        points = table.points if monotonic is None else np.vstack([table.points, monotonic])
        regressor.set_params(input_ranges=robust_ranges(points, table.covariates, names))
    if monotonic is not None:
        regressor.set_params(monotonic_X=monotonic)

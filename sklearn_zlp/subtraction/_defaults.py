"""The ensemble ZLPSubtractor fits by default."""

from ..ensemble import ZLPEnsembleRegressor

__all__ = ["default_regressor"]


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

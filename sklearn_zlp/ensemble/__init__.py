"""The core learner: a Monte Carlo replica ensemble of networks (sklearn-facing).

:class:`ZLPEnsembleRegressor` draws the replicas (``_draws``), trains chunks of
them as batched skorch nets (``_net``, ``_training``) in parallel through joblib,
and serves predictions, intervals and one column per replica.
"""

from ._regressor import ZLPEnsembleRegressor

__all__ = ["ZLPEnsembleRegressor"]

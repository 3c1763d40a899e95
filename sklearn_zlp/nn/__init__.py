"""Torch side of the ensemble: batched replica networks, their training step and Adam.

Nothing here imports scikit-learn or skorch. :class:`ReplicaMLP` holds every
replica's network as one module; its training step and forward pass run in the
compiled kernel (``_ckernel*.c``, through :mod:`._kernel`) where
:func:`engine_info` says it is the engine, and in their torch twins otherwise.
"""

from ._adam import ReplicaAdam
from ._library import engine_info
from ._losses import monotonic_penalty, replica_chi2
from ._modules import ACTIVATIONS, ReplicaMLP

__all__ = [
    "ACTIVATIONS",
    "ReplicaAdam",
    "ReplicaMLP",
    "engine_info",
    "monotonic_penalty",
    "replica_chi2",
]

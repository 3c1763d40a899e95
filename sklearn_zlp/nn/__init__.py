"""Torch side of the ensemble: batched replica networks and their training step.

Nothing here imports scikit-learn or skorch. :class:`ReplicaMLP` holds every
replica's network as one module; its training step and forward pass run in the
compiled kernel (``_ckernel.c``, through :mod:`._kernel`) where it applies, and
in their torch twins otherwise.
"""

from ._modules import ACTIVATIONS, ReplicaMLP, monotonic_penalty, replica_chi2

__all__ = ["ACTIVATIONS", "ReplicaMLP", "monotonic_penalty", "replica_chi2"]

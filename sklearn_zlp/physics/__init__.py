"""Replica-aware low-loss physics on ZLP-subtracted spectra.

Functions take arrays shaped (..., n_channels) or (n_replicas, ..., n_channels)
and return per-replica values together with medians and 68% intervals, so that
the replica uncertainty is carried through every step without linear error
propagation.
"""

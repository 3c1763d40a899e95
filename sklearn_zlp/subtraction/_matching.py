"""Matching: the ZLP of each replica joined to the data (Roest et al. 2021, sec. 3)."""

import numpy as np
from scipy import ndimage

__all__ = ["match_zlp", "model_weight"]


def _smoothstep(x):
    """C2-smooth step from 0 (x <= 0) to 1 (x >= 1)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def model_weight(energy, de0, de1, *, mirror):
    """Weight of the model in the matched ZLP, (n_spectra, n_channels); the data's is 1 - w.

    0 below dE_0 (and on the gain side unless ``mirror``), 1 above dE_I, a
    C2-smooth step between.
    """
    e = np.abs(energy) if mirror else energy
    width = np.maximum(de1 - de0, 1e-12)
    w = _smoothstep((e[None, :] - de0[:, None]) / width[:, None])
    if not mirror:
        w = np.where(energy[None, :] > 0, w, 0.0)
    return w


def match_zlp(model, spectra, energy, de0, de1, *, mirror, out=None):
    """Matched ZLP of every replica (Roest et al. 2021, eq. 3.1 and around it).

    Data below dE_0, model above dE_I, a smooth blend between them; the gain side
    is the data (or mirrored matching); beyond dE_I the ZLP never rises with
    energy (running minimum) and never exceeds the data smoothed over 5 channels.
    ``model`` is (n_replicas, n_spectra, n_channels); ``out`` (which may be
    ``model`` itself) receives the result. Every spectrum is matched on its own.
    """
    w = model_weight(energy, de0, de1, mirror=mirror)
    # in place on one replicas-sized array: at replicas x spectra x channels
    # floats, every temporary costs as much as the networks' evaluation
    zlp = np.multiply(model, w[None], out=out)
    zlp += ((1.0 - w) * spectra)[None]
    # Never more ZLP than signal (where the model enters), then never rising
    # again beyond dE_I: the running minimum keeps both properties.
    smooth = ndimage.uniform_filter1d(spectra, 5, axis=1, mode="nearest")
    np.minimum(zlp, np.maximum(smooth, 0.0)[None], out=zlp, where=(w > 0)[None])
    # energy increases, so the channels beyond dE_I are a tail of the axis
    starts = np.searchsorted(energy, de1, side="right")
    for i, start in enumerate(starts):
        if start < energy.size:
            # channel after channel over all replicas at once: the same
            # minima, in less than the time of one running minimum per replica
            tail = zlp[:, i, start:].T
            np.minimum.accumulate(tail, axis=0, out=tail)
    return zlp

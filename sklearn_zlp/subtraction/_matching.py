"""Matching: the ZLP of each replica joined to the data (Roest et al. 2021, sec. 3)."""

import numpy as np
from scipy import ndimage

from .._noise import counting_variance

__all__ = ["match_zlp", "vacuum_range"]


def _smoothstep(x):
    """C2-smooth step from 0 (x <= 0) to 1 (x >= 1)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def match_zlp(model, spectra, energy, de0, de1, *, mirror):
    """Matched ZLP of every replica (Roest et al. 2021, eq. 3.1 and around it).

    Data below dE_0, model above dE_I, a smooth blend between them; the gain side
    is the data (or mirrored matching); beyond dE_I the ZLP never rises with
    energy (running minimum) and never exceeds the data smoothed over 5 channels.
    """
    e = np.abs(energy) if mirror else energy
    width = np.maximum(de1 - de0, 1e-12)
    w = _smoothstep((e[None, :] - de0[:, None]) / width[:, None])  # (n_spectra, n_ch)
    if not mirror:
        w = np.where(energy[None, :] > 0, w, 0.0)
    # (in place on one replicas-sized array: at replicas x spectra x channels
    # floats, every temporary costs as much as the networks' evaluation)
    zlp = model * w[None]
    zlp += ((1.0 - w) * spectra)[None]
    # Never more ZLP than signal (where the model enters), then never rising
    # again beyond dE_I: the running minimum keeps both properties.
    smooth = ndimage.uniform_filter1d(spectra, 5, axis=1, mode="nearest")
    np.minimum(zlp, np.maximum(smooth, 0.0)[None], out=zlp, where=(w > 0)[None])
    # energy increases, so the channels beyond dE_I are a tail of the axis
    starts = np.searchsorted(energy, de1, side="right")
    for i, start in enumerate(starts):
        if start < energy.size:
            tail = zlp[:, i, start:]
            np.minimum.accumulate(tail, axis=-1, out=tail)
    return zlp


def vacuum_range(spectra, energy, read_noise):
    """Energy range of each vacuum spectrum whose smoothed signal exceeds 3 sigma.

    Returns (gain, loss) extents in eV: channels from -gain to +loss train.
    """
    smooth = ndimage.uniform_filter1d(spectra, 5, axis=1, mode="nearest")
    noise = np.sqrt(counting_variance(smooth, read_noise)) / np.sqrt(5.0)
    gain, loss = np.empty(spectra.shape[0]), np.empty(spectra.shape[0])
    zero = int(np.argmin(np.abs(energy)))
    for i in range(spectra.shape[0]):
        below = smooth[i] <= 3 * noise[i]
        right = np.flatnonzero(below[zero:])
        left = np.flatnonzero(below[: zero + 1][::-1])
        loss[i] = energy[zero + right[0] - 1] if right.size else energy[-1]
        gain[i] = -energy[zero - left[0] + 1] if left.size else -energy[0]
    return gain, loss

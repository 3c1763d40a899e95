"""The model ZLP beyond the energies it was trained on: a power-law continuation.

A network knows the ZLP only over the energies of its training points (region
I and the region-III pseudo-data in specimen mode, the channels above the noise
in vacuum mode). Beyond them its sigmoid units saturate and it predicts a
constant: measured on synthetic spectra (t/lambda 1-2.5, FWHM 0.5 eV, axis to
190 eV) that flat floor held 1.1% of the ZLP's counts beyond 20 eV where the
true ZLP holds 0.01%, which biased t/lambda by -0.012 to -0.017 with a band of
+-0.003; on vacuum spectra of a sharp ZLP (FWHM 0.08 eV) the prediction beyond
the trained range was 5 to 1000 times the true ZLP. A field-emission ZLP falls
as a power law in its tails, so each replica is continued from the edge of the
trained range as a power law falling at least as 1/E: in specimen mode with the
spectrum's own tail law (that of its region-III pseudo-data), in vacuum mode
with each replica's logarithmic slope over the last third of the trained range.
The networks' own slope over the pseudo-data is not used in specimen mode:
measured on synthetic spectra (FWHM 0.3 eV, true tail power -2.6, pseudo-data
-2.53) it was -0.75 in the median replica (-2.6 to +0.02), which left 4.5 times
the true ZLP's counts between 1.5 dE_II and 20 eV.
"""

import numpy as np

__all__ = ["MIN_TAIL_POWER", "anchor_energies", "continue_tails"]

# The continuation falls at least as |E|^-1 (the pseudo-data's tail law keeps the
# same bound, see tail_extrapolation).
MIN_TAIL_POWER = -1.0
# The slope of a replica's tail is measured between the edge and the edge / 1.5:
# in specimen mode exactly the region-III pseudo-data [dE_II, 1.5 dE_II].
_ANCHOR_RATIO = 1.5


def anchor_energies(trained_range):
    """The energies (eV) at which each replica's tail is measured, or None.

    ``(gain edge / 1.5, gain edge, loss edge / 1.5, loss edge)``: the edges of
    the trained range and a point a third inside each; None where the range
    does not straddle 0 eV (no tail to continue).
    """
    low, high = (float(v) for v in trained_range)
    if not low < 0 < high:
        return None
    return np.array([low / _ANCHOR_RATIO, low, high / _ANCHOR_RATIO, high])


def continue_tails(model, energy, anchors, values, loss_slope=None):
    """Replace ``model`` beyond the trained range by power laws, in place.

    Parameters
    ----------
    model : ndarray of shape (n_replicas, n_spectra, n_channels)
        Every replica's ZLP on ``energy``.
    energy : ndarray of shape (n_channels,)
        Energy axis in eV.
    anchors : ndarray of shape (4,)
        :func:`anchor_energies`.
    values : ndarray of shape (n_replicas, n_spectra, 4)
        The replicas' ZLP at ``anchors``, same units as ``model``.
    loss_slope : ndarray of shape (n_spectra,), default=None
        Power of each spectrum's loss-side tail (specimen mode: the law of its
        region-III pseudo-data, :func:`~._point_table.tail_law`); NaN or None:
        each replica's own slope.

    Returns
    -------
    model : ndarray
        The same array: ``Z(edge) (E / edge)^p`` beyond each edge, with ``p``
        the given slope, or the replica's slope of ln Z over ln|E| between
        the anchor a third inside and the edge, at most -1. Replicas whose
        anchor values are not positive keep the network's prediction.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(values)
    for inner, edge, beyond in (
        (0, 1, energy < anchors[1]),
        (2, 3, energy > anchors[3]),
    ):
        if not beyond.any():
            continue
        slope = (logs[..., edge] - logs[..., inner]) / np.log(_ANCHOR_RATIO)
        if edge == 3 and loss_slope is not None:
            given = np.asarray(loss_slope, dtype=float)[None, :]
            slope = np.where(np.isfinite(given), given, slope)
        slope = np.minimum(slope, MIN_TAIL_POWER)
        ok = np.isfinite(slope) & np.isfinite(logs[..., edge])
        ratio = np.log(energy[beyond] / anchors[edge])  # > 0 on both sides
        tail = np.exp(logs[..., edge, None] + slope[..., None] * ratio)
        current = model[:, :, beyond]
        model[:, :, beyond] = np.where(ok[..., None], tail, current)
    return model

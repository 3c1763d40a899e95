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
trained range as a power law falling at least as 1/E, with the power measured
on the data (:func:`~._point_table.tail_law`): on the loss side in specimen
mode the spectrum's own (the law its region-III pseudo-data follow), otherwise
the median of the training spectra's tails (``tail_powers_``). The networks'
own slopes are not used: measured on synthetic spectra (FWHM 0.3 eV, true tail
power -2.6, pseudo-data -2.53) the slope over the pseudo-data was -0.75 in the
median replica (-2.6 to +0.02), which left 4.5 times the true ZLP's counts
between 1.5 dE_II and 20 eV; on sharp vacuum peaks (FWHM 0.08 eV) the slopes
near the end of the trained range, where the counts reach the noise, were as
flat.
"""

import numpy as np

__all__ = [
    "MIN_TAIL_POWER",
    "VACUUM_ANCHOR_FRACTION",
    "anchor_energies",
    "continue_tails",
]

# The continuation falls at least as |E|^-1 (the pseudo-data's tail law keeps the
# same bound, see tail_extrapolation).
MIN_TAIL_POWER = -1.0


# In vacuum mode the continuation starts halfway to the edges of the trained
# range: the trained range ends where a vacuum spectrum's smoothed counts reach
# 3 sigma of the noise, and there the networks flatten. Measured on synthetic
# vacuum spectra (FWHM 0.3 eV, read noise 5, 8 replicas of 600 epochs): model /
# true ZLP 1.14 at half the loss edge (3.8 eV), 3.7 at the edge (7.6 eV) and
# 4.0-4.6 beyond it when continued from there. Halfway the counts are about
# 2^2.5 ~ 6 times the noise end, and the window of tail_powers ([E/2, E)) starts.
VACUUM_ANCHOR_FRACTION = 0.5


def anchor_energies(trained_range, mode="specimen"):
    """Where (gain, loss) the power-law continuation starts, in eV, or None.

    The edges of the trained range in specimen mode, halfway to them in vacuum
    mode (:data:`VACUUM_ANCHOR_FRACTION`). None where the range does not
    straddle 0 eV (no tail to continue).
    """
    low, high = (float(v) for v in trained_range)
    if not low < 0 < high:
        return None
    anchors = np.array([low, high])
    if mode == "vacuum":
        anchors *= VACUUM_ANCHOR_FRACTION
    return anchors


def continue_tails(model, energy, anchors, values, powers):
    """Replace ``model`` beyond the trained range by power laws, in place.

    Parameters
    ----------
    model : ndarray of shape (n_replicas, n_spectra, n_channels)
        Every replica's ZLP on ``energy``.
    energy : ndarray of shape (n_channels,)
        Energy axis in eV.
    anchors : ndarray of shape (2,)
        :func:`anchor_energies`.
    values : ndarray of shape (n_replicas, n_spectra, 2)
        The replicas' ZLP at ``anchors``, same units as ``model``.
    powers : ndarray of shape (2, n_spectra)
        Power of the gain- and loss-side tail of each spectrum's ZLP (at most
        -1 is used); NaN leaves the network's prediction on that side.

    Returns
    -------
    model : ndarray
        The same array: ``Z(edge) (E / edge)^p`` beyond each edge. Replicas
        whose edge value is not positive keep the network's prediction.
    """
    # The axis is increasing: what lies beyond each anchor is a slice, so the
    # model is written in place through a view (no copies of the replica cube).
    gain = slice(0, int(np.searchsorted(energy, anchors[0], side="left")))
    loss = slice(int(np.searchsorted(energy, anchors[1], side="right")), energy.size)
    for side, beyond in ((0, gain), (1, loss)):
        if beyond.start >= beyond.stop:
            continue
        power = np.minimum(np.asarray(powers[side], dtype=float), MIN_TAIL_POWER)
        edge = values[..., side]
        ok = np.isfinite(power)[None, :] & np.isfinite(edge) & (edge > 0)
        # (E / edge)^p depends on the spectrum and channel only: computed once,
        # not once per replica.
        ratio = np.log(energy[beyond] / anchors[side])  # > 0 on both sides
        with np.errstate(invalid="ignore"):
            shape = np.exp(power[:, None] * ratio[None, :])
            tail = edge[..., None] * shape[None]
        np.copyto(model[:, :, beyond], tail, where=ok[..., None])
    return model

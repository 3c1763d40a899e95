"""Spectrum-to-spectrum scatter of vacuum ZLPs: what a new spectrum's ZLP may differ by.

The replicas of the ensemble spread by how well the *mean* ZLP shape is known
from the training spectra. A new spectrum's ZLP differs from that mean by
more: beam current fluctuations within the exposure, small changes of width and
asymmetry, sub-channel alignment, detector effects. In vacuum mode the model is
used to predict the ZLP of spectra it has not seen, so its bands must hold
that scatter too. It is measured on the training spectra themselves: their
relative residuals from the model median, with the expected counting noise
removed, are the shapes a new spectrum's deviation is drawn from (a Gaussian
with their covariance across channels, so that a deviation keeps the
correlations seen in the data, e.g. a narrower core with weaker tails).

Measured (leave one out, vacuum mode, 16 replicas x 2000 epochs): on the WS2
vacuum spectra the training spectra's residual (counting noise removed) was
0.057-0.079 rms over -0.2..0.3 eV, the held-out spectrum's 0.057-0.079, while
the replicas' half-band was 0.03-0.05: the scatter generalises from the
training spectra to a new one; the network does not learn one shape per
spectrum from the ln N_tot covariate.
"""

import numpy as np
from scipy import ndimage

from .._noise import counting_variance
from .._replicas import replica_median

__all__ = ["MAX_SCATTER_SHAPES", "add_scatter", "scatter_shapes"]

# Shapes kept: the leading principal components of the training residuals, their
# variance per channel restored to the whole; bounds the cost per new spectrum.
MAX_SCATTER_SHAPES = 16
# The largest relative scatter (ln-space standard deviation) believed: beyond it
# the residuals measure noise or a model that failed, not a scatter of shapes.
MAX_LN_SCATTER = 1.0


def _window_sum(values, width):
    """Sums over ``width`` channels (last axis) around every channel."""
    return ndimage.uniform_filter1d(values, width, axis=-1, mode="nearest") * width


def _window(energy):
    return max(5, int(round(0.1 / (energy[1] - energy[0]))))


def replica_corrections(sums):
    """ln-space correction of every replica from :func:`residual_sums`.

    ``ln(1 + c)`` with ``c = sum(d Z) / sum(Z^2)`` the relative residual the
    training spectra share against the replica ``Z`` (``d = spectrum - Z``,
    sums over the spectra and a window of 0.1 eV, at least 5 channels), shrunk
    towards 0 by ``c^2 / (c^2 + se^2)`` where its counting-noise error ``se``
    is comparable (low counts), and kept within +-:data:`MAX_LN_SCATTER`.
    Replicas fitted as they should collapse onto the training spectra's mean
    where it is well measured and keep their spread where it is not.
    """
    dz, zz, vzz = sums
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(zz > 0, dz / zz, 0.0)
        se2 = np.where(zz > 0, vzz / zz**2, 0.0)
        c = np.where(c**2 + se2 > 0, c * c**2 / (c**2 + se2), 0.0)
    return np.clip(np.log1p(np.maximum(c, -0.99)), -MAX_LN_SCATTER, MAX_LN_SCATTER)


def residual_sums(spectra, cube, energy, read_noise, sums=None):
    """Accumulate the window sums of :func:`replica_corrections` over spectra.

    ``cube`` is (n_replicas, n_spectra, n_channels); channels where a replica is
    not positive do not count.
    """
    width = _window(energy)
    z = np.where(cube > 0, cube, 0.0)
    d = np.where(cube > 0, spectra[None] - cube, 0.0)
    v = counting_variance(z, read_noise)
    add = [_window_sum(t.sum(axis=1), width) for t in (d * z, z * z, v * z * z)]
    return add if sums is None else [a + b for a, b in zip(sums, add, strict=True)]


def scatter_shapes(spectra, model, energy, read_noise):
    """Deviation shapes (ln space) of a new spectrum from the corrected model.

    Parameters
    ----------
    spectra : ndarray of shape (n_spectra, n_channels)
        The training spectra (counts), at least two.
    model : ndarray of shape (n_spectra, n_channels)
        The median corrected model ZLP of each (counts).
    energy : ndarray of shape (n_channels,)
        Energy axis in eV.
    read_noise : float
        Read noise in counts per channel.

    Returns
    -------
    shapes : ndarray of shape (n_shapes, n_channels)
        ``delta = z @ shapes`` with ``z ~ N(0, I)`` has, in every channel, the
        variance of the residuals' relative deviation beyond their counting
        noise (sums over the spectra and 0.1 eV, at least 5 channels), times
        ``(n + 1) / (n - 1)`` for ``n`` spectra (a new spectrum against a mean
        of ``n``, from residuals about that mean), plus the counting-noise
        variance of that mean. Zero where the model is not positive.
    """
    n = spectra.shape[0]
    width = _window(energy)
    positive = (model > 0).all(axis=0)
    m = np.where(positive, model, 1.0)
    e = np.where(positive, spectra - model, 0.0)
    noise = np.where(positive, counting_variance(np.maximum(model, 0.0), read_noise), 0.0)
    weight = _window_sum((m**2).sum(axis=0), width)
    raw = _window_sum((e**2).sum(axis=0), width)
    excess = raw - _window_sum(noise.sum(axis=0), width)
    mean_noise = _window_sum((noise * m**2).sum(axis=0), width) / weight**2
    inflate = (n + 1.0) / (n - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = inflate * np.maximum(excess, 0.0) / weight + mean_noise
        variance = np.clip(variance, 0.0, MAX_LN_SCATTER**2)
        # each spectrum's relative residual, scaled so that the shapes' variance
        # is ``variance`` (their mean square is raw / weight)
        scale = np.where(raw > 0, np.sqrt(variance * weight / raw), 0.0)
    shapes = e / m * scale[None, :] / np.sqrt(n)
    shapes[:, ~positive] = 0.0
    if n > MAX_SCATTER_SHAPES:
        _, s, vt = np.linalg.svd(shapes, full_matrices=False)
        kept = s[:MAX_SCATTER_SHAPES, None] * vt[:MAX_SCATTER_SHAPES]
        with np.errstate(divide="ignore", invalid="ignore"):
            restore = np.sqrt((shapes**2).sum(axis=0) / (kept**2).sum(axis=0))
        shapes = kept * np.where(np.isfinite(restore), restore, 0.0)[None, :]
    return shapes


def training_scatter(est, data):
    """Corrections and scatter shapes of a fitted subtractor's training spectra.

    ``(corrections, shapes)``: :func:`replica_corrections` (one row per
    replica) and :func:`scatter_shapes` of the corrected median; None
    outside vacuum mode (where the model predicts spectra it was not trained
    on) or with fewer than two training spectra.
    """
    from ._streaming import model_replicas

    if est.mode != "vacuum" or data.spectra.shape[0] < 2:
        return None
    n = data.spectra.shape[0]
    parts = [
        (rows, data.rows(slice(rows, rows + est.batch_size)))
        for rows in range(0, n, est.batch_size)
    ]
    est.vacuum_residuals_ = None  # the model alone
    sums = None
    for _, part in parts:
        cube = model_replicas(est, part)[0]
        sums = residual_sums(part.spectra, cube, data.energy, est.read_noise_, sums)
    corrections = replica_corrections(sums)
    est.vacuum_residuals_ = (corrections, np.zeros((0, data.energy.size)))
    median = np.empty(data.spectra.shape)
    for rows, part in parts:
        median[rows : rows + est.batch_size] = replica_median(model_replicas(est, part)[0])
    return corrections, scatter_shapes(data.spectra, median, data.energy, est.read_noise_)


def add_scatter(model, residuals, generators):
    """Correct every replica and give it its own draw of the scatter, in place.

    ``Z_r exp(correction_r + delta)``, ``delta = z @ shapes``.

    Parameters
    ----------
    model : ndarray of shape (n_replicas, n_spectra, n_channels)
        Every replica's ZLP.
    residuals : tuple (corrections, shapes)
        :func:`training_scatter`.
    generators : sequence of numpy.random.Generator
        One per spectrum (its own stream: the draws do not depend on the batch).

    Returns
    -------
    model : ndarray
        The same array.
    """
    corrections, shapes = residuals
    n_replicas = model.shape[0]
    model *= np.exp(corrections)[:, None, :]
    if shapes.shape[0] == 0:
        return model
    for i, rng in enumerate(generators):
        z = rng.standard_normal((n_replicas, shapes.shape[0]))
        model[:, i, :] *= np.exp(z @ shapes)
    return model

"""The data's uncertainty in ZLPSubtractor: read noise, chi^2 variances, noise draws.

All of it rests on the package's one noise model,
:func:`sklearn_zlp._noise.counting_variance`.
"""

import hashlib
import warnings

import numpy as np
from scipy import ndimage

from .._noise import counting_variance, read_noise_of

__all__ = ["choose_read_noise", "noise_generator", "training_variance"]


def choose_read_noise(read_noise, spectra, energy, fwhm):
    """``read_noise``, or with ``"auto"`` its estimate from the (validated) spectra.

    The estimate leaves out three median ZLP widths around 0 eV, at least 1 eV.
    """
    if read_noise != "auto":
        return float(read_noise)
    width = np.nanmedian(fwhm)
    exclude = max(1.0, 3.0 * float(width)) if np.isfinite(width) else 1.0
    try:
        return read_noise_of(spectra, energy, exclude=exclude)
    except ValueError as short:
        warnings.warn(
            f"read_noise='auto' cannot be measured on these spectra ({short}); "
            "using 0. Give the detector's read noise in counts per channel "
            "(read_noise=...) if counts per channel are low.",
            UserWarning,
            stacklevel=6,
        )
        return 0.0


def training_variance(spectra, norm, energy, acquisition, *, read_noise, relative, sigma):
    """Per-channel variance in counts^2 of the training points (the chi^2 weights).

    Counting variance plus ``(relative * I)^2``; with ``sigma="spread"`` (or
    ``"auto"`` and 3 or more spectra) also the variance of the normalised
    spectra within each group recorded with the same acquisition parameters
    (all spectra when there are none), so that systematic differences between
    acquisitions are not mistaken for noise.
    """
    variance = (
        counting_variance(spectra, read_noise) + (relative * np.maximum(spectra, 0.0)) ** 2
    )
    use_spread = sigma == "spread" or (sigma == "auto" and spectra.shape[0] >= 3)
    if not use_spread:
        return variance
    scaled = spectra / norm[:, None]
    width = max(5, int(round(0.1 / (energy[1] - energy[0]))))
    _, group = np.unique(acquisition, axis=0, return_inverse=True)
    for g in np.unique(group):
        members = np.flatnonzero(group.ravel() == g)
        if members.size < 2:
            continue
        spread = ndimage.uniform_filter1d(
            np.var(scaled[members], axis=0, ddof=1), width, mode="nearest"
        )
        variance[members] += spread[None, :] * norm[members, None] ** 2
    return variance


def noise_generator(seed, spectrum, acquisition):
    """The random stream of one spectrum's data-noise draws.

    Seeded by the fitted subtractor's seed (from ``random_state``) and a
    128-bit BLAKE2 digest of the spectrum's own values and acquisition
    parameters: the same spectrum gets the same draws in any call, batch,
    position or order, and different spectra get independent ones.
    """
    digest = hashlib.blake2b(digest_size=16)
    for values in (spectrum, acquisition):
        # + 0.0 turns -0.0 into 0.0: equal values, equal streams
        digest.update(np.ascontiguousarray(values + 0.0, dtype="<f8").tobytes())
        digest.update(b"|")
    words = np.frombuffer(digest.digest(), dtype="<u4").tolist()
    return np.random.default_rng([int(seed), *words])


def add_noise_draws(seed, spectra, acquisition, read_noise, n_replicas, out=None):
    """Every replica's draw of the data: ``spectra`` plus counting noise.

    Returns ``(n_replicas, n_spectra, n_channels)``; spectrum ``i``'s draws come
    from :func:`noise_generator` alone (``out`` is filled when given).
    """
    shape = (n_replicas, *spectra.shape)
    out = np.empty(shape) if out is None else out
    sigma = np.sqrt(counting_variance(spectra, read_noise))
    for i in range(spectra.shape[0]):
        draw = noise_generator(seed, spectra[i], acquisition[i]).standard_normal(
            (n_replicas, spectra.shape[1])
        )
        draw *= sigma[i]
        draw += spectra[i]
        out[:, i, :] = draw
    return out


def add_counting_noise(model, generators, read_noise):
    """Every replica's ZLP as a spectrum would record it: plus counting noise, in place.

    ``model`` is (n_replicas, n_spectra, n_channels) in counts; spectrum ``i``
    draws from ``generators[i]`` alone (its own stream), with the variance of
    :func:`~sklearn_zlp._noise.counting_variance` at each replica's ZLP.
    """
    for i, rng in enumerate(generators):
        sigma = np.sqrt(counting_variance(np.maximum(model[:, i, :], 0.0), read_noise))
        model[:, i, :] += sigma * rng.standard_normal(sigma.shape)
    return model

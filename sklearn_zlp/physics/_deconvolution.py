"""Fourier-log deconvolution of plural scattering, one replica at a time."""

import numpy as np
from scipy import fft as sp_fft

from .._validation import as_real_array, as_real_scalar, check_energy_axis

__all__ = ["fourier_log_deconvolution"]

_TAILS = ("power_law", "cosine", None)
_BROADENINGS = ("zlp", "gaussian", None)


def _zero_index(energy):
    dispersion = (energy[-1] - energy[0]) / (energy.size - 1)
    n0 = int(np.argmin(np.abs(energy)))
    if abs(energy[n0]) > 0.01 * dispersion:
        raise ValueError(
            f"The energy axis has no channel at 0 eV (nearest: {energy[n0]:.4g} eV); "
            "shift it so that one channel sits at 0 eV (align the ZLP first)."
        )
    return n0, dispersion


def _extend_tail(inelastic, energy, n_fft, tail, tail_fraction):
    """Continue the inelastic part beyond the axis end to avoid a step at the wrap.

    ``"power_law"``: fit A E^-r to the last ``tail_fraction`` of the loss side
    (in log-log, per spectrum), extrapolate it into the padding and roll it off
    with a half cosine bell that reaches zero at the end of the padded array.
    ``"cosine"``: no extrapolation; the last ``tail_fraction`` of the loss side
    is multiplied by a half cosine bell from 1 to 0 (this alters those channels).
    """
    n = energy.size
    out = np.zeros(inelastic.shape[:-1] + (n_fft,))
    out[..., :n] = inelastic
    if tail is None:
        return out
    n_loss = int(np.sum(energy > 0))
    n_tail = max(3, int(round(tail_fraction * n_loss)))
    if tail == "cosine":
        bell = 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, n_tail)))
        out[..., n - n_tail : n] *= bell
        return out
    e_fit = energy[n - n_tail :]
    y_fit = inelastic[..., n - n_tail :]
    # Means over the fitting window rather than a pointwise fit: robust to noise
    # and to channels that are zero or negative.
    half = n_tail // 2
    y1 = np.clip(y_fit[..., :half].mean(axis=-1), 1e-300, None)
    y2 = np.clip(y_fit[..., half:].mean(axis=-1), 1e-300, None)
    e1, e2 = e_fit[:half].mean(), e_fit[half:].mean()
    r = np.clip(-np.log(y2 / y1) / np.log(e2 / e1), 0.0, None)
    positive = (inelastic[..., -n_tail:].mean(axis=-1) > 0)[..., None]
    dispersion = (energy[-1] - energy[0]) / (n - 1)
    e_pad = energy[-1] + dispersion * np.arange(1, n_fft - n + 1)
    # Half of the padding is kept free so that the extrapolated tail cannot wrap
    # onto the gain side of the next period.
    n_extra = (n_fft - n) // 2
    bell = np.zeros(n_fft - n)
    bell[:n_extra] = 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, n_extra)))
    last = inelastic[..., -1:]
    extrapolated = last * (e_pad / energy[-1]) ** (-r[..., None]) * bell
    out[..., n:] = np.where(positive, extrapolated, 0.0)
    return out


def fourier_log_deconvolution(
    energy,
    spectra,
    zlp,
    *,
    zlp_subtracted=False,
    tail="power_law",
    tail_fraction=0.1,
    broadening=None,
    fwhm=None,
    pad_factor=2,
):
    """Single-scattering distribution of each replica by Fourier-log deconvolution.

    Each (spectrum J, ZLP Z) pair gives ``S = I0 FT^-1[ln(FT[J] / FT[Z])]``
    (Egerton 2011, eq. 4.9 and section 4.2.1), where I0 = sum(Z) is the
    zero-loss integral: the Poisson law of plural scattering makes
    J = Z * exp*(S / I0), a convolution exponential, so the logarithm of the
    transform ratio undoes it exactly for noise-free data.

    Parameters
    ----------
    energy : array-like of shape (n_channels,)
        Uniform energy axis in eV with one channel at 0 eV (the ZLP centre).
    spectra : array-like of shape (..., n_channels)
        Total spectra J in counts per channel, or J - Z if ``zlp_subtracted``.
        Broadcast against ``zlp``: one measured spectrum per ZLP replica or one
        for the whole ensemble.
    zlp : array-like of shape (..., n_channels)
        Zero-loss peak of each replica in counts per channel.
    zlp_subtracted : bool, default=False
        Whether ``spectra`` has the ZLP removed already.
    tail : {"power_law", "cosine"} or None, default="power_law"
        How the spectrum is continued past the axis end before the transform
        (a step there rings through the whole result): ``"power_law"`` fits
        A E^-r to the last ``tail_fraction`` of the loss side and extrapolates
        it into the zero padding, rolled off to zero by a half cosine bell over
        half the padding; ``"cosine"`` tapers the last ``tail_fraction`` of the
        loss side to zero in place; None only zero-pads.
    tail_fraction : float, default=0.1
        Fraction of the loss-side channels used by ``tail``.
    broadening : {"zlp", "gaussian"} or None, default=None
        Noise control by reconvolution. None returns the unbroadened SSD
        ``I0 FT^-1[ln(j/z)]``: exact without noise, but noise is amplified where
        z is small. ``"zlp"`` multiplies by each replica's own ZLP transform,
        ``FT^-1[z ln(j/z)]`` (Egerton's eq. 4.9): the SSD at the resolution of
        the measurement, well behaved at all frequencies. ``"gaussian"``
        multiplies by the transform of a unit-area Gaussian of FWHM ``fwhm``.
    fwhm : float, default=None
        FWHM in eV of the Gaussian for ``broadening="gaussian"``.
    pad_factor : int, default=2
        The transform length is at least ``pad_factor * n_channels`` (rounded
        up to a fast FFT length); the zero padding keeps the loss tail from
        wrapping around onto the gain side.

    Returns
    -------
    ssd : ndarray of shape (..., n_channels)
        Single-scattering distribution of each replica on the input axis, in
        counts per channel; its sum over the loss side is I0 t/lambda. With
        ``broadening=None`` the channel at 0 eV also holds the ln of any
        mismatch between the ZLP and the spectrum's elastic intensity (e.g. a
        ZLP replica scaled by 1 + d puts -I0 ln(1 + d) there).

    Notes
    -----
    The principal branch of the complex logarithm is exact for t/lambda < pi
    (the phase of ln(j/z) is bounded by t/lambda). The output channel at
    energy E_i holds the SSD at loss E_i; without broadening the gain side
    carries only round-off and wrapped noise.

    References
    ----------
    R. F. Egerton, *Electron Energy-Loss Spectroscopy in the Electron
    Microscope*, 3rd ed., Springer (2011), section 4.2.1 (Fourier-log method),
    eqs. 4.8-4.11; D. W. Johnson and J. C. H. Spence, J. Phys. D 7 (1974) 771.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.datasets import make_synthetic_eels
    >>> d = make_synthetic_eels(1, t_over_lambda=0.3, e_bg=None, read_noise=0,
    ...                         energy=np.linspace(-4, 200, 2041), random_state=0)
    >>> ssd = fourier_log_deconvolution(d.energy, d.noise_free, d.zlp)
    >>> bool(np.allclose(ssd[0, d.energy > 1].sum(), d.ssd[0].sum(), rtol=0.01))
    True
    """
    energy = check_energy_axis(energy, name="energy", uniform=True)
    spectra = as_real_array(spectra, name="spectra")
    zlp = as_real_array(zlp, name="zlp")
    if spectra.shape[-1] != energy.size or zlp.shape[-1] != energy.size:
        raise ValueError(
            f"spectra ({spectra.shape[-1]} channels) and zlp ({zlp.shape[-1]} "
            f"channels) must match the energy axis ({energy.size} channels)."
        )
    if tail not in _TAILS:
        raise ValueError(f"tail must be one of {_TAILS}, got {tail!r}.")
    if broadening not in _BROADENINGS:
        raise ValueError(f"broadening must be one of {_BROADENINGS}, got {broadening!r}.")
    if broadening == "gaussian" and not (
        fwhm is not None and as_real_scalar(fwhm, name="fwhm") > 0
    ):
        raise ValueError("broadening='gaussian' needs a positive fwhm in eV.")
    tail_fraction = as_real_scalar(tail_fraction, name="tail_fraction")
    if not 0 < tail_fraction < 1:
        raise ValueError(f"tail_fraction must lie in (0, 1), got {tail_fraction}.")
    n0, dispersion = _zero_index(energy)
    try:
        spectra, zlp = np.broadcast_arrays(spectra, zlp)
    except ValueError as exc:
        raise ValueError(
            f"spectra {spectra.shape} and zlp {zlp.shape} do not broadcast; pass one "
            "spectrum per ZLP replica, or one for the whole ensemble."
        ) from exc
    inelastic = spectra if zlp_subtracted else spectra - zlp
    n = energy.size
    n_fft = sp_fft.next_fast_len(int(max(2, pad_factor)) * n, real=True)

    z_time = np.zeros(zlp.shape[:-1] + (n_fft,))
    z_time[..., :n] = zlp
    j_time = z_time + _extend_tail(inelastic, energy, n_fft, tail, tail_fraction)
    z_hat = sp_fft.rfft(z_time, axis=-1)
    j_hat = sp_fft.rfft(j_time, axis=-1)
    i0 = zlp.sum(axis=-1, keepdims=True)
    if np.any(i0 <= 0):
        raise ValueError("Every ZLP needs a positive integral (I0).")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(j_hat / z_hat)
    log_ratio = np.where(np.isfinite(log_ratio), log_ratio, 0.0)

    if broadening == "zlp":
        # z carries the ZLP's position, so the result already sits on the axis.
        return sp_fft.irfft(z_hat * log_ratio, n_fft, axis=-1)[..., :n]
    s_hat = i0 * log_ratio
    if broadening == "gaussian":
        freq = sp_fft.rfftfreq(n_fft, d=dispersion)
        sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        s_hat = s_hat * np.exp(-2.0 * (np.pi * sigma * freq) ** 2)
    # Lag k (loss k * dispersion) sits at index k; the channel at 0 eV is n0.
    lags = sp_fft.irfft(s_hat, n_fft, axis=-1)
    return np.roll(lags, n0, axis=-1)[..., :n]

"""Kramers-Kronig analysis of single-scattering distributions, one replica at a time."""

import numpy as np
from scipy import fft as sp_fft
from sklearn.utils import Bunch

from .._validation import as_real_array, as_real_scalar, check_energy_axis
from ._deconvolution import _zero_index

__all__ = ["kramers_kronig"]

_ELECTRON_REST_ENERGY_EV = 510998.95
_BOHR_RADIUS_NM = 0.0529177211
_HBAR_C_EV_NM = 197.3269804


def _beam_kinematics(beam_energy_keV):
    """m0 v^2 and gamma m0 v^2 in eV for a beam of the given energy."""
    gamma = 1.0 + beam_energy_keV * 1e3 / _ELECTRON_REST_ENERGY_EV
    beta2 = 1.0 - 1.0 / gamma**2
    m0v2 = _ELECTRON_REST_ENERGY_EV * beta2
    return m0v2, gamma * m0v2


def _beam_wavenumber(beam_energy_keV):
    """k0 = gamma m0 v / hbar in nm^-1 (relativistic momentum of the beam)."""
    e0 = beam_energy_keV * 1e3
    return np.sqrt(e0 * (e0 + 2.0 * _ELECTRON_REST_ENERGY_EV)) / _HBAR_C_EV_NM


def _surface_loss_function(eps):
    """Im[(1 - eps)^2 / (eps (1 + eps))] = 4 Im[-1/(1 + eps)] - Im[-1/eps].

    Surface-plasmon term minus the begrenzungs (bulk-reduction) term for a
    film in vacuum (Egerton 2011, eq. 4.31 with eps_a = 1).
    """
    return (4.0 / (1.0 + eps) - 1.0 / eps).imag * -1.0


def _surface_aperture_factor(energy, zlp_integral, beam_energy, collection_angle):
    """I0 / (pi a0 k0 T) [atan(beta/theta_E)/theta_E - beta/(beta^2 + theta_E^2)].

    Counts per eV per unit surface-loss function (Egerton 2011, eq. 4.31), with
    T = m0 v^2 / 2, k0 = gamma m0 v / hbar, theta_E = E / (gamma m0 v^2) and
    angles in rad; shape (..., n_energy).
    """
    energy = np.asarray(energy, dtype=np.float64)
    m0v2, gamma_m0v2 = _beam_kinematics(float(beam_energy))
    theta_e = energy / gamma_m0v2
    beta = collection_angle * 1e-3
    aperture = np.arctan(beta / theta_e) / theta_e - beta / (beta**2 + theta_e**2)
    prefactor = np.asarray(zlp_integral, dtype=np.float64)[..., None] / (
        np.pi * _BOHR_RADIUS_NM * _beam_wavenumber(float(beam_energy)) * 0.5 * m0v2
    )
    return prefactor * aperture


def _surface_loss_intensity(energy, eps, zlp_integral, *, beam_energy, collection_angle):
    """Surface-loss intensity S_s(E) of both film surfaces in counts per eV.

    ``S_s = I0 / (pi a0 k0 T) [atan(beta/theta_E)/theta_E - beta/(beta^2 +
    theta_E^2)] Im[(1 - eps)^2 / (eps (1 + eps))]`` (Egerton 2011, eq. 4.31,
    eps_a = 1).
    """
    factor = _surface_aperture_factor(energy, zlp_integral, beam_energy, collection_angle)
    return factor * _surface_loss_function(eps)


def _hilbert_odd(values, pad_factor):
    """(1/pi) P int g(E') / (E - E') dE' for g given at E = k dE, k = 1..M, odd in E.

    Returned at k = 0..M. FFT method: the odd extension of g is transformed, the
    positive frequencies multiplied by -i and the negative ones by +i
    (Egerton 2011, Appendix B, KRAKRO; Johnson 1975).
    """
    m = values.shape[-1]
    n_fft = sp_fft.next_fast_len(int(pad_factor) * 2 * (m + 1))
    odd = np.zeros(values.shape[:-1] + (n_fft,))
    odd[..., 1 : m + 1] = values
    odd[..., n_fft - m :] = -values[..., ::-1]
    spectrum = sp_fft.fft(odd, axis=-1)
    spectrum *= -1j * np.sign(sp_fft.fftfreq(n_fft))
    return sp_fft.ifft(spectrum, axis=-1).real[..., : m + 1]


def kramers_kronig(
    energy,
    ssd,
    zlp_integral,
    *,
    beam_energy,
    collection_angle,
    refractive_index=None,
    thickness=None,
    low_energy_cutoff=None,
    pad_factor=4,
    surface_iterations=0,
):
    """Dielectric function of each replica from its single-scattering distribution.

    Egerton's method (Egerton 2011, section 4.2.3 and Appendix B; Egerton,
    Micron 34 (2003) 127): the SSD per unit energy is, in the small-angle
    approximation (Egerton 2011, eq. 4.26),

    ``S(E) = I0 t / (pi a0 m0 v^2) Im[-1/eps(E)] ln(1 + (beta / theta_E)^2)``,

    with theta_E = E / (gamma m0 v^2). Dividing by the logarithm (the aperture
    correction) gives Im[-1/eps] up to the factor K = I0 t / (pi a0 m0 v^2),
    fixed by the Kramers-Kronig sum rule

    ``1 - Re[1/eps(0)] = (2/pi) int_0^inf Im[-1/eps(E)] dE / E = 1 - 1/n^2``

    (Egerton 2011, eq. 4.28; n: refractive index at low frequency, infinite for
    a metal) or by a known absolute thickness t. The Kramers-Kronig transform
    (Egerton 2011, eq. 4.29)

    ``Re[1/eps(E)] = 1 - (2/pi) P int_0^inf Im[-1/eps(E')] E' / (E'^2 - E^2) dE'``

    is evaluated as a Hilbert transform by FFT of the odd extension of
    Im[-1/eps], and ``eps = (Re[1/eps] + i Im[-1/eps]) / (Re[1/eps]^2 +
    Im[-1/eps]^2)``.

    Parameters
    ----------
    energy : array-like of shape (n_channels,)
        Uniform energy axis in eV with a channel at 0 eV.
    ssd : array-like of shape (..., n_channels)
        Single-scattering distribution of each replica in counts per channel,
        e.g. from :func:`fourier_log_deconvolution` with ``broadening=None`` or
        ``"gaussian"``; only the channels above 0 eV are used.
    zlp_integral : float or array-like of shape (...)
        I0, the zero-loss integral (counts) of each replica; enters only the
        thickness.
    beam_energy : float
        Beam energy in keV.
    collection_angle : float
        Collection semi-angle beta in mrad.
    refractive_index : float or array-like of shape (...), default=None
        Low-frequency refractive index n for the sum-rule normalisation; use
        ``np.inf`` for a metal. Exactly one of ``refractive_index`` and
        ``thickness`` must be given.
    thickness : float or array-like of shape (...), default=None
        Known absolute thickness in nm, used instead of the sum rule.
    low_energy_cutoff : float, default=None
        Energy in eV below which the SSD is dominated by ZLP-subtraction noise:
        there Im[-1/eps] is replaced by a straight line from 0 at 0 eV to its
        mean over the next 5 channels (Im[-1/eps] rises linearly from 0 for a
        Drude metal and is zero in a gap), which keeps that noise, divided by
        E, out of the sum rule. None uses every channel above 0 eV.
    pad_factor : int, default=4
        The Hilbert transform runs on at least ``pad_factor`` times the length
        of the odd extension, zero-padded so the circular transform does not
        fold the spectrum onto itself.
    surface_iterations : int, default=0
        Number of surface-loss corrections (Egerton 2011, section 4.2.3):
        each one computes the surface-loss intensity ``S_s(E)`` of both
        surfaces from the current eps (see Notes), subtracts it from the
        measured SSD and repeats the whole analysis (aperture correction,
        normalisation, Kramers-Kronig transform) on the difference. 0 keeps
        the bulk-only analysis. A few iterations converge for films thicker
        than about 5-10 nm; the correction matters below about 20 nm.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``energy`` (n_loss,): the loss channels (E > 0) in eV;
        ``loss_function`` Im[-1/eps], ``re_inverse`` Re[1/eps], ``eps1``,
        ``eps2``: arrays of shape (..., n_loss); ``thickness`` (...,) in nm
        (the input thickness when given); ``refractive_index`` (...,): the
        input, or the value implied by the sum rule when ``thickness`` was
        given (NaN if the sum exceeds 1); ``normalisation`` K (...,) in counts
        per eV; ``surface_intensity`` (..., n_loss): the surface-loss
        intensity (counts per channel) subtracted in the last pass, zero when
        ``surface_iterations=0``; ``surface_change`` (..., surface_iterations):
        ``max |L_i - L_{i-1}| / max |L_i|`` for the loss function L = Im[-1/eps]
        after each correction i, a convergence check.

    Notes
    -----
    Valid where the SSD is a bulk single-scattering distribution: above the
    ZLP-dominated first few channels (noise divided by a small SSD) and below
    the axis end (Im[-1/eps] is taken as zero beyond it). The small-angle
    aperture factor ignores retardation (Cerenkov) losses.

    The surface-loss correction uses the aperture-integrated surface-loss
    intensity of Egerton 2011, eq. 4.31 (both surfaces of a film in vacuum,
    eps_a = 1, normal incidence):

    ``S_s(E) = I0 / (pi a0 k0 T) [atan(beta/theta_E)/theta_E
    - beta/(beta^2 + theta_E^2)] Im[(1 - eps)^2 / (eps (1 + eps))]``,

    with T = m0 v^2 / 2, k0 = gamma m0 v / hbar and angles in rad;
    ``Im[(1 - eps)^2 / (eps (1 + eps))] = 4 Im[-1/(1 + eps)] - Im[-1/eps]``
    is the surface-plasmon term minus the begrenzungs term. Simplifications
    (as in Egerton's DRUDE/KRAKRO programs, Egerton 2011, Appendix B): the
    two surfaces are uncoupled (thin-film limit of Ritchie's coupled modes
    ignored, which fails for t below a few nm), no retardation, no oxide or
    substrate layer, and S_s does not depend on t, so a thickness that the
    sum rule gives is refined only through the bulk term. S_s contains the
    first-order surface loss only: it is subtracted from the SSD, not
    deconvolved from plural scattering.

    References
    ----------
    R. F. Egerton, *Electron Energy-Loss Spectroscopy in the Electron
    Microscope*, 3rd ed., Springer (2011), section 4.2 and Appendix B;
    R. F. Egerton, "New techniques in electron energy-loss spectroscopy and
    energy-filtered imaging", Micron 34 (2003) 127; D. W. Johnson, J. Phys. A
    8 (1975) 490.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_zlp.datasets import make_synthetic_eels
    >>> d = make_synthetic_eels(1, t_over_lambda=0.3, e_bg=None,
    ...                         energy=np.linspace(-4, 200, 2041), random_state=0)
    >>> kk = kramers_kronig(d.energy, d.ssd, d.zlp.sum(-1), beam_energy=200,
    ...                     collection_angle=10, refractive_index=np.inf)
    >>> kk.eps1.shape
    (1, 2000)
    """
    energy = check_energy_axis(energy, name="energy", uniform=True)
    ssd = as_real_array(ssd, name="ssd")
    if ssd.shape[-1] != energy.size:
        raise ValueError(
            f"ssd has {ssd.shape[-1]} channels but the energy axis {energy.size}."
        )
    if (refractive_index is None) == (thickness is None):
        raise ValueError(
            "Give exactly one of refractive_index (sum-rule normalisation; np.inf "
            "for a metal) and thickness (nm)."
        )
    beam_energy = as_real_scalar(beam_energy, name="beam_energy")
    collection_angle = as_real_scalar(collection_angle, name="collection_angle")
    if not (beam_energy > 0 and collection_angle > 0):
        raise ValueError("beam_energy (keV) and collection_angle (mrad) must be positive.")
    n0, dispersion = _zero_index(energy)
    loss_energy = energy[n0 + 1 :]
    if loss_energy.size < 2:
        raise ValueError("The energy axis needs channels above 0 eV.")
    # counts per channel -> counts per eV
    measured = ssd[..., n0 + 1 :] / dispersion
    i0 = as_real_array(zlp_integral, name="zlp_integral")
    m0v2, gamma_m0v2 = _beam_kinematics(float(beam_energy))
    theta_e_mrad = loss_energy / gamma_m0v2 * 1e3
    aperture = np.log1p((collection_angle / theta_e_mrad) ** 2)
    if low_energy_cutoff is not None:
        k = int((loss_energy < low_energy_cutoff).sum())
        if k + 5 > loss_energy.size:
            raise ValueError(
                f"low_energy_cutoff={low_energy_cutoff} eV leaves fewer than 5 channels."
            )
    if refractive_index is not None:
        n = as_real_array(refractive_index, name="refractive_index")
        if np.any(n <= 1):
            raise ValueError("refractive_index must exceed 1 (np.inf for a metal).")
    else:
        t = as_real_array(thickness, name="thickness")
        if np.any(t <= 0):
            raise ValueError("thickness must be positive (nm).")
    surface_iterations = int(surface_iterations)
    if surface_iterations < 0:
        raise ValueError("surface_iterations must be >= 0.")

    c_s = _surface_aperture_factor(loss_energy, i0, beam_energy, collection_angle)
    surface = np.zeros(np.broadcast_shapes(measured.shape, c_s.shape))
    history = []
    previous = normalisation = h = None
    for iteration in range(surface_iterations + 1):
        if iteration == 0:
            unnormalised = measured / aperture
        else:
            # measured = aperture u + c_s (3 u / K + h(eps_prev)), solved for u
            k_prev = np.asarray(normalisation)[..., None]
            unnormalised = (measured - c_s * h) / (aperture + 3.0 * c_s / k_prev)
            surface = c_s * (3.0 * unnormalised / k_prev + h)
        if low_energy_cutoff is not None:
            anchor = unnormalised[..., k : k + 5].mean(axis=-1, keepdims=True)
            e_anchor = loss_energy[k : k + 5].mean()
            unnormalised = unnormalised.copy()
            unnormalised[..., :k] = anchor * loss_energy[:k] / e_anchor
        sum_rule = (unnormalised / loss_energy).sum(axis=-1) * dispersion
        if refractive_index is not None:
            normalisation = sum_rule / (0.5 * np.pi * (1.0 - 1.0 / n**2))
            t = np.pi * _BOHR_RADIUS_NM * m0v2 * normalisation / i0
        else:
            normalisation = i0 * t / (np.pi * _BOHR_RADIUS_NM * m0v2)
            fraction = sum_rule / normalisation * 2.0 / np.pi
            with np.errstate(divide="ignore", invalid="ignore"):
                n = np.where(fraction < 1, 1.0 / np.sqrt(1.0 - fraction), np.nan)
        loss_function = unnormalised / np.asarray(normalisation)[..., None]
        re_inverse = 1.0 + _hilbert_odd(loss_function, pad_factor)[..., 1:]
        modulus2 = re_inverse**2 + loss_function**2
        eps = (re_inverse + 1j * loss_function) / modulus2
        if previous is not None:
            history.append(
                np.max(np.abs(loss_function - previous), axis=-1)
                / np.max(np.abs(loss_function), axis=-1)
            )
        previous = loss_function
        # Surface-loss function 4 Im[-1/(1+eps)] - Im[-1/eps] split as 3 L + h:
        # the 3 L part is solved for implicitly in the next pass (see Notes).
        h = 4.0 * ((-1.0 / (1.0 + eps)).imag - loss_function)
        h = np.nan_to_num(h, nan=0.0, posinf=0.0, neginf=0.0)

    return Bunch(
        energy=loss_energy,
        loss_function=loss_function,
        re_inverse=re_inverse,
        eps1=eps.real,
        eps2=eps.imag,
        thickness=np.broadcast_to(t, normalisation.shape).copy()
        if np.ndim(normalisation)
        else float(t),
        refractive_index=n,
        normalisation=normalisation,
        surface_intensity=surface * dispersion,
        surface_change=np.stack(history, axis=-1)
        if history
        else np.zeros(np.shape(normalisation) + (0,)),
    )

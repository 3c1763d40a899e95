"""Single-scattering distributions of the synthetic spectra: Drude plasmon, gap onset, Cherenkov-like losses."""

import numpy as np

from .._validation import as_real_scalar

__all__ = []

_ELECTRON_REST_ENERGY_KEV = 510.99895
_ONSET_CUTOFF_EV = 3.0


def _drude_loss(energy, plasmon_energy, plasmon_width):
    """Drude energy-loss function Im[-1/eps(E)] (Egerton 2011, eq. 3.43)."""
    return (
        energy
        * plasmon_width
        * plasmon_energy**2
        / ((energy**2 - plasmon_energy**2) ** 2 + (energy * plasmon_width) ** 2)
    )


def _characteristic_angle_mrad(energy, beam_energy_kev):
    """theta_E = E / (gamma m0 v^2) in mrad (Egerton 2011, eq. 3.28)."""
    gamma = 1.0 + beam_energy_kev / _ELECTRON_REST_ENERGY_KEV
    beta2 = 1.0 - 1.0 / gamma**2
    return energy / (gamma * _ELECTRON_REST_ENERGY_KEV * 1e3 * beta2) * 1e3


def _single_scattering_shape(
    energy,
    *,
    e_bg,
    b,
    onset_strength,
    plasmon_energy,
    plasmon_width,
    beam_energy,
    collection_angle,
):
    """Unnormalised single-scattering distribution P(E) (zero for E <= 0 or E <= E_bg).

    The Drude plasmon integrated over the collection aperture (Egerton 2011,
    eq. 4.26, ln(1 + (beta/theta_E)^2)), peak-normalised, gated smoothly to zero
    at the gap; plus the interband onset ``onset_strength (E - E_bg)^b``,
    rolled off far above the onset (by less than 1.3% within 1 eV of it).
    """
    energy = np.asarray(energy, dtype=np.float64)
    positive = np.clip(energy, 1e-12, None)
    theta_e = _characteristic_angle_mrad(positive, beam_energy)
    plasmon = _drude_loss(positive, plasmon_energy, plasmon_width) * np.log1p(
        (collection_angle / theta_e) ** 2
    )
    peak_energy = np.linspace(0.5 * plasmon_energy, 1.5 * plasmon_energy, 2001)
    plasmon_peak = np.max(
        _drude_loss(peak_energy, plasmon_energy, plasmon_width)
        * np.log1p(
            (collection_angle / _characteristic_angle_mrad(peak_energy, beam_energy)) ** 2
        )
    )
    plasmon = plasmon / plasmon_peak
    if e_bg is None:
        return np.where(energy > 0, plasmon, 0.0)
    above = np.clip(energy - e_bg, 0.0, None)
    gate = -np.expm1(-(above**2))  # ~ (E - E_bg)^2 near the gap, 1 far above
    onset = onset_strength * above**b / (1.0 + (above / _ONSET_CUTOFF_EV) ** 4)
    return np.where(energy > e_bg, plasmon * gate + onset, 0.0)


def _cherenkov_shape(energy, *, e_bg, cherenkov_energy, cherenkov_strength, onset_strength):
    """Cherenkov-like losses below the gap, in the units of :func:`_single_scattering_shape`.

    Radiation losses (Cherenkov, guided light modes) need a transparent specimen,
    so they sit below the gap: a square-root rise from ``cherenkov_energy`` to a
    plateau of ``cherenkov_strength * onset_strength`` (that fraction of the
    onset term 1 eV above the gap) at ``e_bg``, then an exponential decay over
    0.5 eV where absorption sets in. A stylised stand-in, not a Kroeger
    calculation: what matters for the zoo is intensity below the gap that an
    onset fit can mistake for the gap (Stoeger-Pollach, Micron 39 (2008) 1092).
    """
    energy = np.asarray(energy, dtype=np.float64)
    rise = np.sqrt(
        np.clip((energy - cherenkov_energy) / (e_bg - cherenkov_energy), 0.0, 1.0)
    )
    decay = np.exp(-np.clip(energy - e_bg, 0.0, None) / 0.5)
    return cherenkov_strength * onset_strength * rise * decay


def _check_cherenkov(strength, start, e_bg, onset_strength):
    """Keyword arguments of :func:`_cherenkov_shape`, or None when it is off."""
    if not (np.isfinite(strength) and strength >= 0):
        raise ValueError(f"cherenkov_strength must be >= 0, got {strength}.")
    if strength == 0:
        return None
    if e_bg is None:
        raise ValueError(
            "cherenkov_strength > 0 needs a band gap (e_bg): Cherenkov-like losses "
            "sit below the gap of a transparent specimen, a metal has none."
        )
    start = 0.5 * e_bg if start is None else as_real_scalar(start, name="cherenkov_energy")
    if not 0 < start < e_bg:
        raise ValueError(
            f"cherenkov_energy={start} eV must lie between 0 and e_bg={e_bg} eV."
        )
    return {
        "e_bg": e_bg,
        "cherenkov_energy": start,
        "cherenkov_strength": strength,
        "onset_strength": onset_strength,
    }

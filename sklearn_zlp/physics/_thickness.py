"""Relative and absolute specimen thickness from replica spectra.

The log-ratio method gives t/lambda for every (spectrum, ZLP) replica pair; an
inelastic mean free path lambda (Iakoubovskii et al. 2008 or Malis et al. 1988)
turns it into nm. :func:`summarize` reduces the replica axis to a median and an
interval.
"""

import numpy as np

from .._validation import check_energy_axis

__all__ = [
    "absolute_thickness",
    "mean_free_path_iakoubovskii",
    "mean_free_path_malis",
    "summarize",
    "t_over_lambda",
]


def summarize(values, axis=0, *, confidence_level=0.68):
    """Median and central interval of replica values.

    Parameters
    ----------
    values : array-like
        Per-replica values, replicas along ``axis``.
    axis : int, default=0
        The replica axis.
    confidence_level : float, default=0.68
        Probability mass of the central interval; 0.68 gives the 16th and 84th
        percentiles, the 1-sigma band of Roest et al. (2021).

    Returns
    -------
    median, low, high : ndarray
        Percentiles 50, 50 (1 - confidence_level) and 50 (1 + confidence_level)
        over ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> median, low, high = summarize(np.arange(101.0))
    >>> round(float(median), 6), round(float(low), 6), round(float(high), 6)
    (50.0, 16.0, 84.0)
    """
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level}.")
    q = [50.0, 50.0 * (1.0 - confidence_level), 50.0 * (1.0 + confidence_level)]
    median, low, high = np.percentile(np.asarray(values, dtype=np.float64), q, axis=axis)
    return median, low, high


def _relativistic_factor(beam_energy_keV):
    """F = (1 + E0/1022) / (1 + E0/511)^2 (Egerton 2011, eq. 5.2; E0 in keV)."""
    e0 = np.asarray(beam_energy_keV, dtype=np.float64)
    return (1.0 + e0 / 1022.0) / (1.0 + e0 / 511.0) ** 2


def t_over_lambda(spectra, zlp, *, energy=None, energy_range=None, zlp_subtracted=False):
    """Relative thickness t/lambda = ln(I_total / I_ZLP) for every replica.

    Parameters
    ----------
    spectra : array-like of shape (..., n_channels)
        Total spectra J (counts per channel), or ZLP-subtracted spectra J - Z
        when ``zlp_subtracted=True``. Broadcast against ``zlp``, so one measured
        spectrum of shape (n_spectra, n_channels) serves a ZLP ensemble of shape
        (n_replicas, n_spectra, n_channels).
    zlp : array-like of shape (..., n_channels)
        Zero-loss peaks matched to ``spectra`` (counts per channel).
    energy : array-like of shape (n_channels,), default=None
        Energy axis in eV; needed only with ``energy_range``.
    energy_range : tuple (low, high), default=None
        Channels (in eV) summed for I_total. Default: the whole axis. I_ZLP is
        always the sum of ``zlp`` over the whole axis.
    zlp_subtracted : bool, default=False
        Whether ``spectra`` already has the ZLP removed (I_total is then
        sum(spectra + zlp)).

    Returns
    -------
    t_over_lambda : ndarray of shape (...)
        ln(I_total / I_ZLP) per replica; NaN where either integral is not positive.

    Notes
    -----
    The Poisson statistics of independent inelastic events give
    I_ZLP / I_total = exp(-t/lambda) (Egerton 2011, eq. 5.1). Electrons scattered
    beyond the axis end are missed, so the axis should reach about 8 plasmon
    energies for t/lambda to be accurate to ~1% (Egerton 2011, section 5.1);
    the energy axis is uniform, so channel sums stand for integrals.

    References
    ----------
    R. F. Egerton, *Electron Energy-Loss Spectroscopy in the Electron
    Microscope*, 3rd ed., Springer (2011), section 5.1.

    Examples
    --------
    >>> import numpy as np
    >>> zlp = np.array([0.0, 10.0, 0.0, 0.0])
    >>> spectra = zlp + np.array([0.0, 0.0, 5.0, 5.0])
    >>> round(float(t_over_lambda(spectra, zlp)), 4)
    0.6931
    """
    spectra = np.asarray(spectra, dtype=np.float64)
    zlp = np.asarray(zlp, dtype=np.float64)
    spectra, zlp = np.broadcast_arrays(spectra, zlp)
    total = spectra + zlp if zlp_subtracted else spectra
    if energy_range is not None:
        energy = check_energy_axis(energy, spectra.shape[-1], name="energy", uniform=True)
        low, high = energy_range
        mask = (energy >= low) & (energy <= high)
        if not mask.any():
            raise ValueError(
                f"energy_range={energy_range!r} contains no channel of the axis "
                f"[{energy[0]:.4g}, {energy[-1]:.4g}] eV."
            )
        total = total[..., mask]
    i_total = total.sum(axis=-1)
    i_zlp = zlp.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((i_total > 0) & (i_zlp > 0), i_total / i_zlp, np.nan)
        return np.log(ratio)


def mean_free_path_iakoubovskii(
    density_g_cm3, beam_energy_keV, convergence_mrad=None, collection_mrad=None
):
    """Inelastic mean free path in nm from the specimen density (Iakoubovskii 2008).

    ``1/lambda = 11 rho^0.3 / (200 F E0) ln[(a^2 + b^2 + 2 thE^2 + |a^2 - b^2|) /
    (a^2 + b^2 + 2 thC^2 + |a^2 - b^2|) thC^2 / thE^2]`` with
    thE = 5.5 rho^0.3 / (F E0) mrad, thC = 20 mrad, F = (1 + E0/1022) /
    (1 + E0/511)^2 (E0 in keV, rho in g/cm^3). Without apertures (both angles
    None: all scattering collected) the bracket is thC^2/thE^2.

    Parameters
    ----------
    density_g_cm3 : float or array-like
        Specimen density in g/cm^3.
    beam_energy_keV : float or array-like
        Beam energy E0 in keV.
    convergence_mrad, collection_mrad : float, default=None
        Convergence semi-angle alpha and collection semi-angle beta in mrad;
        give both or neither.

    Returns
    -------
    mean_free_path : float or ndarray
        lambda in nm.

    References
    ----------
    K. Iakoubovskii, K. Mitsuishi, Y. Nakayama, K. Furuya, "Thickness
    measurements with electron energy loss spectroscopy", Microsc. Res. Tech.
    71 (2008) 626; "Mean free path of inelastic electron scattering in elemental
    solids and oxides using transmission electron microscopy", Phys. Rev. B 77
    (2008) 104102.

    Examples
    --------
    >>> round(float(mean_free_path_iakoubovskii(3.6, 200.0)), 1)
    133.6
    """
    if (convergence_mrad is None) != (collection_mrad is None):
        raise ValueError(
            "Give both convergence_mrad and collection_mrad (the aperture correction) "
            "or neither (all scattering collected)."
        )
    rho = np.asarray(density_g_cm3, dtype=np.float64)
    e0 = np.asarray(beam_energy_keV, dtype=np.float64)
    if np.any(rho <= 0) or np.any(e0 <= 0):
        raise ValueError("density_g_cm3 and beam_energy_keV must be positive.")
    f = _relativistic_factor(e0)
    theta_e2 = (5.5 * rho**0.3 / (f * e0)) ** 2
    theta_c2 = 20.0**2
    bracket = theta_c2 / theta_e2
    if convergence_mrad is not None:
        a2 = np.asarray(convergence_mrad, dtype=np.float64) ** 2
        b2 = np.asarray(collection_mrad, dtype=np.float64) ** 2
        if np.any(b2 <= 0) or np.any(a2 < 0):
            raise ValueError("collection_mrad must be positive, convergence_mrad >= 0.")
        common = a2 + b2 + np.abs(a2 - b2)
        bracket = bracket * (common + 2.0 * theta_e2) / (common + 2.0 * theta_c2)
    inverse = 11.0 * rho**0.3 / (200.0 * f * e0) * np.log(bracket)
    return 1.0 / inverse


def mean_free_path_malis(z_eff, beam_energy_keV, collection_mrad):
    """Inelastic mean free path in nm from the effective atomic number (Malis 1988).

    ``lambda = 106 F E0 / (Em ln(2 beta E0 / Em))`` nm with Em = 7.6 Z_eff^0.36
    eV, F = (1 + E0/1022) / (1 + E0/511)^2, E0 in keV and beta in mrad.

    Parameters
    ----------
    z_eff : float or array-like
        Effective atomic number (Egerton 2011, eq. 5.4, for compounds).
    beam_energy_keV : float or array-like
        Beam energy E0 in keV.
    collection_mrad : float or array-like
        Collection semi-angle beta in mrad (valid for beta up to ~15 mrad).

    Returns
    -------
    mean_free_path : float or ndarray
        lambda in nm.

    References
    ----------
    T. Malis, S. C. Cheng, R. F. Egerton, "EELS log-ratio technique for
    specimen-thickness measurement in the TEM", J. Electron Microsc. Tech. 8
    (1988) 193; Egerton 2011, eq. 5.2.

    Examples
    --------
    >>> round(float(mean_free_path_malis(14.0, 200.0, 10.0)), 1)
    125.3
    """
    z = np.asarray(z_eff, dtype=np.float64)
    e0 = np.asarray(beam_energy_keV, dtype=np.float64)
    beta = np.asarray(collection_mrad, dtype=np.float64)
    if np.any(z <= 0) or np.any(e0 <= 0) or np.any(beta <= 0):
        raise ValueError("z_eff, beam_energy_keV and collection_mrad must be positive.")
    em = 7.6 * z**0.36
    return 106.0 * _relativistic_factor(e0) * e0 / (em * np.log(2.0 * beta * e0 / em))


def absolute_thickness(t_over_lambda, mean_free_path_nm):
    """Absolute thickness t = (t/lambda) lambda in nm, per replica.

    Parameters
    ----------
    t_over_lambda : array-like
        Relative thickness per replica, e.g. from :func:`t_over_lambda`.
    mean_free_path_nm : float or array-like
        lambda in nm, e.g. from :func:`mean_free_path_iakoubovskii`.

    Returns
    -------
    thickness : ndarray
        t in nm, broadcast shape of the inputs.

    Examples
    --------
    >>> float(absolute_thickness(0.5, 100.0))
    50.0
    """
    return np.asarray(t_over_lambda, dtype=np.float64) * np.asarray(
        mean_free_path_nm, dtype=np.float64
    )

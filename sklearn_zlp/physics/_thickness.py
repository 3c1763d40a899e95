"""Relative and absolute specimen thickness from replica spectra.

The log-ratio method gives t/lambda for every (spectrum, ZLP) replica pair; an
inelastic mean free path lambda (Iakoubovskii et al. 2008 or Malis et al. 1988)
turns it into nm. :func:`summarize` reduces the replica axis to a median and a
band.
"""

import numpy as np

from .._replicas import replica_band, replica_median
from .._validation import as_real_array, as_real_scalar, check_energy_axis

__all__ = [
    "absolute_thickness",
    "mean_free_path_iakoubovskii",
    "mean_free_path_malis",
    "summarize",
    "t_over_lambda",
]


def summarize(values, axis=0, *, confidence_level=0.68):
    """Median and central band of replica values.

    The quantiles are those of every replica statistic of the package
    (:mod:`sklearn_zlp._replicas`: numpy's ``"normal_unbiased"`` method, so a
    68% band of few replicas is not narrowed), and the band has the package's
    one layout: ``(lower, upper)`` stacked on the first axis. Replicas whose
    value is NaN (a failed estimate, e.g. a non-positive integral in
    :func:`t_over_lambda`) are left out; where every replica failed the result
    is NaN.

    Parameters
    ----------
    values : array-like
        Per-replica values, replicas along ``axis``; any real dtype.
    axis : int, default=0
        The replica axis.
    confidence_level : float, default=0.68
        Probability mass of the central band; 0.68 gives the 16th and 84th
        percentiles, the 1-sigma band of Roest et al. (2021).

    Returns
    -------
    median : ndarray of shape (...)
        Median over ``axis`` (the other axes in their order).
    band : ndarray of shape (2, ...)
        ``band[0]`` the lower, ``band[1]`` the upper edge: the quantiles
        ``(1 - confidence_level) / 2`` and ``(1 + confidence_level) / 2``.

    Examples
    --------
    >>> import numpy as np
    >>> replicas = np.random.default_rng(0).normal(10.0, 2.0, size=(100000, 3))
    >>> median, band = summarize(replicas)
    >>> band.shape
    (2, 3)
    >>> median.round(1), ((band[1] - band[0]) / 2).round(1)
    (array([10., 10., 10.]), array([2., 2., 2.]))
    """
    values = as_real_array(values, name="values")
    if values.ndim == 0:
        raise ValueError("values must have a replica axis; got a single number.")
    if not -values.ndim <= axis < values.ndim:
        raise ValueError(f"axis={axis} is out of range for values of shape {values.shape}.")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level}.")
    median = replica_median(values, axis=axis, nan_policy="omit")
    band = replica_band(values, confidence_level, axis=axis, nan_policy="omit")
    return median, band


def _relativistic_factor(beam_energy_keV):
    """F = (1 + E0/1022) / (1 + E0/511)^2 (Egerton 2011, eq. 5.2; E0 in keV)."""
    e0 = beam_energy_keV
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
    spectra = as_real_array(spectra, name="spectra")
    zlp = as_real_array(zlp, name="zlp")
    try:
        spectra, zlp = np.broadcast_arrays(spectra, zlp)
    except ValueError as exc:
        raise ValueError(
            f"spectra {spectra.shape} and zlp {zlp.shape} do not broadcast; pass the "
            "ZLP matched to each spectrum, e.g. (n_replicas, n_spectra, n_channels) "
            "against spectra of shape (n_spectra, n_channels)."
        ) from exc
    total = spectra + zlp if zlp_subtracted else spectra
    if energy_range is not None:
        energy = check_energy_axis(energy, spectra.shape[-1], name="energy", uniform=True)
        low, high = (as_real_scalar(v, name="energy_range") for v in energy_range)
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
    rho = as_real_array(density_g_cm3, name="density_g_cm3")
    e0 = as_real_array(beam_energy_keV, name="beam_energy_keV")
    if np.any(rho <= 0) or np.any(e0 <= 0):
        raise ValueError("density_g_cm3 and beam_energy_keV must be positive.")
    f = _relativistic_factor(e0)
    theta_e2 = (5.5 * rho**0.3 / (f * e0)) ** 2
    theta_c2 = 20.0**2
    bracket = theta_c2 / theta_e2
    if convergence_mrad is not None:
        a2 = as_real_array(convergence_mrad, name="convergence_mrad") ** 2
        b2 = as_real_array(collection_mrad, name="collection_mrad") ** 2
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
    z = as_real_array(z_eff, name="z_eff")
    e0 = as_real_array(beam_energy_keV, name="beam_energy_keV")
    beta = as_real_array(collection_mrad, name="collection_mrad")
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
    path = as_real_array(mean_free_path_nm, name="mean_free_path_nm")
    if np.any(path <= 0):
        raise ValueError(
            f"mean_free_path_nm must be positive (a length in nm), got "
            f"{path.ravel()[path.ravel() <= 0][:3].tolist()}; compute it with "
            "mean_free_path_iakoubovskii or mean_free_path_malis."
        )
    return as_real_array(t_over_lambda, name="t_over_lambda") * path

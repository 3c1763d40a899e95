"""ZLPSubtractor's input: spectra, acquisition parameters, covariates, normalisation.

Each public method of :class:`~sklearn_zlp.ZLPSubtractor` validates its input
once, with :func:`validate_input`; everything downstream works on the validated
arrays. Every quantity here is computed spectrum by spectrum, so that a
spectrum's result never depends on the other spectra of the call.
"""

from typing import NamedTuple

import numpy as np
from scipy import sparse

from .._validation import check_energy_axis, check_spectra, check_zlp_at_zero
from ..preprocessing._peak import share_rows

__all__ = ["LOG_TOTAL", "Spectra", "covariate_table", "normalisation", "validate_input"]

LOG_TOTAL = "log_total"


class Spectra(NamedTuple):
    """Validated input of one public call."""

    spectra: np.ndarray  # (n_spectra, n_channels), float64, a copy of the user's
    acquisition: np.ndarray  # (n_spectra, n_acquisition)
    energy: np.ndarray  # (n_channels,)
    n_features: int  # columns of X

    def rows(self, rows):
        """The same input restricted to ``rows`` (a slice; views, no copies)."""
        part = Spectra(
            self.spectra[rows], self.acquisition[rows], self.energy, self.n_features
        )
        share_rows(self.spectra, part.spectra, rows)  # peaks found on all, if any
        return part


def acquisition_names(covariates):
    """The covariates read from the trailing columns of X."""
    return [c for c in covariates if c != LOG_TOTAL]


def validate_input(X, covariates, energy_axis=None, n_features_in=None, fitted_axis=None):
    """Validate X once: spectra, acquisition columns and the energy axis.

    ``energy_axis`` (the constructor parameter) is validated when fitting
    (``n_features_in`` None); afterwards the fitted axis ``fitted_axis`` is
    used as it is and X must have ``n_features_in`` columns.
    """
    if sparse.issparse(X):
        raise TypeError(
            "X is a sparse matrix; sparse input is not supported: spectra are dense "
            "counts in every channel. Pass X.toarray()."
        )
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == 0:
        raise ValueError(
            f"X has 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 is "
            "required: pass spectra as rows of counts, one column per channel."
        )
    X = check_spectra(X)
    n_acq = len(acquisition_names(covariates))
    if n_features_in is not None and X.shape[1] != n_features_in:
        raise ValueError(
            f"X has {X.shape[1]} columns but this ZLPSubtractor was fitted on "
            f"{n_features_in} ({n_features_in - n_acq} channels plus "
            f"{n_acq} acquisition parameters); pass spectra on the same axis."
        )
    if n_acq and X.shape[1] <= n_acq:
        raise ValueError(
            f"covariates {tuple(covariates)} name {n_acq} acquisition parameters read "
            f"from the last columns of X, but X has only {X.shape[1]} columns; "
            "append them with np.hstack([spectra, parameters])."
        )
    spectra, acquisition = X[:, : X.shape[1] - n_acq], X[:, X.shape[1] - n_acq :]
    if fitted_axis is None:
        if n_acq and energy_axis is not None and np.size(energy_axis) == X.shape[1]:
            raise ValueError(
                f"covariates {tuple(covariates)} name {n_acq} acquisition parameter(s) "
                f"read from the last {n_acq} column(s) of X, but X has exactly as many "
                f"columns ({X.shape[1]}) as energy_axis has channels: the acquisition "
                "parameters are missing. Append them with np.hstack([spectra, "
                "parameters]), or drop them from covariates."
            )
        energy = check_energy_axis(energy_axis, spectra.shape[1])
    else:
        energy = fitted_axis
    check_zlp_at_zero(spectra, energy)
    return Spectra(spectra, acquisition, energy, X.shape[1])


def covariate_table(data, covariates):
    """Network inputs after the energy loss, one row per spectrum."""
    spectra, acquisition = data.spectra, data.acquisition
    columns, n = [], 0
    for name in covariates:
        if name == LOG_TOTAL:
            # one reduction per spectrum: the sum of a row never depends on its batch
            total = np.array([row.sum() for row in spectra])
            if np.any(total <= 0):
                raise ValueError(
                    f"{int(np.sum(total <= 0))} spectra have a total of <= 0 counts, "
                    "so ln N_tot is undefined; remove empty spectra or drop "
                    "'log_total' from covariates."
                )
            columns.append(np.log(total))
        else:
            columns.append(acquisition[:, n])
            n += 1
    return np.column_stack(columns) if columns else np.empty((spectra.shape[0], 0))


def normalisation(spectra, energy, fwhm, normalize):
    """Per-spectrum divisor of the modelled intensity (``fwhm``: zlp_fwhm's)."""
    if normalize is None:
        return np.ones(spectra.shape[0])
    if normalize == "total":
        return np.array([row.sum() for row in spectra])
    fwhm = np.where(np.isfinite(fwhm), fwhm, 2 * (energy[1] - energy[0]))
    core = np.array(
        [s[np.abs(energy) <= w].sum() for s, w in zip(spectra, fwhm, strict=True)]
    )
    if np.any(core <= 0):
        raise ValueError(
            "a spectrum has no positive counts within one FWHM of 0 eV; check "
            "that the spectra are aligned and not empty, or use normalize=None."
        )
    return core
